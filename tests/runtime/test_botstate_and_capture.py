"""The runtime's database side without a meeting: recording state changes and commands
(runtime/botstate.py), and the capture stage (CaptureWriter) fed frames directly. Both databases."""

from __future__ import annotations

import numpy as np
from sqlalchemy import insert, select

from sitin.core.states import BotState, EventSubType, EventType
from sitin.core.timefmt import utcnow
from sitin.db import sealing
from sitin.db.tables import audio_segments, bot_commands, bots, utterances
from sitin.runtime import botstate
from sitin.runtime.capture_writer import CaptureWriter
from sitin.runtime.frames import (
    ChatReceived,
    ParticipantJoined,
    ParticipantLeft,
    SpeechSegment,
    SpeechStart,
    SpeechStop,
    Utterance,
)
from sitin.transcription.base import Transcription, TranscriptionFailed
from support.pipeline import feed

T0 = 1_700_000_000_000


def joined_bot(ctx, new_bot) -> str:
    bot_id = new_bot()["id"]
    assert botstate.record(ctx, bot_id, EventType.JOINED_MEETING) == BotState.JOINED_NOT_RECORDING
    granted = botstate.record(ctx, bot_id, EventType.RECORDING_PERMISSION_GRANTED)
    assert granted == BotState.JOINED_RECORDING
    return bot_id


def test_recording_events_moves_the_bot_and_refuses_what_the_table_forbids(ctx, new_bot):
    bot_id = new_bot()["id"]
    assert botstate.current_state(ctx, bot_id) == BotState.JOINING
    assert botstate.record(ctx, bot_id, EventType.POST_PROCESSING_COMPLETED) is None  # not allowed
    assert botstate.current_state(ctx, bot_id) == BotState.JOINING
    assert botstate.record(ctx, bot_id, EventType.JOINED_MEETING) == BotState.JOINED_NOT_RECORDING
    assert (
        botstate.record(ctx, bot_id, EventType.COULD_NOT_JOIN, EventSubType.MEETING_NOT_FOUND)
        is None
    )
    left = botstate.record(ctx, bot_id, EventType.LEAVE_REQUESTED, EventSubType.AUTO_LEAVE_SILENCE)
    assert left == BotState.LEAVING
    assert botstate.current_state(ctx, "bot_does_not_exist") is None


def test_heartbeat_marks_the_bot_alive_and_reports_its_state(ctx, new_bot):
    bot_id = joined_bot(ctx, new_bot)
    assert botstate.heartbeat(ctx, bot_id) == BotState.JOINED_RECORDING
    with ctx.db.read() as conn:
        first, last = conn.execute(
            select(bots.c.first_heartbeat_at, bots.c.last_heartbeat_at).where(bots.c.id == bot_id)
        ).one()
    assert first is not None and last >= first
    assert botstate.heartbeat(ctx, bot_id) == BotState.JOINED_RECORDING
    with ctx.db.read() as conn:
        again = conn.execute(
            select(bots.c.first_heartbeat_at, bots.c.last_heartbeat_at).where(bots.c.id == bot_id)
        ).one()
    assert again[0] == first and again[1] >= last
    assert botstate.heartbeat(ctx, "bot_does_not_exist") is None


def test_commands_come_oldest_first_and_only_once(ctx, new_bot):
    bot_id = joined_bot(ctx, new_bot)
    assert botstate.take_commands(ctx, bot_id) == []
    with ctx.db.write() as tx:
        for command in ("pause_recording", "resume_recording", "leave"):
            tx.conn.execute(
                insert(bot_commands).values(bot_id=bot_id, command=command, created_at=utcnow())
            )
    assert botstate.take_commands(ctx, bot_id) == ["pause_recording", "resume_recording", "leave"]
    assert botstate.take_commands(ctx, bot_id) == []


def test_capture_writer_stores_what_the_meeting_said(ctx, new_bot, client, project):
    bot_id = joined_bot(ctx, new_bot)
    hostile = "../../another_bot"  # the meeting's uuid: data, never a path
    alice = ParticipantJoined(hostile, "Alice", is_host=True, timestamp_ms=T0, user_uuid="u-1")
    bob = ParticipantJoined("bob", "Bob", is_host=False, timestamp_ms=T0 + 5)
    speech = SpeechSegment(hostile, T0 + 100, np.full(16_000, 0.1, np.float32))
    refused = SpeechSegment("bob", T0 + 900, np.zeros(8_000, np.float32))
    frames = [
        alice,
        bob,
        SpeechStart(hostile, T0 + 100),
        ChatReceived(hostile, "agenda is in the doc", T0 + 200),
        ChatReceived("stranger", "never joined", T0 + 250),  # unknown sender: dropped
        SpeechStop(hostile, T0 + 1100),
        Utterance(speech, Transcription("hello everyone")),
        Utterance(refused, None, TranscriptionFailed("quota exceeded", retryable=False)),
        ParticipantLeft("bob", T0 + 2000),
    ]
    writer = CaptureWriter(ctx, bot_id, speech_events=True, keep_audio=True)
    assert feed(writer, frames=frames) == []  # the last stage: nothing moves on
    assert not writer.fenced

    def get(path: str):
        response = client.get(f"/api/v1/bots/{bot_id}/{path}", headers=project.headers)
        assert response.status_code == 200, response.text
        return response.json()

    people = {p["name"]: p for p in get("participants")["results"]}
    assert people["Alice"]["uuid"] == hostile and people["Alice"]["is_host"] is True
    events = [
        (e["participant_name"], e["event_type"]) for e in get("participant_events")["results"]
    ]
    assert events == [
        ("Alice", "join"),
        ("Bob", "join"),
        ("Alice", "speech_start"),
        ("Alice", "speech_stop"),
        ("Bob", "leave"),
    ]
    chat = get("chat_messages")["results"]
    assert [(m["sender_uuid"], m["text"]) for m in chat] == [(hostile, "agenda is in the doc")]
    transcript = get("transcript")  # what was transcribed; a failed segment is kept, marked
    assert [(u["speaker_uuid"], u["timestamp_ms"]) for u in transcript] == [(hostile, T0 + 100)]
    assert transcript[0]["transcription"]["transcript"] == "hello everyone"
    with ctx.db.read() as conn:
        sealed = conn.execute(
            select(utterances.c.failure_data).where(utterances.c.bot_id == bot_id)
        ).scalars()
        opener = sealing.Opener(bot_id, ctx.keys.key_for_reading(bot_id))
        failures = [opener.json(value, sealing.UTTERANCE_FAILURE) for value in sealed]
        assert sorted(failures, key=bool) == [None, {"reason": "quota exceeded"}]

    with ctx.db.read() as conn:
        kept = conn.execute(
            select(audio_segments.c.blob_key, audio_segments.c.participant_id).where(
                audio_segments.c.bot_id == bot_id
            )
        ).all()
    stored = [blob.key for blob in ctx.blobs.list("bots/")]
    assert len(kept) == 2 and sorted(key for key, _ in kept) == sorted(stored)
    for key, participant_id in kept:
        assert key.startswith(f"bots/{bot_id}/audio/{participant_id}/") and ".." not in key
