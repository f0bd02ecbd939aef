"""Received audio decoded on the event loop: two real aiortc peers calling each other over
loopback, and real Opus packets."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import aioice.ice
import av
import numpy as np
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection
from aiortc.codecs.opus import OpusEncoder
from aiortc.jitterbuffer import JitterFrame
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from sitin.core.audio import MEETING_SAMPLE_RATE
from sitin.runtime.adapters import loopback
from sitin.runtime.adapters.loop_decoding import LoopDecoder, decode_on_the_loop
from support.peers import FRAME_SAMPLES, CuedMicrophone

TONE_HZ = 440
OPUS = RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48000, channels=2)
PROMPT_S = 10.0


@pytest.fixture(autouse=True)
def loopback_ice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aioice.ice, "get_host_addresses", aioice.ice.get_host_addresses)
    loopback.use_loopback_ice()


def tone(seconds: float) -> np.ndarray:
    t = np.arange(round(seconds * MEETING_SAMPLE_RATE)) / MEETING_SAMPLE_RATE
    return (8000 * np.sin(2 * np.pi * TONE_HZ * t)).astype(np.int16)


def dominant_hz(samples: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float32)))
    return float(np.fft.rfftfreq(len(samples), 1 / MEETING_SAMPLE_RATE)[spectrum.argmax()])


async def call(
    on_track: Callable[[RTCPeerConnection, MediaStreamTrack], None],
) -> tuple[RTCPeerConnection, RTCPeerConnection, CuedMicrophone]:
    """A caller with a microphone and a callee whose "track" event runs `on_track`, connected."""
    caller = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    callee = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    callee.on("track", lambda track: on_track(callee, track))
    microphone = CuedMicrophone()
    caller.addTrack(microphone)
    await caller.setLocalDescription(await caller.createOffer())
    await callee.setRemoteDescription(caller.localDescription)
    await callee.setLocalDescription(await callee.createAnswer())
    await caller.setRemoteDescription(callee.localDescription)
    return caller, callee, microphone


async def frames_until(track: MediaStreamTrack, enough: Callable[[list[av.AudioFrame]], bool]):
    frames: list[av.AudioFrame] = []
    while not enough(frames):
        frames.append(await asyncio.wait_for(track.recv(), PROMPT_S))
    return frames


def samples_of(frames: list[av.AudioFrame]) -> np.ndarray:
    return np.concatenate([f.to_ndarray().reshape(-1) for f in frames])


def test_audio_is_decoded_on_the_loop_to_mono_and_the_track_still_ends_with_the_call() -> None:
    async def scenario() -> None:
        tracks: asyncio.Queue[MediaStreamTrack] = asyncio.Queue()
        installed: list[bool] = []

        def on_track(pc: RTCPeerConnection, track: MediaStreamTrack) -> None:
            installed.append(decode_on_the_loop(pc, track))
            tracks.put_nowait(track)

        caller, callee, microphone = await call(on_track)
        try:
            track = await asyncio.wait_for(tracks.get(), PROMPT_S)
            assert installed == [True]
            microphone.say(tone(1.0))
            frames = await frames_until(
                track, lambda got: len(got) > 10 and np.abs(samples_of(got[-5:])).max() > 4000
            )
            assert all(f.layout.name == "mono" and f.samples == FRAME_SAMPLES for f in frames)
            assert all(f.format.name == "s16" for f in frames)
            assert all(f.sample_rate == MEETING_SAMPLE_RATE for f in frames)
            assert dominant_hz(samples_of(frames[-5:])) == pytest.approx(TONE_HZ, abs=15)
        finally:
            await callee.close()
        # The receiver stopped: aiortc's thread, which waited all along, ends the track.
        with pytest.raises(MediaStreamError):
            await frames_until(track, lambda got: False)
        await caller.close()

    asyncio.run(scenario())
    assert not [t for t in threading.enumerate() if t.name == "audio-decoder"]


def test_a_receiver_already_started_keeps_aiortcs_own_decoding() -> None:
    async def scenario() -> None:
        tracks: asyncio.Queue[tuple[RTCPeerConnection, MediaStreamTrack]] = asyncio.Queue()
        caller, callee, microphone = await call(lambda pc, track: tracks.put_nowait((pc, track)))
        try:
            pc, track = await asyncio.wait_for(tracks.get(), PROMPT_S)
            first = await asyncio.wait_for(track.recv(), PROMPT_S)  # the receiver is running
            assert decode_on_the_loop(pc, track) is False
            microphone.say(tone(1.0))
            frames = await frames_until(
                track, lambda got: len(got) > 10 and np.abs(samples_of(got[-5:])).max() > 4000
            )
            assert first.layout.name == "stereo" and frames[-1].layout.name == "stereo"
        finally:
            await callee.close()
            await caller.close()

    asyncio.run(scenario())


def test_a_packet_that_does_not_decode_is_dropped_and_the_audio_after_it_still_plays() -> None:
    encoder = OpusEncoder()
    packets = []
    for index in range(10):
        frame = av.AudioFrame.from_ndarray(
            tone(0.2)[index * FRAME_SAMPLES : (index + 1) * FRAME_SAMPLES].reshape(1, -1),
            format="s16",
            layout="mono",
        )
        frame.sample_rate, frame.pts = MEETING_SAMPLE_RATE, index * FRAME_SAMPLES
        packets += encoder.encode(frame)[0]
    frames: asyncio.Queue[av.AudioFrame] = asyncio.Queue()
    decoder = LoopDecoder(frames)

    for index, payload in enumerate(packets[:5] + [b"\x03\x00"] + packets[5:]):
        decoder.put((OPUS, JitterFrame(data=payload, timestamp=index * FRAME_SAMPLES)))

    assert decoder.undecodable == 1
    decoded = [frames.get_nowait() for _ in range(frames.qsize())]
    assert len(decoded) == len(packets) == 10
    assert dominant_hz(samples_of(decoded[5:])) == pytest.approx(TONE_HZ, abs=15)
    decoder.put(None)
    assert decoder.get() is None  # what aiortc's thread waits on returns once the receiver stops
