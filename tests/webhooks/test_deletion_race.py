"""delete_data while a transcript delivery is in flight: afterwards no attempt row carrying meeting
content exists, the late completion does not re-create it, and the kept state_change deliveries are
scrubbed. Run through the fence function alone and through the real delete_data endpoint."""

import logging
import threading

import pytest
from sqlalchemy import select

from sitin.bootstrap import build_worker
from sitin.core.states import EventType
from sitin.db.capture import DataDeleted
from sitin.db.tables import webhook_delivery_attempts
from sitin.deletion import purge
from webhooks.helpers import JOIN, advance, fire_transcript
from webhooks.receiver import Reply

TRIGGERS = ["bot.state_change", "transcript.update"]


def attempt_rows(ctx, bot_id: str) -> list:
    with ctx.db.read() as conn:
        return conn.execute(
            select(
                webhook_delivery_attempts.c.trigger,
                webhook_delivery_attempts.c.payload,
                webhook_delivery_attempts.c.attempts,
            ).where(webhook_delivery_attempts.c.bot_id == bot_id)
        ).all()


def delete_with_the_purge_function(ctx, client, project, bot_id: str) -> None:
    """What delete_data and the retention job run, without HTTP."""
    assert purge.delete_bot_data(ctx, bot_id=bot_id, project_id=project.id).fenced


def delete_through_the_api(ctx, client, project, bot_id: str) -> None:
    response = client.post(f"/api/v1/bots/{bot_id}/delete_data", headers=project.headers)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("delete", [delete_with_the_purge_function, delete_through_the_api])
def test_in_flight_content_delivery_is_not_resurrected(
    delete, ctx, client, project, new_bot, receiver, caplog
):
    caplog.set_level(logging.INFO, logger="sitin.webhooks.delivery")
    release = threading.Event()
    receiver.plan = lambda env, n: (
        Reply(200, b"echo: the quarterly numbers", hold=release)
        if env["trigger"] == "transcript.update"
        else Reply(200, b"echo: " + env["data"]["new_state"].encode())
    )
    bot = new_bot(webhooks=[{"url": receiver.url, "triggers": TRIGGERS}])
    bot_id = bot["id"]
    worker = build_worker(ctx, threads=4, periodic=False)
    worker.start()
    try:
        advance(ctx, bot_id, *JOIN)
        advance(
            ctx,
            bot_id,
            EventType.LEAVE_REQUESTED,
            metadata={"remover_name": "Alice", "remover_uuid": "uuid-alice"},
        )
        fire_transcript(ctx, bot_id, "the quarterly numbers")
        receiver.wait_for(
            lambda: any(e["trigger"] == "transcript.update" for e in receiver.arrivals)
        )
        advance(ctx, bot_id, EventType.LEFT_MEETING, EventType.POST_PROCESSING_COMPLETED)
        receiver.wait_for(lambda: any(d.data["new_state"] == "ended" for d in receiver.unique()))

        delete(ctx, client, project, bot_id)

        assert {row.trigger for row in attempt_rows(ctx, bot_id)} == {"bot.state_change"}
        with pytest.raises(DataDeleted):
            fire_transcript(ctx, bot_id, "too late")
        deleted = receiver.wait_count(7)[-1]
        assert deleted.data["new_state"] == "data_deleted"
        assert "deleted" in deleted.data["event_metadata"]  # the deletion receipt
        assert receiver.verified(deleted)
    finally:
        release.set()  # the held transcript delivery completes now, after the deletion
        worker.stop()  # waits for it to finish recording its outcome

    rows = attempt_rows(ctx, bot_id)
    assert {row.trigger for row in rows} == {"bot.state_change"}
    assert len(rows) == 7
    for row in rows:
        assert "remover" not in str(row.payload), row.payload
        assert all("response_excerpt" not in entry for entry in row.attempts), row.attempts
    assert any("deleted while in flight" in r.getMessage() for r in caplog.records)
    assert "quarterly" not in caplog.text
