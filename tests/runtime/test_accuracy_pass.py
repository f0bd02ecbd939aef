"""The post-meeting accuracy pass on real speech through the real pipeline and the real model:
the realtime utterances are written during the meeting, then replaced at once by what the same
model hears in each participant's whole track; a pass that fails, or data deleted before it
commits, leaves the realtime transcript (or nothing at all) and no track on disk. Both databases.

Assertions are properties with margins (each speaker's WER within a bound of the same model
offline on the same audio, every speaker and turn present, no phrase twice), never exact output.
"""

from __future__ import annotations

import asyncio
import functools
import json
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from sitin.api.responses import JsonResponse
from sitin.core.states import BotState, EventSubType, EventType
from sitin.core.timefmt import utcnow
from sitin.datadir import bot_work_dir
from sitin.db import meeting_data, sealing
from sitin.db.capture import DataDeleted
from sitin.db.tables import bots, utterances, webhook_delivery_attempts
from sitin.encryption import DataKey
from sitin.runtime import botstate
from sitin.runtime.accuracy_pass import replace_transcript, run_accuracy_pass, transcribe_track
from sitin.runtime.capture_writer import CaptureWriter
from sitin.runtime.frames import AudioFrame, ParticipantJoined
from sitin.runtime.pipeline.speech import SpeakerSegmenters
from sitin.runtime.pipeline.stages import SegmentationStage, TrackStage, TranscriptionStage
from sitin.runtime.pipeline.tracks import ParticipantTracks
from sitin.runtime.supervision import reap_silent_bots
from sitin.transcription.base import SpeechSegment
from sitin.transcription.offline import OfflineWhisperProvider
from support.bot_logs import bot_logs
from support.pipeline import run_stages
from support.speech import normalise, word_error_rate
from transcription.real_speech import (
    Meeting,
    dropped_turns,
    meeting,
    reading,
    repeated_beyond_reference,
)
from transcription.speech_audio import frames_48k, to_48k_int16

ORIGIN_MS = 1_700_000_000_000
HOUR = timedelta(hours=1)
HOOK = {"url": "https://example.invalid/hook", "triggers": ["transcript.update"]}


@functools.cache
def provider() -> OfflineWhisperProvider:
    return OfflineWhisperProvider(cpu_threads=1)


@functools.cache
def offline_wer(scene: Meeting, speaker: str) -> float:
    """The same model on the speaker's clean whole track, as a program would run it offline."""
    heard = provider().transcribe_blocking(SpeechSegment(speaker, 0, scene.track(speaker)))
    return word_error_rate(scene.reference(speaker), heard.transcript)


def short_reading() -> Meeting:
    return Meeting("short", reading().turns[:2])


def bot_in_meeting(ctx, new_bot) -> str:
    bot_id = new_bot(transcription_settings={"offline": {"accuracy_pass": True}}, webhooks=[HOOK])[
        "id"
    ]
    botstate.record(ctx, bot_id, EventType.JOINED_MEETING)
    assert botstate.record(ctx, bot_id, EventType.RECORDING_PERMISSION_GRANTED) == (
        BotState.JOINED_RECORDING
    )
    return bot_id


def leave(ctx, bot_id: str) -> None:
    botstate.record(ctx, bot_id, EventType.LEAVE_REQUESTED, EventSubType.USER_REQUESTED)
    assert botstate.record(ctx, bot_id, EventType.LEFT_MEETING) == BotState.POST_PROCESSING


def hold_meeting(ctx, bot_id: str, scene: Meeting) -> ParticipantTracks:
    """The scene's participants join and speak (48 kHz frames in step, as a bot receives them)
    through the bot's real stages: tracks kept, segments transcribed live, utterances stored."""
    key = ctx.keys.key_for_writing(bot_id)
    tracks = ParticipantTracks(bot_work_dir(ctx.settings.data_dir, bot_id) / "tracks", key)
    people = [
        ParticipantJoined(uuid=f"uuid-{s}", name=s.title(), is_host=False, timestamp_ms=ORIGIN_MS)
        for s in scene.speakers
    ]
    streams = {s: list(frames_48k(to_48k_int16(scene.track(s)), 0)) for s in scene.speakers}
    audio = [
        AudioFrame(f"uuid-{speaker}", pcm, ORIGIN_MS + offset)
        for frames in zip(*streams.values(), strict=False)
        for speaker, (pcm, offset) in zip(streams, frames, strict=True)
    ]
    stages = [
        TrackStage(tracks, batch_s=0),
        SegmentationStage(SpeakerSegmenters(), batch_s=0),
        TranscriptionStage(provider(), work_dir=tracks.directory.parent / "backlog", seal_with=key),
        CaptureWriter(ctx, bot_id, speech_events=False, keep_audio=False),
    ]
    asyncio.run(run_stages(stages, [*people, *audio]))
    return tracks


