"""A participant named in an event's metadata (Attendee's ``remover_name``), a receiver that
echoes what it was sent, a chat message that failed for a named participant: none of it is
stored in plaintext (byte scan of every file on SQLite, every column through SQL on PostgreSQL),
while the webhook and the API show it exactly as before; delete_data leaves the kept state_change
delivery plain and scrubbed."""

import json
from pathlib import Path

from sqlalchemy import select

from sitin.core.states import EventSubType, EventType
from sitin.db import capture
from sitin.db.bot_events import record_event
from sitin.db.tables import metadata
from support.plaintext import hits_in, plaintext_hits
from webhooks.helpers import JOIN, advance, wait_settled
from webhooks.receiver import Reply

NAME = "Zebediah Quartermaine"
UUID = "uuid-zebediah-0001"
NEEDLES = (NAME, UUID)


def stored_hits(ctx) -> list[str]:
    if ctx.db.is_sqlite:  # the database and its WAL, the queue, the key store: every file
        database = Path(ctx.db.write_engine.url.database)
        hits = plaintext_hits(ctx.settings.data_dir, NEEDLES)
        for path in database.parent.glob(database.name + "*"):
            hits += [f"{path.name}: {hit}" for hit in hits_in(path.read_bytes(), NEEDLES)]
        return hits
    hits = []
    with ctx.db.read() as conn:
        for table in metadata.sorted_tables:
            rows = b"\n".join(repr(tuple(r)).encode() for r in conn.execute(select(table)))
            hits += [f"{table.name}: {hit}" for hit in hits_in(rows, NEEDLES)]
    return hits


def test_named_participants_in_events_echoes_and_failures_are_sealed(
    ctx, client, project, new_bot, receiver, worker
):
    receiver.plan = lambda envelope, n: Reply(200, b"echo: " + json.dumps(envelope).encode())
    bot_id = new_bot(webhooks=[{"url": receiver.url, "triggers": ["bot.state_change"]}])["id"]
    advance(ctx, bot_id, *JOIN)
    with ctx.db.write() as tx:
        request = capture.add_chat_message_request(
            tx, bot_id=bot_id, to="specific_user", to_user_uuid=UUID, message="hello"
        )
        capture.mark_chat_message_request(
            tx,
            bot_id=bot_id,
            request_id=request,
            sent=False,
            failure=f"participant {UUID} is not in the room's chat",
        )
    removed_by = {"remover_name": NAME, "remover_uuid": UUID, "remover_is_host": True}
    with ctx.db.write() as tx:
        record_event(
            tx,
            bot_id=bot_id,
            event=EventType.LEAVE_REQUESTED,
            sub_type=EventSubType.USER_REQUESTED,
            metadata=removed_by,
        )

    # The receiver gets the metadata as it was given, signed as always.
    leave = receiver.wait_for(
        lambda: any(d.data["event_type"] == "leave_requested" for d in receiver.unique())
    )
    (leave,) = [d for d in receiver.unique() if d.data["event_type"] == "leave_requested"]
    assert leave.data["event_metadata"] == removed_by
    assert receiver.verified(leave)
    # The API lists the same payload and the receiver's echo.
    listed = wait_settled(client, project, bot_id, 3)
    (row,) = [r for r in listed if r["payload"]["data"]["event_type"] == "leave_requested"]
    assert row["payload"] == leave.envelope
    assert NAME in row["attempts"][-1]["response_excerpt"]
    # Stored: nowhere in plaintext.
    assert stored_hits(ctx) == []

    advance(ctx, bot_id, EventType.LEFT_MEETING, EventType.POST_PROCESSING_COMPLETED)
    response = client.post(f"/api/v1/bots/{bot_id}/delete_data", headers=project.headers)
    assert response.status_code == 200, response.text
    kept = wait_settled(client, project, bot_id, 6)
    (row,) = [r for r in kept if r["payload"]["data"]["event_type"] == "leave_requested"]
    assert row["payload"]["data"]["event_metadata"] == {}  # scrubbed, still readable
    assert all("response_excerpt" not in entry for entry in row["attempts"])
    assert stored_hits(ctx) == []
