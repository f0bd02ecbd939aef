"""Webhook subscription services, in the caller's transaction: a URL is subscribed once per
project, another project's subscription is not found, a private target is refused naming the
operator's setting."""

import pytest

from sitin.core.errors import FieldErrors, WebhookNotFound
from sitin.services import webhooks as webhook_service
from support.projects import create_project

HOOK = {"url": "https://hooks.example.com/in", "triggers": ["bot.state_change"]}


def test_a_url_is_subscribed_once_per_project_and_is_private_to_it(ctx):
    owner, other = create_project(ctx, "owner"), create_project(ctx, "other")
    with ctx.db.write() as tx:
        created = webhook_service.create_subscription(
            tx, ctx.outbound, project_id=owner.id, body=HOOK
        )
    with pytest.raises(FieldErrors) as taken, ctx.db.write() as tx:
        webhook_service.create_subscription(tx, ctx.outbound, project_id=owner.id, body=HOOK)
    assert taken.value.errors["url"] == [f"URL already subscribed for this project: {HOOK['url']}"]
    with ctx.db.write() as tx:  # the same URL in another project is that project's own
        webhook_service.create_subscription(tx, ctx.outbound, project_id=other.id, body=HOOK)
    with ctx.db.read() as conn, pytest.raises(WebhookNotFound):
        webhook_service.get_subscription(conn, project_id=other.id, webhook_id=created["id"])


def test_a_private_target_is_refused_naming_the_setting_that_allows_it(ctx):
    project = create_project(ctx, "acme")
    body = {**HOOK, "url": "https://10.0.0.5/in"}
    with pytest.raises(FieldErrors) as refused, ctx.db.write() as tx:
        webhook_service.create_subscription(tx, ctx.outbound, project_id=project.id, body=body)
    [message] = refused.value.errors["url"]
    assert "SITIN_OUTBOUND_HOSTS" in message
    with ctx.db.read() as conn:
        page = webhook_service.list_subscriptions(
            conn, project_id=project.id, position=None, limit=10
        )
    assert list(page.rows) == []