def stored(ctx, bot_id: str) -> list[dict]:
    opener = sealing.Opener(bot_id, ctx.keys.key_for_reading(bot_id))
    with ctx.db.read() as conn:
        rows = conn.execute(
            select(
                utterances.c.participant_id,
                utterances.c.source,
                utterances.c.timestamp_ms,
                utterances.c.duration_ms,
                utterances.c.transcription,
            )
            .where(utterances.c.bot_id == bot_id)
            .order_by(utterances.c.timestamp_ms)
        ).all()
    return [
        {
            "participant_id": row.participant_id,
            "source": row.source,
            "timestamp_ms": row.timestamp_ms,
            "duration_ms": row.duration_ms,
            "transcription": opener.json(row.transcription, sealing.UTTERANCE_TRANSCRIPTION),
        }
        for row in rows
    ]


def transcript_updates(ctx, bot_id: str) -> list[dict]:
    opener = sealing.Opener(bot_id, ctx.keys.key_for_reading(bot_id))
    with ctx.db.read() as conn:
        payloads = conn.execute(
            select(webhook_delivery_attempts.c.payload).where(
                webhook_delivery_attempts.c.bot_id == bot_id,
                webhook_delivery_attempts.c.trigger == "transcript.update",
            )
        ).scalars()
        return [opener.json(p, sealing.WEBHOOK_PAYLOAD)["data"] for p in payloads]


def leftover_files(ctx, bot_id: str) -> list[str]:
    work = bot_work_dir(ctx.settings.data_dir, bot_id)
    return [str(p) for p in work.rglob("*") if p.is_file()] if work.exists() else []


def test_the_pass_replaces_the_realtime_transcript_with_the_whole_tracks_words_at_once(
    ctx, new_bot
):
    scene = meeting()
    bot_id = bot_in_meeting(ctx, new_bot)
    tracks = hold_meeting(ctx, bot_id, scene)
    realtime = stored(ctx, bot_id)
    assert {u["source"] for u in realtime} == {"realtime"}
    speaker_of = {u["participant_id"] for u in realtime}
    assert len(speaker_of) == len(scene.speakers)  # every speaker was heard live
    live_updates = len(transcript_updates(ctx, bot_id))
    assert live_updates > 0  # reported during the meeting, as always

    leave(ctx, bot_id)
    result = asyncio.run(run_accuracy_pass(ctx, bot_id, tracks, provider()))
    assert result is not None and result.removed == len(realtime)
    assert botstate.record(ctx, bot_id, EventType.POST_PROCESSING_COMPLETED) == BotState.ENDED

    with ctx.db.read() as conn:  # as GET /transcript lists it (and renders it)
        rows = meeting_data.transcript(conn, bot_id=bot_id, key=ctx.keys.key_for_reading(bot_id))
    transcript = json.loads(JsonResponse(rows).body)
    after = stored(ctx, bot_id)
    assert {u["source"] for u in after} == {"accuracy_pass"} and len(after) == result.utterances
    for speaker in scene.speakers:
        theirs = [u for u in transcript if u["speaker_uuid"] == f"uuid-{speaker}"]
        assert theirs, f"{speaker}: nothing after the pass"
        assert {u["speaker_name"] for u in theirs} == {speaker.title()}
        text = " ".join(u["transcription"]["transcript"] for u in theirs)
        reference = scene.reference(speaker)
        wer = word_error_rate(reference, text)
        # margin: two words of the shortest speaker's reference (21 words), for kernel differences
        assert wer <= offline_wer(scene, speaker) + 0.1, (speaker, text)
        assert repeated_beyond_reference(normalise(text), normalise(reference)) == 0, text
        # on the meeting's clock: every turn has words of its speaker in it, none elsewhere
        words = [
            ((u["timestamp_ms"] - ORIGIN_MS) / 1000 + w["start"], w["word"])
            for u in theirs
            for w in u["transcription"]["words"]
        ]
        assert dropped_turns(scene, speaker, words) == 0, text
        spans = [t.speech() for t in scene.turns if t.speaker == speaker]
        for at, word in words:
            assert any(begin - 1.0 <= at <= end + 1.0 for begin, end in spans), (speaker, word)

    updates = transcript_updates(ctx, bot_id)
    passed = updates[live_updates:]
    assert len(passed) == len([u for u in after if u["transcription"]["transcript"]])
    assert {u["speaker_uuid"] for u in passed} == {f"uuid-{s}" for s in scene.speakers}
    assert sorted(u["timestamp_ms"] for u in passed) == [u["timestamp_ms"] for u in transcript]

    entries = [e for e in bot_logs(ctx, bot_id) if e.entry_type == "accuracy_pass"]
    assert entries[0].message.startswith("accuracy pass started: 4 participants")
    assert sum("transcribed" in e.message for e in entries) == 4
    assert entries[-1].message.startswith(f"accuracy pass done: {len(realtime)} realtime")
    assert leftover_files(ctx, bot_id) == []


