"""The realtime-audio stage against a real WebSocket server on 127.0.0.1 (a small voice agent):
the meeting's audio goes out mixed and per participant in Attendee's messages, the agent's audio
comes back and is played (into a real OutboundAudio, the rooms' voice) in order and without gaps,
barge-in empties the queue, garbage is reported and ignored, lost connections come back, a
refused target is never contacted, and a slow reader loses the oldest messages, not memory."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import numpy as np
import pytest

from sitin.core import realtime_audio as protocol
from sitin.core.audio import MEETING_SAMPLE_RATE
from sitin.outbound import OutboundGuard, parse_host_rules
from sitin.runtime.adapters.outbound import OutboundAudio
from sitin.runtime.frames import AudioFrame, BotSpoke, ParticipantJoined, ParticipantLeft
from sitin.runtime.pipeline.base import Pipeline
from sitin.runtime.pipeline.realtime import RealtimeAudioStage
from sitin.runtime.pipeline.stages import PlaybackStage
from sitin.runtime.realtime_socket import RealtimeSocket
from support.speech import rms_dbfs
from support.voice_agent import VoiceAgent, bot_output

FRAME = 960
GUARD = OutboundGuard(listed=parse_host_rules("127.0.0.1"))


def tone(seconds: float, rate: int = MEETING_SAMPLE_RATE, hz: float = 440.0, level=0.3):
    t = np.arange(round(seconds * rate)) / rate
    return (np.sin(2 * np.pi * hz * t) * level * 32767).astype(np.int16)


def frames_until_now(uuid: str, pcm: np.ndarray) -> list[AudioFrame]:
    """`pcm` as 20 ms frames whose last one ends now (as if just received)."""
    start = time.time() * 1000 - len(pcm) * 1000 / MEETING_SAMPLE_RATE
    return [
        AudioFrame(uuid, pcm[i : i + FRAME], start + i * 1000 / MEETING_SAMPLE_RATE)
        for i in range(0, len(pcm), FRAME)
    ]


class Bot:
    """The stage and a playback stage in a pipeline, as a bot runs them."""

    def __init__(self, agent: VoiceAgent, streams: dict, *, guard=GUARD, attempts=30, delay=0.1):
        self.voice = OutboundAudio()
        self.reports: list[tuple[str, str]] = []
        self.stage = RealtimeAudioStage(
            "bot_test",
            protocol.streams(protocol.validate_websocket_settings(streams)),
            guard=guard,
            report=self._report,
            reconnect_attempts=attempts,
            reconnect_delay_s=delay,
        )
        self.playback = PlaybackStage(self.voice.play, self.voice.clear, report=self._spoken)
        self.pipeline = Pipeline([self.stage, self.playback])

    async def _report(self, level: str, message: str) -> None:
        self.reports.append((level, message))

    async def _spoken(self, message: str) -> None:
        self.reports.append(("error", message))

    def messages(self, containing: str) -> list[str]:
        return [m for _, m in self.reports if containing in m]


@asynccontextmanager
async def running(agent_streams: dict, **options) -> AsyncIterator[tuple[VoiceAgent, Bot]]:
    async with VoiceAgent() as agent:
        streams = {kind: {"url": agent.url, **spec} for kind, spec in agent_streams.items()}
        bot = Bot(agent, streams, **options)
        bot.pipeline.start()
        try:
            yield agent, bot
        finally:
            await bot.pipeline.close()


def test_meeting_audio_goes_out_mixed_and_per_participant_and_the_bots_voice_never_does():
    async def scenario() -> None:
        streams = {"audio": {"sample_rate": 16000}, "per_participant_audio": {"sample_rate": 8000}}
        async with running(streams) as (agent, bot):
            await agent.wait_for(lambda: agent.connections)
            await agent.wait_for(lambda: len(agent.stream(protocol.MIXED)) > 5)
            bot.pipeline.put(ParticipantJoined("u-alice", "Alice", False, 0))
            bot.pipeline.put(ParticipantJoined("u-bob", "Bob", False, 0))
            spoken_at = time.time()
            alice = frames_until_now("u-alice", tone(0.5))
            bob = frames_until_now("u-bob", tone(0.5, hz=660, level=0.1))
            for theirs in zip(alice, bob, strict=True):  # as they arrive from a meeting
                for frame in theirs:
                    bot.pipeline.put(frame)
            await agent.wait_for(
                lambda: (
                    len(agent.stream(protocol.PER_PARTICIPANT, "u-bob")) >= 25
                    and rms_dbfs(agent.audio(protocol.MIXED, since_s=spoken_at)) > -20
                )
            )
            # the bot speaks (what a meeting adapter reports as played): never in the mix
            silent_from = time.time()
            for i in range(50):
                bot.pipeline.put(BotSpoke(tone(0.02), time.time() * 1000 - 1000 + i * 20))
            await agent.wait_for(
                lambda: (
                    len([c for c in agent.stream(protocol.MIXED) if c.arrived > silent_from + 0.3])
                    > 10
                )
            )
            later = agent.audio(protocol.MIXED, since_s=silent_from + 0.3)
            assert rms_dbfs(later) < -80, "the bot's own voice is never streamed out"

        mixed = agent.stream(protocol.MIXED)
        assert [c.sequence for c in mixed] == list(range(len(mixed))), "one sequence, no gaps"
        assert {c.sample_rate for c in mixed} == {16000} and {c.bot_id for c in mixed} == {
            "bot_test"
        }
        stamps = [c.timestamp_ms for c in mixed]
        assert stamps == sorted(stamps)
        # both voices are in the mix: about as loud as the sum of the two tones
        loud = np.concatenate([c.pcm for c in mixed if rms_dbfs(c.pcm) > -30])
        assert 0.35 * 32767 < np.abs(loud.astype(np.int32)).max() <= 0.45 * 32767  # resampled
        for uuid, name in (("u-alice", "Alice"), ("u-bob", "Bob")):
            own = agent.stream(protocol.PER_PARTICIPANT, uuid)
            assert [c.sequence for c in own] == list(range(25)), "a sequence per participant"
            assert {c.participant_name for c in own} == {name}
            assert {c.sample_rate for c in own} == {8000}
            samples = sum(len(c.pcm) for c in own)
            assert 0.45 * 8000 <= samples <= 0.5 * 8000, samples
        assert agent.malformed == []
        assert bot.messages("connected") and not [m for lv, m in bot.reports if lv == "error"]
        assert all("secret-token" not in m for _, m in bot.reports), "no URL token in the log"

    asyncio.run(scenario())


def test_bot_output_is_played_in_order_without_gaps_and_barge_in_drops_the_queue():
    async def scenario() -> None:
        async with running({"audio": {"sample_rate": 16000}}) as (agent, bot):
            await agent.wait_for(lambda: bot.stage.sockets[agent.url].connected.is_set())
            # 1 s at 24 kHz then 1 s at 8 kHz, sent far faster than real time
            await agent.say(tone(1.0, 24000), 24000)
            await agent.say(tone(1.0, 8000, hz=660), 8000)
            await agent.wait_for(lambda: bot.voice.queued_ms > 1900)
            assert bot.voice.queued_ms == pytest.approx(2000, abs=25)
            heard = []
            while bot.voice.speaking:
                heard.append(bot.voice._take_frame())
            pcm = np.concatenate(heard)
            levels = [rms_dbfs(pcm[i : i + FRAME]) for i in range(0, len(pcm) - FRAME, FRAME)]
            assert min(levels) > -15, "no gap between consecutive chunks"
            first, second = pcm[:MEETING_SAMPLE_RATE], pcm[MEETING_SAMPLE_RATE + 960 :]
            assert dominant_hz(first) == pytest.approx(440, abs=5)
            assert dominant_hz(second) == pytest.approx(660, abs=5)

            await agent.say(tone(10.0, 16000), 16000, chunk_s=0.5)
            await agent.wait_for(lambda: bot.voice.queued_ms > 9000)
            await agent.barge_in()
            await agent.wait_for(lambda: bot.voice.queued_ms == 0)
            assert bot.playback.dropped_ms >= 9000
            await agent.say(tone(0.2, 16000), 16000)  # and it talks again afterwards
            await agent.wait_for(lambda: bot.voice.queued_ms > 150)

    asyncio.run(scenario())


def dominant_hz(pcm: np.ndarray, rate: int = MEETING_SAMPLE_RATE) -> float:
    spectrum = np.abs(np.fft.rfft(pcm.astype(np.float32)))
    return float(np.fft.rfftfreq(len(pcm), 1 / rate)[int(np.argmax(spectrum))])


GARBAGE = {
    "not JSON": "hello there",
    "must be a JSON object": "[1, 2]",
    "unknown trigger": json.dumps({"trigger": "realtime_audio.mixed", "data": {}}),
    "no trigger": json.dumps({"data": {}}),
    "not valid base64": json.dumps(
        {"trigger": protocol.BOT_OUTPUT, "data": {"chunk": "@@@", "sample_rate": 16000}}
    ),
    "sample_rate must be one of": bot_output(tone(0.1, 44100), 16000).replace("16000", "44100"),
    "whole 16-bit samples": json.dumps(
        {"trigger": protocol.BOT_OUTPUT, "data": {"chunk": "AAAA", "sample_rate": 16000}}
    ),
    "binary websocket messages": b"\x00\x01",
}


def test_garbage_is_logged_naming_what_was_wrong_and_ignored():
    async def scenario() -> None:
        async with running({"per_participant_audio": {"sample_rate": 16000}}) as (agent, bot):
            await agent.wait_for(lambda: bot.stage.sockets[agent.url].connected.is_set())
            for raw in GARBAGE.values():
                await agent.send_raw(raw)
            await agent.say(tone(0.5, 16000), 16000)
            await agent.wait_for(lambda: bot.voice.queued_ms > 450)
            for what in GARBAGE:
                assert len(bot.messages(what)) == 1, (what, bot.reports)
            assert bot.stage.sockets[agent.url].connections == 1, "the connection stays up"
            for _ in range(40):  # a flood is counted, not logged message by message
                await agent.send_raw("garbage")
            await agent.say(tone(0.1, 16000), 16000)
            await agent.wait_for(lambda: bot.voice.queued_ms > 540)
            assert len(bot.messages("ignored a message")) == 20
        assert bot.messages("28 more unusable messages were ignored")

    asyncio.run(scenario())


def test_a_dropped_connection_comes_back_and_a_dead_one_is_retried_then_given_up():
    async def scenario() -> None:
        async with running({"audio": {"sample_rate": 16000}}, delay=0.05) as (agent, bot):
            await agent.wait_for(lambda: len(agent.connections) == 1)
            await agent.wait_for(lambda: len(agent.stream(protocol.MIXED)) > 3)
            await agent.drop()
            await agent.wait_for(lambda: len(agent.connections) == 2)
            await agent.wait_for(lambda: any(c.connection == 2 for c in agent.chunks))
            mixed = agent.stream(protocol.MIXED)
            sequences = [c.sequence for c in mixed]
            assert sequences == sorted(set(sequences)), "monotonic across the reconnect"
            await agent.say(tone(0.2, 16000), 16000)  # the new connection plays too
            await agent.wait_for(lambda: bot.voice.queued_ms > 150)
        assert bot.messages("the server closed the connection (code 1011: agent restarting)")
        assert bot.messages("connected again")

        # nothing listens there: each attempt is logged with the reason, then the bot gives up
        async with VoiceAgent() as gone:
            url = gone.url
        dead = Bot(gone, {"audio": {"url": url}}, attempts=2, delay=0.01)
        dead.pipeline.start()
        socket = dead.stage.sockets[url]
        async with asyncio.timeout(10):
            while not socket.gave_up:
                await asyncio.sleep(0.01)
        await dead.pipeline.close()
        assert len(dead.messages("connection failed (connection refused); retry")) == 2
        assert dead.messages("retry 2 of 2") and dead.messages("gave up after 2 retries")

    asyncio.run(scenario())


def test_a_target_the_guard_refuses_is_reported_and_never_contacted():
    async def scenario() -> None:
        async with VoiceAgent() as agent:
            bot = Bot(agent, {"audio": {"url": agent.url}}, guard=OutboundGuard(), attempts=0)
            bot.pipeline.start()
            socket = bot.stage.sockets[agent.url]
            async with asyncio.timeout(10):
                while not socket.gave_up:
                    await asyncio.sleep(0.01)
            await bot.pipeline.close()
            assert agent.connections == []
            assert bot.messages("must start with wss://")
            assert bot.messages("SITIN_ALLOW_INSECURE_TARGETS")

    asyncio.run(scenario())


def test_a_slow_reader_loses_the_oldest_messages_with_a_log_entry_not_memory():
    async def scenario() -> None:
        async with VoiceAgent() as agent:
            reports: list[str] = []

            async def report(level: str, message: str) -> None:
                reports.append(message)

            async def ignore(raw) -> None:
                pass

            socket = RealtimeSocket(
                agent.url,
                guard=GUARD,
                name="realtime audio websocket (audio)",
                on_message=ignore,
                report=report,
                attempts=0,
                delay_s=0.1,
                max_outbox=10,
            )
            assert not socket.send("before"), "nothing is queued while disconnected"
            socket.start()
            await socket.connected.wait()
            for n in range(50):  # faster than anything can be sent: the sender never ran
                socket.send(json.dumps({"n": n}))
            await agent.wait_for(lambda: len(agent.malformed) == 10)
            await agent.wait_for(lambda: any("caught up" in m for m in reports))
            await socket.stop()
        assert [json.loads(m)["n"] for m in agent.malformed] == list(range(40, 50))
        assert socket.dropped == 40
        assert any("dropping the oldest" in m for m in reports)
        assert any("40 messages were dropped" in m for m in reports)

    asyncio.run(scenario())


def test_a_participant_who_leaves_and_returns_keeps_one_sequence():
    async def scenario() -> None:
        async with running({"per_participant_audio": {"sample_rate": 16000}}) as (agent, bot):
            await agent.wait_for(lambda: bot.stage.sockets[agent.url].connected.is_set())
            for frame in frames_until_now("u-carol", tone(0.1)):
                bot.pipeline.put(frame)
            bot.pipeline.put(ParticipantLeft("u-carol", 0))
            for frame in frames_until_now("u-carol", tone(0.1)):
                bot.pipeline.put(frame)
            await agent.wait_for(lambda: len(agent.stream(protocol.PER_PARTICIPANT)) == 10)
        sequences = [c.sequence for c in agent.stream(protocol.PER_PARTICIPANT)]
        assert sequences == list(range(10))

    asyncio.run(scenario())
