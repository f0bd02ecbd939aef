"""Project-level webhook subscriptions behind the API and the CLI: validate, then create, change
or delete one in the transaction the caller opened and passes in.

Bot-level subscriptions are created with the bot (``services.bots.create_bot``) and live as long
as it does; these operations only manage the project-level ones (``bot_id`` null). Firing and
delivering webhooks is the delivery subsystem's (``sitin.webhooks``).
"""

from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import RowMapping

from sitin.core.errors import FieldErrors, WebhookNotFound
from sitin.core.triggers import WEBHOOK_TRIGGERS
from sitin.db import webhook_subscriptions
from sitin.db.engine import Tx
from sitin.db.pagination import Page, Position
from sitin.outbound import OutboundGuard, Purpose, RefusedTarget


def validate_subscription(body: Any, *, guard: OutboundGuard) -> dict[str, Any]:
    """``{"url", "triggers", "is_active"?}`` → validated values; raises FieldErrors."""
    if not isinstance(body, dict):
        raise FieldErrors({"non_field_errors": ["Expected an object with url and triggers"]})
    unknown = sorted(set(body) - {"url", "triggers", "is_active"})
    if unknown:
        raise FieldErrors(
            {
                "non_field_errors": [
                    f"Unexpected attribute: {unknown[0]}. Allowed: url, triggers, is_active"
                ]
            }
        )
    url, triggers, active = body.get("url"), body.get("triggers"), body.get("is_active", True)
    if not isinstance(url, str) or not url.strip():
        raise FieldErrors({"url": ["This field is required."]})
    if len(url) > 2048:
        raise FieldErrors({"url": ["Ensure this field has no more than 2048 characters."]})
    try:
        guard.check_url(url, Purpose.WEBHOOK)
    except RefusedTarget as exc:
        raise FieldErrors({"url": [str(exc)]}) from None
    if not isinstance(triggers, list) or not triggers:
        raise FieldErrors({"triggers": ["triggers must be a non-empty list"]})
    for trigger in triggers:
        if trigger not in WEBHOOK_TRIGGERS:
            raise FieldErrors(
                {
                    "triggers": [
                        f"Invalid webhook trigger type: {trigger}. "
                        f"Valid triggers: {', '.join(WEBHOOK_TRIGGERS)}"
                    ]
                }
            )
    if len(set(triggers)) != len(triggers):
        raise FieldErrors({"triggers": ["triggers must be unique"]})
    if not isinstance(active, bool):
        raise FieldErrors({"is_active": ["Must be a valid boolean."]})
    return {"url": url, "triggers": list(triggers), "is_active": active}


def create_subscription(tx: Tx, guard: OutboundGuard, *, project_id: str, body: Any) -> RowMapping:
    values = validate_subscription(body, guard=guard)
    _require_unused_url(tx.conn, project_id, values["url"])
    webhook_id = webhook_subscriptions.add(tx.conn, project_id=project_id, bot_id=None, **values)
    return get_subscription(tx.conn, project_id=project_id, webhook_id=webhook_id)


def get_subscription(conn: Connection, *, project_id: str, webhook_id: str) -> RowMapping:
    """The project-level subscription; WebhookNotFound (the API's 404) otherwise."""
    row = webhook_subscriptions.get_project_level(
        conn, project_id=project_id, webhook_id=webhook_id
    )
    if row is None:
        raise WebhookNotFound(webhook_id)
    return row


def list_subscriptions(
    conn: Connection, *, project_id: str, position: Position | None, limit: int
) -> Page:
    return webhook_subscriptions.project_level_page(
        conn, project_id=project_id, position=position, limit=limit
    )


def update_subscription(
    tx: Tx, guard: OutboundGuard, *, project_id: str, webhook_id: str, body: Any
) -> RowMapping:
    """Change any of url, triggers, is_active (validated as at creation); an inactive
    subscription gets no new deliveries. Raises WebhookNotFound or FieldErrors."""
    current = get_subscription(tx.conn, project_id=project_id, webhook_id=webhook_id)
    if not isinstance(body, dict) or not body:
        raise FieldErrors(
            {"non_field_errors": ["Expected an object with url, triggers and/or is_active"]}
        )
    merged = {key: current[key] for key in ("url", "triggers", "is_active")}
    values = validate_subscription({**merged, **body}, guard=guard)
    if values["url"] != current["url"]:
        _require_unused_url(tx.conn, project_id, values["url"])
    webhook_subscriptions.update_fields(tx.conn, webhook_id=webhook_id, **values)
    return get_subscription(tx.conn, project_id=project_id, webhook_id=webhook_id)


def _require_unused_url(conn: Connection, project_id: str, url: str) -> None:
    if webhook_subscriptions.project_url_taken(conn, project_id=project_id, url=url):
        raise FieldErrors({"url": [f"URL already subscribed for this project: {url}"]})


def delete_subscription(tx: Tx, *, project_id: str, webhook_id: str) -> None:
    """Delete the subscription; its pending deliveries go with it (they are never sent)."""
    get_subscription(tx.conn, project_id=project_id, webhook_id=webhook_id)
    webhook_subscriptions.delete_subscription(tx.conn, webhook_id=webhook_id)
