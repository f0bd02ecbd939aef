"""The runtime's edge cases with aiortc participants: scheduled join, pause/resume, automatic
leave, a worker killed mid-meeting, an unreachable room."""

import asyncio
import io
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import timedelta

import av
import numpy as np
import pytest
from sqlalchemy import select

from sitin.core.timefmt import parse_wire, to_wire, utcnow
from sitin.db.tables import audio_segments
from sitin.encryption.blobs import sealed_size
from support.bot_logs import bot_logs
from support.live import FAST_RUNTIME, start_live
from support.peers import TestParticipant
from support.speech import flite_wav, read_pcm_48k

pytestmark = pytest.mark.slow


def event_types(bot: dict) -> list[str]:
    return [e["type"] for e in bot["events"]]


def test_scheduled_bot_is_staged_then_joins_on_time(live):
    async def scenario():
        alice = TestParticipant(live.base_url, "planning", "Alice")
        await alice.join()
        join_at = utcnow() + timedelta(seconds=3)
        bot = await asyncio.to_thread(
            live.create_bot, meeting_url=live.room_url("planning"), join_at=to_wire(join_at)
        )
        assert bot["state"] == "scheduled" and bot["events"] == []
        staged = await asyncio.to_thread(live.wait_for_state, bot["id"], "staged", timeout=10)
        assert parse_wire(staged["events"][0]["created_at"]) < join_at
        joined = await asyncio.to_thread(live.wait_for_state, bot["id"], "joined_recording")
        await alice.leave()
        return join_at, joined

    join_at, bot = asyncio.run(scenario())
    assert event_types(bot) == [
        "staged",
        "join_requested",
        "joined_meeting",
        "recording_permission_granted",
    ]
    assert parse_wire(bot["events"][1]["created_at"]) >= join_at


def test_pause_cuts_the_recording_and_resume_continues(live, tmp_path):
    async def scenario():
        alice = TestParticipant(live.base_url, "paused", "Alice")
        await alice.join()
        bot = await asyncio.to_thread(
            live.create_bot,
            meeting_url=live.room_url("paused"),
            recording_settings={"format": "webm"},
        )
        bot_id = bot["id"]
        await asyncio.to_thread(live.wait_for_state, bot_id, "joined_recording")
        joined_at = time.monotonic()
        await alice.wait_for(alice.connected_to_bot)
        await asyncio.sleep(1)  # a second of the meeting recorded before the pause
        paused = await asyncio.to_thread(live.http.post, f"/api/v1/bots/{bot_id}/pause_recording")
        paused_at = time.monotonic()
        assert paused.status_code == 200, paused.text
        assert paused.json()["state"] == "joined_recording_paused"
        assert paused.json()["recording_state"] == "paused"
        # speech while paused is neither recorded nor transcribed
        said = read_pcm_48k(flite_wav(tmp_path, "secret", "this part is off the record"))
        # a second of silence after it: the speech's last packets reach the bot before resuming
        off_the_record = np.concatenate([said, np.zeros(48_000, dtype=said.dtype)])
        alice.say(off_the_record)
        await alice.wait_for(
            alice.microphone.played_everything, timeout_s=len(off_the_record) / 48000 + 30
        )
        again = await asyncio.to_thread(live.http.post, f"/api/v1/bots/{bot_id}/pause_recording")
        assert again.status_code == 400
        assert "joined_recording_paused" in again.json()["error"]
        resumed = await asyncio.to_thread(live.http.post, f"/api/v1/bots/{bot_id}/resume_recording")
        assert resumed.status_code == 200, resumed.text
        assert resumed.json()["state"] == "joined_recording"
        paused_s = time.monotonic() - paused_at
        await asyncio.sleep(1)  # and a second after it
        await asyncio.to_thread(live.http.post, f"/api/v1/bots/{bot_id}/leave")
        left_at = time.monotonic()
        final = await asyncio.to_thread(live.wait_for_state, bot_id, "ended")
        await alice.leave()
        return final, left_at - joined_at, paused_s

    bot, in_meeting_s, paused_s = asyncio.run(scenario())
    assert "recording_paused" in event_types(bot) and "recording_resumed" in event_types(bot)
    recording = live.http.get(f"/api/v1/bots/{bot['id']}/recording").json()
    with av.open(io.BytesIO(live.download(recording["url"]))) as container:
        seconds = sum(f.samples for f in container.decode(audio=0)) / 48000
    assert seconds < in_meeting_s - paused_s + 1.0
    assert seconds > 1.0
    transcript = live.http.get(f"/api/v1/bots/{bot['id']}/transcript").json()
    assert "record" not in " ".join(u["transcription"]["transcript"] for u in transcript).lower()


@pytest.mark.parametrize(
    ("settings", "leave_humans", "sub_type"),
    [
        (
            {"only_participant_in_meeting_timeout_seconds": 1},
            True,
            "auto_leave_only_participant_in_meeting",
        ),
        ({"max_uptime_seconds": 2}, False, "auto_leave_max_uptime_exceeded"),
        (
            {"silence_activate_after_seconds": 1, "silence_timeout_seconds": 2},
            False,
            "auto_leave_silence",
        ),
    ],
    ids=["only-participant", "max-uptime", "silence"],
)
def test_automatic_leave(live, settings, leave_humans, sub_type):
    async def scenario():
        room = f"auto-{sub_type[-8:]}"
        alice = TestParticipant(live.base_url, room, "Alice")
        await alice.join()
        bot = await asyncio.to_thread(
            live.create_bot, meeting_url=live.room_url(room), automatic_leave_settings=settings
        )
        await asyncio.to_thread(live.wait_for_state, bot["id"], "joined_recording")
        if leave_humans:
            await alice.leave()
        final = await asyncio.to_thread(live.wait_for_state, bot["id"], "ended", timeout=20)
        if not leave_humans:
            await alice.leave()
        return final

    bot = asyncio.run(scenario())
    leave = next(e for e in bot["events"] if e["type"] == "leave_requested")
    assert leave["sub_type"] == sub_type
    assert event_types(bot)[-2:] == ["left_meeting", "post_processing_completed"]


