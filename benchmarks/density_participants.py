"""The participants of benchmarks/bot_density.py, in a process of their own.

    python benchmarks/density_participants.py [--turn-taking] <sitin url> <room> [<room> ...]
    python benchmarks/density_participants.py --janus <ice address> <Janus API url> <room id> ...

Two aiortc participants per room join over the room protocol, answer the bot's call and stream
looping flite speech until stdin closes. With --janus they join Janus VideoRooms instead (run
inside the benchmark's network namespace), each publishing its voice once; Janus forwards it to
the bot's subscription. With --turn-taking, four participants loop the real
human speech meeting of tests/transcription/real_speech.py (taking turns, ~10 % overlap). Each
voice is Opus-encoded once and the same packets are sent to every peer, so senders cost little
CPU. Each participant's stream carries a quiet pilot tone of its own (10, 11, 12, 13 kHz, above
the speech band): the benchmark finds them in the recordings to see how much audio arrived.
Prints "ready" once everyone joined, and a JSON line with the worst sending stall when it stops.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
import time
import wave
from fractions import Fraction
from pathlib import Path
from urllib.parse import urlsplit

import av
import numpy as np
import websockets
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack

from sitin.core.audio import MEETING_SAMPLE_RATE
from sitin.outbound import OutboundGuard, parse_host_rules
from sitin.runtime.adapters import loopback
from sitin.runtime.adapters.janus.client import JanusSession
from sitin.testing.janus import VIDEOROOM
from sitin.testing.netns import gather_ice_on

RATE = MEETING_SAMPLE_RATE
FRAME = 960  # 20 ms
PILOTS_HZ = (10_000, 11_000, 12_000, 13_000)  # one per participant of a room
NAMES = ("Alice", "Bob", "Carol", "Dave")
PILOT_AMPLITUDE = 0.005  # -49 dBFS RMS: under the speaking detector's threshold, above mp3 noise
SENTENCES = (
    "the design review went well and the team is happy",
    "we should move the weekly meeting to the afternoon",
)


def flite_48k(text: str, directory: Path) -> np.ndarray:
    path = directory / "sentence.wav"
    subprocess.run(["flite", "-voice", "slt", "-t", text, "-o", str(path)], check=True)
    with wave.open(str(path), "rb") as source:
        rate = source.getframerate()
        speech = np.frombuffer(source.readframes(source.getnframes()), np.int16)
    positions = np.arange(len(speech) * RATE // rate) * rate / RATE
    return np.interp(positions, np.arange(len(speech)), speech.astype(np.float32)) / 32768


def flite_loops() -> list[np.ndarray]:
    """Two participants taking turns with one flite sentence each."""
    with tempfile.TemporaryDirectory() as tmp:
        first, second = (flite_48k(text, Path(tmp)) for text in SENTENCES)
    gap = np.zeros(RATE, np.float32)
    quiet_first, quiet_second = np.zeros_like(first), np.zeros_like(second)
    return [
        np.concatenate([first, gap, quiet_second, gap]),
        np.concatenate([quiet_first, gap, second, gap]),
    ]


def meeting_loops() -> list[np.ndarray]:
    """Four people taking turns (real recordings, ~10 % overlap), one track each, at 48 kHz."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from transcription.real_speech import meeting

    scene = meeting()
    tracks = [scene.track(speaker) for speaker in scene.speakers]
    positions = np.arange(len(tracks[0]) * 3) / 3
    return [np.interp(positions, np.arange(len(t)), t).astype(np.float32) for t in tracks]


def speech_loops(turn_taking: bool = False) -> list[np.ndarray]:
    """Each participant's looping microphone, with its own pilot tone."""
    loops = meeting_loops() if turn_taking else flite_loops()
    length = len(loops[0]) // FRAME * FRAME
    t = np.arange(length) / RATE
    return [
        loop[:length] + PILOT_AMPLITUDE * np.sin(2 * np.pi * pilot * t)
        for loop, pilot in zip(loops, PILOTS_HZ, strict=False)
    ]


def opus_packets(samples: np.ndarray) -> list[bytes]:
    """Encode once; every participant with this voice sends the same packets (no encoder each)."""
    codec = av.CodecContext.create("libopus", "w")
    codec.sample_rate = RATE
    codec.layout = "mono"
    codec.format = "s16"
    codec.bit_rate = 48_000
    codec.time_base = Fraction(1, RATE)
    pcm = (np.clip(samples, -1, 1) * 32767).astype(np.int16)
    packets: list[bytes] = []
    for start in range(0, len(pcm), FRAME):
        frame = av.AudioFrame.from_ndarray(pcm[None, start : start + FRAME], "s16", "mono")
        frame.sample_rate, frame.pts, frame.time_base = RATE, start, Fraction(1, RATE)
        packets += [bytes(p) for p in codec.encode(frame)]
    packets += [bytes(p) for p in codec.encode(None)]
    return packets


