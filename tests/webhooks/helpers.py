"""Small helpers shared by the webhook tests."""

import time
from pathlib import Path
from typing import Any

from sitin.config import Settings
from sitin.context import AppContext
from sitin.core.states import EventSubType, EventType
from sitin.core.triggers import WEBHOOK_TRIGGERS, Trigger
from sitin.db import capture
from sitin.db.bot_events import record_event
from sitin.webhooks import envelope
from sitin.webhooks.dispatch import fire

ALL_TRIGGERS = list(WEBHOOK_TRIGGERS)
TIMEOUT_S = 3.0  # the delivery timeout in tests (10 s in production)


def advance(ctx: AppContext, bot_id: str, *events: EventType, metadata=None) -> None:
    for event in events:
        with ctx.db.write() as tx:
            sub_type = EventSubType.USER_REQUESTED if event == EventType.LEAVE_REQUESTED else None
            record_event(tx, bot_id=bot_id, event=event, sub_type=sub_type, metadata=metadata)


JOIN = (EventType.JOINED_MEETING, EventType.RECORDING_PERMISSION_GRANTED)
END = (EventType.LEAVE_REQUESTED, EventType.LEFT_MEETING, EventType.POST_PROCESSING_COMPLETED)


def fire_transcript(ctx: AppContext, bot_id: str, text: str) -> list[str]:
    """What the runtime does when an utterance is transcribed: the capture write and its webhook
    in one transaction."""
    with ctx.db.write() as tx:
        person = capture.upsert_participant(
            tx, bot_id=bot_id, uuid="uuid-alice", name="Alice", is_host=True
        )
        capture.add_utterance(
            tx,
            bot_id=bot_id,
            participant_id=person,
            timestamp_ms=1000,
            duration_ms=800,
            transcription={"transcript": text, "words": []},
        )
        data = envelope.transcript_data(
            speaker_name="Alice",
            speaker_uuid="uuid-alice",
            speaker_user_uuid=None,
            speaker_is_host=True,
            timestamp_ms=1000,
            duration_ms=800,
            transcript=text,
        )
        return fire(tx, bot_id=bot_id, trigger=Trigger.TRANSCRIPT_UPDATE, data=data)


def deliveries_api(client, project, bot_id: str) -> list[dict[str, Any]]:
    response = client.get(f"/api/v1/bots/{bot_id}/webhook_deliveries", headers=project.headers)
    assert response.status_code == 200, response.text
    return response.json()["results"]


def wait_settled(client, project, bot_id: str, count: int, timeout: float = 20.0) -> list[dict]:
    """The bot's deliveries once ``count`` exist and none is pending any more."""
    deadline = time.monotonic() + timeout
    while True:
        results = deliveries_api(client, project, bot_id)
        if len(results) >= count and all(r["status"] != "pending" for r in results):
            return results
        if time.monotonic() > deadline:
            raise AssertionError(f"deliveries did not settle: {results}")
        time.sleep(0.05)


def webhook_settings(tmp_path: Path, database_url: str, **overrides) -> Settings:
    values = {
        "data_dir": tmp_path / "data",
        "database_url": database_url,
        "secret_key": "test-secret",
        "allow_insecure_webhooks": True,  # the receiver is http://127.0.0.1
        "webhook_timeout_seconds": TIMEOUT_S,
        "webhook_retry_base_delay": 0.05,
        **overrides,
    }
    return Settings(**values)
