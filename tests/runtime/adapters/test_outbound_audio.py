"""The bot's shared voice timeline (OutboundAudio) on a clock the test moves: every peer plays
queued speech whole, whichever peer a stall made skip ahead."""

import asyncio

import numpy as np
from aiortc.codecs.opus import OpusDecoder
from aiortc.jitterbuffer import JitterFrame

from sitin.core.audio import MEETING_SAMPLE_RATE
from sitin.runtime.adapters import outbound
from sitin.runtime.adapters.outbound import (
    FRAME_S,
    FRAME_SAMPLES,
    HANGOVER_FRAMES,
    MAX_LAG_FRAMES,
    SILENT_KEEPALIVE_FRAMES,
    OutboundAudio,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def at_frame(self, index: int) -> None:
        self.now = 1000.0 + (index + 0.5) * FRAME_S


def tone(seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * MEETING_SAMPLE_RATE)) / MEETING_SAMPLE_RATE
    return (np.sin(2 * np.pi * 440 * t) * 0.3 * 32767).astype(np.int16)


class Peer:
    """What one peer's track asks the timeline for, frame after frame."""

    def __init__(self, voice: OutboundAudio) -> None:
        self.voice = voice
        self.index: int | None = None
        self.sent: list[bool] = []  # per frame sent: did it carry speech?

    def send(self) -> None:
        self.index = self.voice.next_index(self.index)
        self.sent.append(self.voice.frame(self.index) is not None)


def speech_runs(sent: list[bool]) -> int:
    return sum(1 for i, loud in enumerate(sent) if loud and (i == 0 or not sent[i - 1]))


def test_a_peer_catching_up_after_a_stall_never_plays_silence_inside_the_speech():
    clock = Clock()
    voice = OutboundAudio(clock=clock)
    alice, bob = Peer(voice), Peer(voice)
    voice.play(tone(1.0))
    for index in range(3):
        clock.at_frame(index)
        alice.send()
        bob.send()
    # the loop stalls for MAX_LAG_FRAMES frames: Alice's track wakes first, just within the lag
    # allowed, and catches up; Bob's wakes a frame later, past it, and skips ahead to now
    clock.at_frame(2 + MAX_LAG_FRAMES)
    alice.send()
    clock.at_frame(3 + MAX_LAG_FRAMES)
    bob.send()
    for _ in range(60):  # on past the end of the tone
        alice.send()
        bob.send()
        clock.now += FRAME_S
    for peer in (alice, bob):
        assert speech_runs(peer.sent) == 1, f"a gap in the speech: {peer.sent}"
    assert sum(alice.sent) >= 45 and sum(bob.sent) >= 45, "the stall delays speech, loses little"


def test_peers_in_step_share_every_frame_and_a_new_peer_starts_at_the_current_one():
    clock = Clock()
    voice = OutboundAudio(clock=clock)
    voice.play(tone(0.2))  # 10 frames
    alice, bob = Peer(voice), Peer(voice)
    for index in range(12):
        clock.at_frame(index)
        alice.send()
        bob.send()
    assert alice.sent == bob.sent == [True] * 10 + [False] * 2
    late = Peer(voice)
    clock.at_frame(40)
    late.send()
    assert late.index == 40
    assert voice.seconds_until(41) > 0 and voice.seconds_until(40) == 0


def decoded_dbfs(payloads: list[bytes]) -> float:
    decoder = OpusDecoder()
    pcm = np.concatenate(
        [
            frame.to_ndarray().ravel()
            for index, payload in enumerate(payloads)
            for frame in decoder.decode(JitterFrame(payload, timestamp=index * 960))
        ]
    ).astype(np.float64)
    return 20 * np.log10(max(np.sqrt(np.mean(pcm**2)), 1e-9) / 32768)


def test_every_peer_sends_the_same_opus_packets_and_silence_costs_no_encoding():
    clock = Clock()
    voice = OutboundAudio(clock=clock)
    voice.play(tone(0.2))  # 10 frames of speech, then silence
    sent: dict[str, list[bytes]] = {"alice": [], "bob": []}
    for index in range(20):
        clock.at_frame(index)
        for packets in sent.values():
            packets.append(voice.payload(index))
    alice, bob = sent["alice"], sent["bob"]
    # one encoding per frame, shared: the second peer is handed the very same packet
    assert all(a is b for a, b in zip(alice, bob, strict=True))
    silences = alice[10:]
    assert len(set(silences)) == 1 and len(silences[0]) < 10  # one small packet made up front
    assert all(len(p) > 20 for p in alice[1:10])  # speech is encoded
    assert decoded_dbfs(alice[:10]) > -25  # the tone at -10 dBFS comes through
    assert decoded_dbfs(silences) < -80


def test_a_silent_voice_sends_a_packet_every_400_ms_and_speech_on_the_next_tick(monkeypatch):
    """As Opus DTX: an idle bot costs its peers (and itself) one packet per 400 ms, not 50 a
    second; speech still goes out on the next 20 ms tick, followed by a few silent packets."""
    clock = Clock()
    voice = OutboundAudio(clock=clock)
    real_sleep = asyncio.sleep

    async def sleep(seconds: float) -> None:  # the track sleeps until a frame is due: move time
        clock.now += seconds
        await real_sleep(0)

    monkeypatch.setattr(outbound.asyncio, "sleep", sleep)

    async def meeting() -> tuple[list[int], list[int]]:
        track = voice.track()

        async def sent(count: int) -> list[int]:
            return [(await track.recv()).pts // FRAME_SAMPLES for _ in range(count)]

        idle = await sent(3)
        voice.play(tone(0.1))  # 5 frames
        spoken = await sent(5 + HANGOVER_FRAMES + 1)
        track.stop()
        return idle, spoken

    idle, spoken = asyncio.run(meeting())
    assert [b - a for a, b in zip(idle, idle[1:], strict=False)] == [SILENT_KEEPALIVE_FRAMES] * 2
    start = spoken[0]
    assert start == idle[-1] + 1, "speech goes out on the next tick"
    assert spoken[:-1] == list(range(start, start + 5 + HANGOVER_FRAMES))
    assert spoken[-1] - spoken[-2] == SILENT_KEEPALIVE_FRAMES