def test_a_pass_that_fails_keeps_the_realtime_transcript_and_says_why(ctx, new_bot, tmp_path):
    bot_id = bot_in_meeting(ctx, new_bot)
    tracks = hold_meeting(ctx, bot_id, short_reading())
    realtime = stored(ctx, bot_id)
    assert realtime
    leave(ctx, bot_id)
    broken = OfflineWhisperProvider(model_dir=tmp_path / "no-model-here")
    assert asyncio.run(run_accuracy_pass(ctx, bot_id, tracks, broken)) is None
    assert stored(ctx, bot_id) == realtime
    [failure] = bot_logs(ctx, bot_id, level="error")
    assert failure.entry_type == "accuracy_pass"
    assert "no CTranslate2 Whisper model" in failure.message
    assert "the realtime transcript is kept" in failure.message
    assert leftover_files(ctx, bot_id) == []


@pytest.mark.parametrize("when", ["before the pass", "before its commit"])
def test_data_deleted_while_the_pass_runs_leaves_nothing(ctx, client, project, new_bot, when):
    bot_id = bot_in_meeting(ctx, new_bot)
    tracks = hold_meeting(ctx, bot_id, short_reading())
    leave(ctx, bot_id)

    def delete_data() -> None:
        # the bot failed (a reaper, a crash) while post-processing, and its data was deleted
        assert botstate.record(ctx, bot_id, EventType.FATAL_ERROR, EventSubType.INTERNAL_ERROR)
        response = client.post(f"/api/v1/bots/{bot_id}/delete_data", headers=project.headers)
        assert response.status_code == 200, response.text

    if when == "before the pass":
        delete_data()
        assert asyncio.run(run_accuracy_pass(ctx, bot_id, tracks, provider())) is None
    else:
        [track] = tracks.close()
        found = transcribe_track(provider(), track)
        assert found
        delete_data()
        with pytest.raises(DataDeleted):
            replace_transcript(ctx, bot_id, [(track.person, found)])
        tracks.discard()
    with ctx.db.read() as conn:
        assert (
            conn.execute(select(utterances.c.id).where(utterances.c.bot_id == bot_id)).all() == []
        )
    assert leftover_files(ctx, bot_id) == []


def test_a_bot_whose_worker_died_during_the_pass_keeps_its_realtime_transcript_and_says_so(
    ctx, new_bot
):
    bot_id = bot_in_meeting(ctx, new_bot)
    tracks = hold_meeting(ctx, bot_id, short_reading())
    realtime = stored(ctx, bot_id)
    leave(ctx, bot_id)
    # the worker was killed mid-pass: its heartbeats stop, the reaper fails the bot
    with ctx.db.write() as tx:
        tx.conn.execute(
            update(bots).where(bots.c.id == bot_id).values(last_heartbeat_at=utcnow() - HOUR)
        )
    assert reap_silent_bots(ctx) == [bot_id]
    assert botstate.current_state(ctx, bot_id) == BotState.FATAL_ERROR
    assert stored(ctx, bot_id) == realtime
    [entry] = [e for e in bot_logs(ctx, bot_id) if e.entry_type == "post_processing"]
    assert entry.level == "warning" and "the realtime transcript is kept" in entry.message
    tracks.discard()  # what the dead worker's folder held is removed with it (run() or purge)


def test_a_long_track_is_decoded_in_pieces_cut_where_the_speaker_pauses(tmp_path):
    """What bounds the pass's memory on a long meeting (10 min pieces), shown with 8 s pieces on
    the 30 s reading: no word lost or said twice at a cut, every word where it was said."""
    scene = reading()
    tracks = ParticipantTracks(tmp_path, DataKey.generate())
    tracks.joined(ParticipantJoined("reader", "Reader", False, ORIGIN_MS))
    for pcm, offset in frames_48k(to_48k_int16(scene.track("reader")), 0):
        tracks.feed("reader", pcm, ORIGIN_MS + offset)
    [track] = tracks.close()
    found = transcribe_track(provider(), track, chunk_s=8.0)
    text = " ".join(u.transcription["transcript"] for u in found)
    reference = scene.reference("reader")
    assert word_error_rate(reference, text) <= offline_wer(scene, "reader") + 0.1, text
    assert repeated_beyond_reference(normalise(text), normalise(reference)) == 0, text
    words = [
        ((u.timestamp_ms - ORIGIN_MS) / 1000 + w["start"], w["word"])
        for u in found
        for w in u.transcription["words"]
    ]
    assert [at for at, _ in words] == sorted(at for at, _ in words)
    assert dropped_turns(scene, "reader", words) == 0, text
    tracks.discard()