class LoopingVoice(MediaStreamTrack):
    """Sends pre-encoded Opus packets in real time, round and round."""

    kind = "audio"
    worst_lateness_s = 0.0  # over all voices: the most a packet went out after its time

    def __init__(self, packets: list[bytes]) -> None:
        super().__init__()
        self._packets = packets
        self._index = 0
        self._started: float | None = None

    async def recv(self) -> av.Packet:
        if self._started is None:
            self._started = time.monotonic()
        due = self._started + self._index * FRAME / RATE
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        LoopingVoice.worst_lateness_s = max(LoopingVoice.worst_lateness_s, time.monotonic() - due)
        packet = av.Packet(self._packets[self._index % len(self._packets)])
        packet.pts, packet.time_base = self._index * FRAME, Fraction(1, RATE)
        self._index += 1
        return packet


async def janus_participant(
    api_url: str, room: str, name: str, packets: list[bytes], ready, peers: list
) -> None:
    """A person publishing their looping voice in a Janus VideoRoom (until cancelled)."""
    guard = OutboundGuard(listed=parse_host_rules(urlsplit(api_url).netloc))
    session = await JanusSession.open(api_url, guard=guard)
    try:
        handle = await session.attach(VIDEOROOM, lambda message: None)
        await handle.request({"request": "join", "ptype": "publisher", "room": int(room),
                              "display": name})  # fmt: skip
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        peers.append(pc)
        pc.addTransceiver(LoopingVoice(packets), direction="sendonly")
        await pc.setLocalDescription(await pc.createOffer())
        offer = {"type": "offer", "sdp": pc.localDescription.sdp, "trickle": False}
        _, answer = await handle.request({"request": "publish", "audio": True}, offer)
        assert answer is not None, "Janus answered the publish without SDP"
        await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], answer["type"]))
        ready()
        await asyncio.Event().wait()
    finally:
        await session.close()


async def run_participants(
    base_url: str, rooms: list[str], turn_taking: bool = False, ice_address: str | None = None
) -> None:
    """Two (or four) participants per room; they answer the bot's call (or, in Janus rooms when
    `ice_address` is given, publish) and stream until stdin closes."""
    if ice_address is None:
        loopback.use_loopback_ice()
    else:
        gather_ice_on(ice_address)
    voices = [opus_packets(loop) for loop in speech_loops(turn_taking)]

    peers: list[RTCPeerConnection] = []

    async def participant(room: str, name: str, packets: list[bytes], ready) -> None:
        if ice_address is not None:
            await janus_participant(base_url, room, name, packets, ready, peers)
            return
        url = base_url.replace("http://", "ws://") + f"/rooms/{room}/ws"
        async with websockets.connect(url, proxy=None) as ws:
            await ws.send(json.dumps({"type": "join", "name": name}))
            welcome = json.loads(await ws.recv())
            assert welcome["type"] == "welcome", welcome
            ready()
            async for raw in ws:
                message = json.loads(raw)
                if message["type"] != "offer":
                    continue  # only bots call us: people in this benchmark do not call each other
                pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
                peers.append(pc)
                pc.addTrack(LoopingVoice(packets))
                sdp = loopback.keep_loopback_candidates(message["sdp"])
                await pc.setRemoteDescription(RTCSessionDescription(sdp, "offer"))
                await pc.setLocalDescription(await pc.createAnswer())
                answer = {"type": "answer", "to": message["from"], "sdp": pc.localDescription.sdp}
                await ws.send(json.dumps(answer))

    joined = 0

    def one_ready() -> None:
        nonlocal joined
        joined += 1
        if joined == len(voices) * len(rooms):
            print("ready", flush=True)

    tasks = [
        asyncio.create_task(participant(room, name, voice, one_ready))
        for room in rooms
        for name, voice in zip(NAMES, voices, strict=False)
    ]
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until told to stop
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.gather(*(pc.close() for pc in peers), return_exceptions=True)
    print(json.dumps({"sender_late_max_ms": 1000 * LoopingVoice.worst_lateness_s}), flush=True)


if __name__ == "__main__":
    arguments = sys.argv[1:]
    turn_taking = "--turn-taking" in arguments
    arguments = [a for a in arguments if a != "--turn-taking"]
    ice_address = None
    if arguments[0] == "--janus":
        ice_address, arguments = arguments[1], arguments[2:]
    asyncio.run(run_participants(arguments[0], arguments[1:], turn_taking, ice_address))
