"""RoomAdapter in a real room: a uvicorn room server, two aiortc participants and the bot."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi import FastAPI

from sitin.core.audio import MEETING_SAMPLE_RATE
from sitin.encryption import DataKey
from sitin.rooms.routes import room_registry
from sitin.runtime.adapters.base import (
    MEETING_NOT_FOUND,
    UNABLE_TO_CONNECT,
    AudioFrame,
    ChatReceived,
    CouldNotJoin,
    MeetingEnded,
    MeetingEvent,
    ParticipantJoined,
    ParticipantLeft,
    SpeechStart,
    SpeechStop,
)
from sitin.runtime.adapters.room import RoomAdapter
from sitin.runtime.pipeline.recorder import Recorder
from support.peers import TestParticipant
from support.rooms import bot_pass, room_app
from support.servers import serve
from support.settings import LOOPBACK_GUARD
from support.speech import flite_wav, read_pcm_48k, rms_dbfs

KEY = DataKey.generate()  # what the bot's scratch files are sealed under

PROMPT_S = 5.0  # "promptly": far below the ~30 s ICE consent timeout
SPOKEN_S = 15.0  # a spoken sentence and the silence after it arrive within this
PAUSE_AHEAD_S = 3.0  # the recorder's pause starts this far ahead of the clock


@pytest.fixture(scope="module")
def app() -> FastAPI:
    return room_app()


@pytest.fixture(scope="module")
def base_url(app: FastAPI) -> Iterator[str]:
    with serve(app) as url:
        yield url


class Events:
    """The bot's event sink: keeps everything and lets the test wait for what it expects."""

    def __init__(self, recorder: Recorder | None = None) -> None:
        self.all: list[MeetingEvent] = []
        self.recorder = recorder

    def __call__(self, event: MeetingEvent) -> None:
        self.all.append(event)
        if self.recorder is not None and isinstance(event, AudioFrame):
            self.recorder.push(event)

    def of(self, kind: type, uuid: str | None = None) -> list:
        return [e for e in self.all if isinstance(e, kind) and (uuid is None or e.uuid == uuid)]

    async def wait_for(self, condition: Callable[[], object], timeout_s: float = PROMPT_S) -> None:
        async with asyncio.timeout(timeout_s):
            while not condition():
                await asyncio.sleep(0.02)

    def heard_until(self, uuid: str) -> float:
        """Epoch seconds up to which the bot has received the participant's audio."""
        frames = self.of(AudioFrame, uuid)
        return (frames[-1].timestamp_ms + frames[-1].duration_ms) / 1000 if frames else 0.0

    def audio_between(self, uuid: str, start_s: float, end_s: float) -> np.ndarray:
        frames = [
            f.pcm
            for f in self.of(AudioFrame, uuid)
            if start_s * 1000 <= f.timestamp_ms < end_s * 1000
        ]
        assert frames, f"no audio from {uuid} between {start_s} and {end_s}"
        return np.concatenate(frames)