def test_unreachable_room_fails_with_could_not_join(tmp_path):
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # the operator lists the room host, or the bot would never even try (see test_outbound_guard)
    with start_live(tmp_path, outbound_hosts=f"127.0.0.1:{port}") as live:
        _unreachable_room_fails(live, port)


def _unreachable_room_fails(live, port: int) -> None:
    bot = live.create_bot(meeting_url=f"http://127.0.0.1:{port}/rooms/nowhere")
    final = live.wait_for_state(bot["id"], "fatal_error")
    assert final["events"][-1] == {
        "type": "could_not_join_meeting",
        "sub_type": "unable_to_connect_to_meeting",
        "created_at": final["events"][-1]["created_at"],
    }
    logs = bot_logs(live.ctx, bot["id"])
    assert [(level, kind) for level, kind, _ in logs] == [("error", "join")]
    assert "unable_to_connect_to_meeting" in logs[0].message


def test_killed_worker_is_detected_by_the_heartbeat_reaper(tmp_path):
    """The bot runs in a separate `sitin worker` process that is SIGKILLed mid-meeting; the
    periodic reaper (in this process) marks the bot fatal_error / heartbeat_timeout."""
    with start_live(tmp_path, run_bots=False) as live:
        env = {
            **os.environ,
            "SITIN_DATA_DIR": str(live.ctx.settings.data_dir),
            "SITIN_SECRET_KEY": "e2e-secret",
            "SITIN_PORT": str(live.ctx.settings.port),  # its bots join this server's rooms
            **{f"SITIN_{k.upper()}": str(v) for k, v in FAST_RUNTIME.items()},
        }
        worker = subprocess.Popen(
            [sys.executable, "-m", "sitin", "worker", "--no-periodic", "--threads", "2"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            bot = asyncio.run(_meeting_with_killed_worker(live, worker))
        finally:
            worker.kill()
            worker.wait()
    assert bot["events"][-1]["type"] == "fatal_error"
    assert bot["events"][-1]["sub_type"] == "heartbeat_timeout"


async def _meeting_with_killed_worker(live, worker: subprocess.Popen) -> dict:
    alice = TestParticipant(live.base_url, "crash", "Alice")
    await alice.join()
    bot = await asyncio.to_thread(live.create_bot, meeting_url=live.room_url("crash"))
    await asyncio.to_thread(live.wait_for_state, bot["id"], "joined_recording")
    os.kill(worker.pid, signal.SIGKILL)
    final = await asyncio.to_thread(live.wait_for_state, bot["id"], "fatal_error", timeout=30)
    await alice.leave()
    return final


def test_kept_speech_audio_is_stored_per_utterance_and_deleted_with_the_data(live, tmp_path):
    """record_async_transcription_audio_chunks keeps each utterance's audio under the bot's
    prefix; delete_data removes the rows and the blobs."""

    async def scenario():
        alice = TestParticipant(live.base_url, "kept-audio", "Alice")
        await alice.join()
        bot = await asyncio.to_thread(
            live.create_bot,
            meeting_url=live.room_url("kept-audio"),
            recording_settings={"record_async_transcription_audio_chunks": True},
        )
        await asyncio.to_thread(live.wait_for_state, bot["id"], "joined_recording")
        await alice.wait_for(alice.connected_to_bot)
        pcm = read_pcm_48k(flite_wav(tmp_path, "kept", "the quarterly numbers look good"))
        alice.say(pcm)

        def transcribed():
            return live.http.get(f"/api/v1/bots/{bot['id']}/transcript").json()

        await asyncio.to_thread(live.wait_until, transcribed, 60, "the utterance")
        await asyncio.to_thread(live.http.post, f"/api/v1/bots/{bot['id']}/leave")
        await asyncio.to_thread(live.wait_for_state, bot["id"], "ended")
        await alice.leave()
        return bot["id"]

    bot_id = asyncio.run(scenario())
    prefix = f"bots/{bot_id}/audio/"
    with live.ctx.db.read() as conn:
        segments = conn.execute(
            select(audio_segments.c.blob_key, audio_segments.c.blob_size).where(
                audio_segments.c.bot_id == bot_id
            )
        ).all()
    stored = {blob.key: blob.size for blob in live.ctx.blobs.list(prefix)}
    transcript = live.http.get(f"/api/v1/bots/{bot_id}/transcript").json()
    assert len(segments) == len(transcript) >= 1
    # The store holds each segment sealed: its plaintext size plus the header and chunk tags.
    assert {key: sealed_size(size) for key, size in segments} == stored

    deleted = live.http.post(f"/api/v1/bots/{bot_id}/delete_data")
    assert deleted.status_code == 200
    assert list(live.ctx.blobs.list(f"bots/{bot_id}/")) == []
    with live.ctx.db.read() as conn:
        left = conn.execute(select(audio_segments.c.id).where(audio_segments.c.bot_id == bot_id))
        assert left.all() == []
