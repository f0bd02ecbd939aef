"""Bot services run in the caller's transaction: what they write, and what they queue for after
the commit, goes with it — on both databases."""

import pytest
from sqlalchemy import select

from sitin.core.errors import BotNotFound, RuleError
from sitin.db.tables import bots
from sitin.services import bots as bot_service
from support.projects import create_project
from support.settings import ROOM_URL


class Abandoned(Exception):
    """The route failed after the service returned: its transaction rolls back."""


def _bot_ids(ctx, project_id: str) -> list[str]:
    with ctx.db.read() as conn:
        return list(conn.scalars(select(bots.c.id).where(bots.c.project_id == project_id)))


def test_a_bot_created_in_a_transaction_that_rolls_back_never_existed_nor_launched(ctx):
    project = create_project(ctx, "acme")
    spec = bot_service.validate_new_bot(ctx, {"meeting_url": ROOM_URL, "bot_name": "Notes"})
    with pytest.raises(Abandoned), ctx.db.write() as tx:
        created = bot_service.create_bot(ctx, tx, project_id=project.id, spec=spec)
        assert created.row["state"] == "joining"  # the caller sees its own change at once
        raise Abandoned
    assert _bot_ids(ctx, project.id) == []
    assert ctx.bots.launched == []  # nothing queued for a transaction that rolled back

    with ctx.db.write() as tx:
        kept = bot_service.create_bot(ctx, tx, project_id=project.id, spec=spec).row["id"]
        assert ctx.bots.launched == []  # launched after the commit, not before
    assert ctx.bots.launched == [kept] and _bot_ids(ctx, project.id) == [kept]


def test_a_provider_without_a_key_is_refused_inside_the_creating_transaction(ctx):
    project = create_project(ctx, "acme")
    body = {
        "meeting_url": ROOM_URL,
        "bot_name": "Notes",
        "transcription_settings": {"openai": {"model": "whisper-1"}},
    }
    spec = bot_service.validate_new_bot(ctx, body)
    with pytest.raises(RuleError) as refused, ctx.db.write() as tx:
        bot_service.create_bot(ctx, tx, project_id=project.id, spec=spec)
    assert "openai needs an API key" in str(refused.value)
    assert "sitin credentials set" in str(refused.value)
    assert _bot_ids(ctx, project.id) == [] and ctx.bots.launched == []


def test_another_projects_bot_is_not_found_and_a_bot_not_in_a_meeting_cannot_chat(ctx):
    owner, other = create_project(ctx, "owner"), create_project(ctx, "other")
    spec = bot_service.validate_new_bot(ctx, {"meeting_url": ROOM_URL, "bot_name": "Notes"})
    with ctx.db.write() as tx:
        bot_id = bot_service.create_bot(ctx, tx, project_id=owner.id, spec=spec).row["id"]
    with ctx.db.read() as conn, pytest.raises(BotNotFound):
        bot_service.require_bot(conn, other.id, bot_id)
    with pytest.raises(RuleError) as refused, ctx.db.write() as tx:
        bot_service.send_chat_message(
            ctx, tx, project_id=owner.id, bot_id=bot_id, body={"message": "hello"}
        )
    assert "Bot is in state joining and cannot send chat messages" in str(refused.value)
    assert ctx.bots.woken == []