def test_bot_sees_people_chat_and_each_speakers_audio(
    app: FastAPI, base_url: str, tmp_path: Path
) -> None:
    alice_pcm = read_pcm_48k(flite_wav(tmp_path, "alice", "Hello, this is Alice with the budget."))
    bob_pcm = read_pcm_48k(flite_wav(tmp_path, "bob", "Bob here, the review is on Tuesday."))
    recorder = Recorder(tmp_path / "meeting.webm", "webm", seal_with=KEY, latency_ms=500)
    events = Events(recorder)

    async def scenario() -> None:
        alice = TestParticipant(base_url, "standup", "Alice")
        await alice.join()
        bot = RoomAdapter(
            f"{base_url}/rooms/standup",
            "Notetaker",
            events,
            guard=LOOPBACK_GUARD,
            room_pass=bot_pass(app, "Notetaker"),
        )
        await bot.join()  # the bot joins after Alice (it calls her) and before Bob (he calls it)
        bob = TestParticipant(base_url, "standup", "Bob")
        await bob.join()

        # Participants, uuids and host.
        await events.wait_for(lambda: len(events.of(ParticipantJoined)) == 2)
        joined = {e.name: e for e in events.of(ParticipantJoined)}
        assert joined["Alice"].uuid == alice.uuid and joined["Alice"].is_host
        assert joined["Bob"].uuid == bob.uuid and not joined["Bob"].is_host
        assert bot.uuid not in (alice.uuid, bob.uuid)
        assert {p.uuid for p in bot.participants} == {alice.uuid, bob.uuid}
        assert any(p["uuid"] == bot.uuid and p["role"] == "bot" for p in alice.joined)

        # Each participant's audio arrives separately, loud where they spoke, silent elsewhere.
        await events.wait_for(
            lambda: events.of(AudioFrame, alice.uuid) and events.of(AudioFrame, bob.uuid)
        )
        alice_from = alice.say(alice_pcm)
        alice_to = alice_from + len(alice_pcm) / MEETING_SAMPLE_RATE
        # 0.7 s of silence after each sentence: the speaking detector's hangover is 0.5 s
        await events.wait_for(lambda: events.heard_until(alice.uuid) >= alice_to + 0.7, SPOKEN_S)
        bob_from = bob.say(bob_pcm)
        bob_to = bob_from + len(bob_pcm) / MEETING_SAMPLE_RATE
        await events.wait_for(
            lambda: (
                min(events.heard_until(bob.uuid), events.heard_until(alice.uuid)) >= bob_to + 0.7
            ),
            SPOKEN_S,
        )
        # A 0.5 s pause, set ahead of where the recorder has written (it trails the clock by its
        # latency): resuming at a moment the recorder already passed while still paused would cut
        # everything up to there, more than the 0.5 s, when the bot receives audio late. 3 s
        # ahead: with 1 s, a test process stalled for 1.2 s under CI load had written 0.24 s of
        # the pause before it was set. How long setting it took is kept, to tell such a stall
        # from a recorder that cuts too little.
        chosen_at = time.monotonic()
        paused_at_ms = time.time() * 1000 + PAUSE_AHEAD_S * 1000
        recorder.pause(paused_at_ms)
        recorder.resume(paused_at_ms + 500)
        setting_pause_took_s.append(time.monotonic() - chosen_at)
        await events.wait_for(
            lambda: events.heard_until(alice.uuid) * 1000 >= paused_at_ms + 500, SPOKEN_S
        )

        assert rms_dbfs(events.audio_between(alice.uuid, alice_from + 0.2, alice_to - 0.2)) > -35
        assert rms_dbfs(events.audio_between(bob.uuid, alice_from + 0.2, alice_to - 0.2)) < -60
        assert rms_dbfs(events.audio_between(bob.uuid, bob_from + 0.2, bob_to - 0.2)) > -35
        assert rms_dbfs(events.audio_between(alice.uuid, bob_from + 0.2, bob_to - 0.2)) < -60
        assert all(len(f.pcm) == 960 and f.pcm.dtype == np.int16 for f in events.of(AudioFrame))

        # Speaking on/off per participant, at the right moments.
        alice_start, bob_start = (
            events.of(SpeechStart, alice.uuid),
            events.of(SpeechStart, bob.uuid),
        )
        assert len(alice_start) >= 1 and len(bob_start) >= 1
        assert alice_from - 0.1 <= alice_start[0].timestamp_ms / 1000 <= alice_from + 1.0
        assert bob_from - 0.1 <= bob_start[0].timestamp_ms / 1000 <= bob_from + 1.0
        alice_stops = events.of(SpeechStop, alice.uuid)
        assert alice_stops and alice_stops[-1].timestamp_ms / 1000 <= bob_from

        # Chat both ways, to everyone and privately.
        await bob.send_chat("Can everyone hear me?")
        await alice.send_chat("Please note the budget", to=bot.uuid)
        await events.wait_for(lambda: len(events.of(ChatReceived)) == 2)
        chats = {e.uuid: e for e in events.of(ChatReceived)}
        assert chats[bob.uuid].text == "Can everyone hear me?"
        assert chats[bob.uuid].to == "everyone"
        assert chats[bob.uuid].timestamp_ms == pytest.approx(time.time() * 1000, abs=5_000)
        assert chats[alice.uuid].to == "only_bot"
        await bot.send_chat("Recording has started")
        await bot.send_chat("Only for Bob", to_uuid=bob.uuid)
        await bob.wait_for(lambda: len(bob.chat) == 3)
        from_bot = [m for m in bob.chat if m["from"] == bot.uuid]
        assert [m["text"] for m in from_bot] == ["Recording has started", "Only for Bob"]
        assert from_bot[0]["from_name"] == "Notetaker"
        await alice.wait_for(lambda: any(m["from"] == bot.uuid for m in alice.chat))
        assert [m["text"] for m in alice.chat if m["from"] == bot.uuid] == ["Recording has started"]

        # Leaving: Bob says bye; Alice's connection just drops (no bye). Both are seen promptly.
        await bob.leave()
        await events.wait_for(lambda: events.of(ParticipantLeft, bob.uuid))
        assert not events.of(MeetingEnded)
        await alice.leave(say_bye=False)
        await events.wait_for(lambda: events.of(ParticipantLeft, alice.uuid))
        await events.wait_for(lambda: events.of(MeetingEnded))
        assert [e.reason for e in events.of(MeetingEnded)] == ["room_empty"]

        # The server drops the bot when it reads its bye, after the bot has gone: wait for it.
        await bot.leave()
        await events.wait_for(lambda: room_registry(app).rooms.get("standup") is None)
        return alice_from

    setting_pause_took_s: list[float] = []
    alice_from = asyncio.run(scenario())
    closed_at = time.time() * 1000
    duration = recorder.close(end_ms=closed_at)

    # The recording: everything from its start to close, less the 0.5 s pause, mixed. Only a
    # process stalled for longer than the pause was set ahead (less the recorder's latency) can
    # have let the recorder write part of the pause first.
    expected_s = (closed_at - recorder.start_ms) / 1000
    (took_s,) = setting_pause_took_s
    shortest_cut_s = 0.4 if took_s < PAUSE_AHEAD_S - 0.5 else 0.0
    assert expected_s - 0.6 < duration < expected_s - shortest_cut_s, (
        f"{duration:.3f} s recorded over {expected_s:.3f} s with a 0.5 s pause"
        f" (setting the pause took {took_s:.3f} s)"
    )
    with recorder.open_recording() as recording:
        mix = read_pcm_48k(recording)
    assert len(mix) / MEETING_SAMPLE_RATE == pytest.approx(duration, abs=0.06)
    alice_at = round((alice_from - recorder.start_ms / 1000 + 0.2) * MEETING_SAMPLE_RATE)
    assert rms_dbfs(mix[alice_at : alice_at + MEETING_SAMPLE_RATE]) > -40


def test_join_fails_with_a_reason(app: FastAPI, base_url: str) -> None:
    def bot(url: str) -> RoomAdapter:
        return RoomAdapter(
            url, "Bot", lambda e: None, guard=LOOPBACK_GUARD, room_pass=bot_pass(app, "Bot")
        )

    async def scenario() -> None:
        with pytest.raises(CouldNotJoin) as not_found:
            await bot(f"{base_url}/rooms/bad%20name").join()
        assert not_found.value.reason == MEETING_NOT_FOUND
        with pytest.raises(CouldNotJoin) as wrong_path:
            await bot(f"{base_url}/meetings/x").join()
        assert wrong_path.value.reason == MEETING_NOT_FOUND
        with pytest.raises(CouldNotJoin) as refused:
            await bot("http://127.0.0.1:9/rooms/x").join()
        assert refused.value.reason == UNABLE_TO_CONNECT

    asyncio.run(scenario())
