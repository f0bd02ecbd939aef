"""An aiortc room participant for tests: a "human" that speaks WAV audio on cue and chats.

It speaks the room protocol itself (independently of RoomAdapter), sends its microphone track
to every peer, and records what it sees (chat, joins, leaves) and hears (every peer's audio, as
48 kHz mono with arrival times) for assertions.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import av
import numpy as np
import websockets
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from sitin.core.audio import MEETING_SAMPLE_RATE
from sitin.runtime.adapters import loopback

FRAME_SAMPLES = 960  # 20 ms


class CuedMicrophone(MediaStreamTrack):
    """An audio track that is silent until `say(pcm)` queues samples to play in real time."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._queued = np.zeros(0, dtype=np.int16)
        self._start: float | None = None
        self._pts = 0

    def say(self, pcm: np.ndarray) -> float:
        """Queue 48 kHz mono int16 samples; returns the epoch time (s) they start playing."""
        pending_s = len(self._queued) / MEETING_SAMPLE_RATE
        self._queued = np.concatenate([self._queued, pcm.astype(np.int16)])
        return time.time() + pending_s

    def played_everything(self) -> bool:
        """True once every queued sample has gone out (the last frame is on the wire)."""
        return len(self._queued) == 0

    async def recv(self) -> av.AudioFrame:
        if self._start is None:
            self._start = time.time()
        else:
            self._pts += FRAME_SAMPLES
            await asyncio.sleep(
                max(0.0, self._start + self._pts / MEETING_SAMPLE_RATE - time.time())
            )
        chunk = np.zeros(FRAME_SAMPLES, dtype=np.int16)
        take = min(FRAME_SAMPLES, len(self._queued))
        chunk[:take], self._queued = self._queued[:take], self._queued[take:]
        frame = av.AudioFrame.from_ndarray(chunk.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = MEETING_SAMPLE_RATE
        frame.pts = self._pts
        frame.time_base = Fraction(1, MEETING_SAMPLE_RATE)
        return frame


class TestParticipant:
    __test__ = False  # not a pytest test class

    def __init__(self, base_url: str, room: str, name: str) -> None:
        loopback.use_loopback_ice()
        self.ws_url = base_url.replace("http://", "ws://") + f"/rooms/{room}/ws"
        self.name = name
        self.uuid = ""
        self.is_host = False
        self.microphone = CuedMicrophone()
        self.chat: list[dict[str, Any]] = []
        self.joined: list[dict[str, Any]] = []
        self.left: list[str] = []
        self.errors: list[dict[str, Any]] = []
        # what each peer sounded like here: (arrival epoch s, 48 kHz mono int16) per frame
        self.heard: dict[str, list[tuple[float, np.ndarray]]] = {}
        self._relay = MediaRelay()
        self._pcs: dict[str, RTCPeerConnection] = {}
        self._listeners: list[asyncio.Task[None]] = []
        self._ws: websockets.ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None

    async def join(self) -> dict[str, Any]:
        self._ws = await websockets.connect(self.ws_url, proxy=None)
        await self._send({"type": "join", "name": self.name})
        welcome = json.loads(await self._ws.recv())
        assert welcome["type"] == "welcome", welcome
        self.uuid, self.is_host = welcome["you"]["uuid"], welcome["you"]["is_host"]
        self.joined.extend(welcome["participants"])
        self._reader = asyncio.create_task(self._read())
        for participant in welcome["participants"]:
            pc = self._new_peer(participant["uuid"])
            await pc.setLocalDescription(await pc.createOffer())
            await self._send(
                {"type": "offer", "to": participant["uuid"], "sdp": pc.localDescription.sdp}
            )
        return welcome

    def say(self, pcm: np.ndarray) -> float:
        return self.microphone.say(pcm)

    async def send_chat(self, text: str, to: str | None = None) -> None:
        await self._send({"type": "chat", "text": text, **({"to": to} if to else {})})

    async def leave(self, say_bye: bool = True) -> None:
        if self._ws is not None:
            if say_bye:
                with contextlib.suppress(websockets.ConnectionClosed):
                    await self._send({"type": "bye"})
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        for listener in self._listeners:
            listener.cancel()
        await asyncio.gather(*self._listeners, return_exceptions=True)
        for pc in self._pcs.values():
            await pc.close()

    def heard_from(self, uuid: str, since_s: float = 0.0) -> np.ndarray:
        """Everything heard from `uuid` that arrived after epoch `since_s`, concatenated."""
        return heard_since(self.heard.get(uuid, []), since_s)

    def connected_to_bot(self) -> bool:
        """Media flows between this participant and a bot in the room (ICE and DTLS are up)."""
        bots = [p["uuid"] for p in self.joined if p.get("role") == "bot"]
        return any(
            uuid in self._pcs and self._pcs[uuid].connectionState == "connected" for uuid in bots
        )

    async def wait_for(self, condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
        async with asyncio.timeout(timeout_s):
            while not condition():
                await asyncio.sleep(0.02)

    async def _send(self, message: dict[str, Any]) -> None:
        assert self._ws is not None
        await self._ws.send(json.dumps(message))

    async def _read(self) -> None:
        assert self._ws is not None
        with contextlib.suppress(websockets.ConnectionClosed):
            async for raw in self._ws:
                await self._handle(json.loads(raw))

    async def _handle(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "participant_joined":
            self.joined.append(message["participant"])
        elif kind == "participant_left":
            self.left.append(message["uuid"])
            pc = self._pcs.pop(message["uuid"], None)
            if pc is not None:
                await pc.close()
        elif kind == "offer":
            pc = self._new_peer(message["from"])
            sdp = loopback.keep_loopback_candidates(message["sdp"])
            await pc.setRemoteDescription(RTCSessionDescription(sdp, "offer"))
            await pc.setLocalDescription(await pc.createAnswer())
            await self._send(
                {"type": "answer", "to": message["from"], "sdp": pc.localDescription.sdp}
            )
        elif kind == "answer":
            sdp = loopback.keep_loopback_candidates(message["sdp"])
            await self._pcs[message["from"]].setRemoteDescription(
                RTCSessionDescription(sdp, "answer")
            )
        elif kind == "chat":
            self.chat.append(message["message"])
        elif kind == "error":
            self.errors.append(message)

    def _new_peer(self, remote_uuid: str) -> RTCPeerConnection:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        pc.addTrack(self._relay.subscribe(self.microphone))
        self._pcs[remote_uuid] = pc

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            self._listeners.append(asyncio.ensure_future(self._listen(remote_uuid, track)))

        return pc

    async def _listen(self, remote_uuid: str, track: MediaStreamTrack) -> None:
        await keep_what_is_heard(track, self.heard.setdefault(remote_uuid, []))


Heard = list[tuple[float, np.ndarray]]  # (arrival epoch s, 48 kHz mono int16) per frame


async def keep_what_is_heard(track: MediaStreamTrack, heard: Heard) -> None:
    """Append every frame of the remote audio `track` to `heard` until the track ends."""
    with contextlib.suppress(MediaStreamError):
        while True:
            frame = await track.recv()
            samples = frame.to_ndarray().reshape(-1, len(frame.layout.channels))
            heard.append((time.time(), samples.mean(axis=1).astype(np.int16)))


def heard_since(heard: Heard, since_s: float = 0.0) -> np.ndarray:
    """The frames of `heard` that arrived after epoch `since_s`, concatenated."""
    frames = [pcm for arrived, pcm in heard if arrived >= since_s]
    return np.concatenate(frames) if frames else np.zeros(0, dtype=np.int16)
