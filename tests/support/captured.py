"""Build bots that have been through a meeting: captured rows written through the fence, blobs in
the store, and the bot moved to ``ended`` along the legal path of the state machine."""

from dataclasses import dataclass

from sqlalchemy import insert

from sitin.context import AppContext
from sitin.core.states import EventSubType, EventType
from sitin.core.timefmt import utcnow
from sitin.db import capture
from sitin.db.bot_events import record_event
from sitin.db.tables import webhook_delivery_attempts, webhook_subscriptions
from sitin.encryption.blobs import sealed_size

JOIN_PATH = (EventType.JOINED_MEETING, EventType.RECORDING_PERMISSION_GRANTED)
END_PATH = (EventType.LEAVE_REQUESTED, EventType.LEFT_MEETING, EventType.POST_PROCESSING_COMPLETED)


def advance(ctx: AppContext, bot_id: str, *events: EventType) -> None:
    for event in events:
        with ctx.db.write() as tx:
            sub_type = EventSubType.USER_REQUESTED if event == EventType.LEAVE_REQUESTED else None
            record_event(tx, bot_id=bot_id, event=event, sub_type=sub_type)


@dataclass
class Captured:
    participants: int
    utterances: int
    chat_messages: int
    blobs: int
    blob_bytes: int  # what the store holds: sealed blobs are a header and a tag per chunk longer


def _put(ctx: AppContext, key: str, data: bytes) -> int:
    """Store ``data`` and return the bytes it occupies in the store (its sealed size)."""
    assert ctx.blobs.put_bytes(key, data) == len(data)  # callers are told the plaintext size
    return sealed_size(len(data))


def capture_meeting(
    ctx: AppContext,
    bot_id: str,
    *,
    utterances: int = 6,
    participants: int = 2,
    blobs: int = 3,
    blob_size: int = 64,
    project_id: str | None = None,
) -> Captured:
    """Write a small meeting's worth of data for a joined bot (rows and blobs)."""
    with ctx.db.write() as tx:
        people = [
            capture.upsert_participant(
                tx, bot_id=bot_id, uuid=f"uuid-{i}", name=f"Person {i}", is_host=i == 0
            )
            for i in range(participants)
        ]
        for i, person in enumerate(people):
            capture.add_participant_event(
                tx, bot_id=bot_id, participant_id=person, event_type="join", timestamp_ms=1000 + i
            )
            capture.add_chat_message(
                tx,
                bot_id=bot_id,
                participant_id=person,
                text=f"secret plan {i}",
                timestamp_ms=2000 + i,
            )
        for i in range(utterances):
            capture.add_utterance(
                tx,
                bot_id=bot_id,
                participant_id=people[i % participants],
                timestamp_ms=3000 + i * 1000,
                duration_ms=900,
                transcription={"transcript": f"confidential sentence {i}"},
            )
        capture.add_log_entry(
            tx, bot_id=bot_id, level="info", entry_type="chat", message="Person 0 said hello"
        )
        capture.add_chat_message_request(
            tx, bot_id=bot_id, to="everyone", to_user_uuid=None, message="bot says hi"
        )
        # asked to speak but never took it (the bot ended first)
        capture.add_output_request(
            tx, bot_id=bot_id, kind="speech", text="confidential words to say", settings={}
        )
        capture.add_output_request(
            tx, bot_id=bot_id, kind="audio", container="wav", data=b"RIFF confidential audio"
        )
    total = 0
    prefix = capture.blob_prefix(bot_id)
    for i in range(blobs):
        total += _put(ctx, f"{prefix}audio/segment-{i}.pcm", b"x" * blob_size)
    if blobs:
        with ctx.db.write() as tx:
            capture.add_audio_segment(
                tx,
                bot_id=bot_id,
                participant_id=people[0],
                blob_key=f"{prefix}audio/segment-0.pcm",
                blob_size=blob_size,
                sample_rate=16000,
                timestamp_ms=3000,
                duration_ms=900,
            )
            total += _put(ctx, f"{prefix}recording.mp3", b"ID3" + b"r" * 100)
            capture.set_recording_file(
                tx,
                bot_id=bot_id,
                blob_key=f"{prefix}recording.mp3",
                blob_size=103,
                first_buffer_timestamp_ms=1000,
            )
    if project_id is not None:
        _webhook_attempts(ctx, bot_id, project_id)
    return Captured(participants, utterances, participants, blobs + (1 if blobs else 0), total)


def _webhook_attempts(ctx: AppContext, bot_id: str, project_id: str) -> None:
    """A transcript delivery (content) and a state_change delivery (kept, scrubbed)."""
    with ctx.db.write() as tx:
        tx.conn.execute(
            insert(webhook_subscriptions).values(
                id="webhook_test0000000000",
                project_id=project_id,
                bot_id=bot_id,
                url="https://example.invalid/hook",
                triggers=["transcript.update"],
                is_active=True,
                created_at=utcnow(),
            )
        )
        for key, trigger, data in (
            ("att-content", "transcript.update", {"transcription": {"transcript": "secret"}}),
            (
                "att-state",
                "bot.state_change",
                {"event_type": "leave_requested", "event_metadata": {"remover_name": "Person 0"}},
            ),
        ):
            tx.conn.execute(
                insert(webhook_delivery_attempts).values(
                    id=key,
                    subscription_id="webhook_test0000000000",
                    bot_id=bot_id,
                    trigger=trigger,
                    payload={"bot_id": bot_id, "trigger": trigger, "data": data},
                    status="success",
                    attempt_count=1,
                    attempts=[{"status_code": 200, "response_excerpt": "echo: secret"}],
                    created_at=utcnow(),
                )
            )


def ended_bot_with_data(ctx: AppContext, bot_id: str, **kwargs) -> Captured:
    advance(ctx, bot_id, *JOIN_PATH)
    captured = capture_meeting(ctx, bot_id, **kwargs)
    advance(ctx, bot_id, *END_PATH)
    return captured
