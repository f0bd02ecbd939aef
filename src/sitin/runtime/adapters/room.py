"""RoomAdapter: the bot as an aiortc peer in a sitin local room (`http(s)://host:port/rooms/<name>`).

It speaks the protocol in sitin/rooms/signaling.py over a WebSocket, holds one peer connection
per participant (receive only), and turns what arrives into MeetingEvents: joins and leaves,
chat, each participant's audio as 48 kHz mono int16 frames, and speaking on/off.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import av
import numpy as np
import websockets
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.sdp import candidate_from_sdp

from sitin.core.audio import MEETING_SAMPLE_RATE
from sitin.outbound import OutboundGuard, Purpose, RefusedTarget
from sitin.runtime.adapters import loopback
from sitin.runtime.adapters.base import (
    MEETING_FULL,
    MEETING_NOT_FOUND,
    UNABLE_TO_CONNECT,
    AudioFrame,
    ChatReceived,
    CouldNotJoin,
    EventSink,
    MeetingAdapter,
    MeetingEnded,
    MeetingEvent,
    ParticipantJoined,
    ParticipantLeft,
)
from sitin.runtime.adapters.speaking import SpeakingDetector

log = logging.getLogger(__name__)

JOIN_TIMEOUT_S = 10.0
RTP_WRAP = 2**32
RESYNC_MS = 500.0  # re-anchor a track's clock when RTP time and arrival time drift this far apart
LATE_PERSIST_MS = 1000.0  # ... and, for frames arriving late, when a steady delay lasts this long
STEADY_MS = 100.0  # a delay changing less than this is steady (a clock), more is a backlog
LATE_LIMIT_MS = 5000.0  # ... or they are this late (later than any recorder could still place)
CLOSE_CODE_REASONS = {4404: MEETING_NOT_FOUND, 4409: MEETING_FULL}
REFUSAL_REASONS = {"room_not_found": MEETING_NOT_FOUND, "room_full": MEETING_FULL}


def now_ms() -> float:
    return time.time() * 1000


def signaling_url(meeting_url: str) -> str:
    """`http(s)://host/rooms/<name>[?…]` -> `ws(s)://host/rooms/<name>/ws`."""
    parts = urlsplit(meeting_url)
    segments = [s for s in parts.path.split("/") if s]
    if parts.scheme not in ("http", "https") or len(segments) != 2 or segments[0] != "rooms":
        raise CouldNotJoin(MEETING_NOT_FOUND, "expected http(s)://host/rooms/<name>")
    scheme = "wss" if parts.scheme == "https" else "ws"
    return urlunsplit((scheme, parts.netloc, f"/rooms/{segments[1]}/ws", "", ""))


@dataclass
class _Remote:
    """Another participant as the bot sees it."""

    info: ParticipantJoined
    is_human: bool
    pc: RTCPeerConnection | None = None
    tasks: set[asyncio.Task[None]] = field(default_factory=set)


class RoomAdapter(MeetingAdapter):
    def __init__(
        self, meeting_url: str, bot_name: str, sink: EventSink, *, guard: OutboundGuard
    ) -> None:
        self.meeting_url = meeting_url
        self.bot_name = bot_name
        self._guard = guard
        self.uuid: str | None = None  # the bot's own uuid in the room, known after join()
        self._sink = sink
        self._loopback = loopback.is_loopback_url(meeting_url)
        self._ws: websockets.ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._remotes: dict[str, _Remote] = {}
        self._had_humans = False
        self._leaving = False

    @property
    def participants(self) -> list[ParticipantJoined]:
        """Everyone in the room except the bot."""
        return [remote.info for remote in self._remotes.values()]

    async def join(self) -> None:
        url = signaling_url(self.meeting_url)
        try:
            target = await self._guard.resolve_async(url, Purpose.MEETING)
        except RefusedTarget as exc:  # never contacted: nothing of the remote to report
            raise CouldNotJoin(UNABLE_TO_CONNECT, str(exc)) from None
        if self._loopback:
            loopback.use_loopback_ice()
        try:
            # to the address the guard checked (the URL's host stays in Host and TLS), no proxy
            self._ws = await websockets.connect(
                url, open_timeout=JOIN_TIMEOUT_S, proxy=None, host=target.address, port=target.port
            )
        except websockets.InvalidStatus as exc:
            reason = MEETING_NOT_FOUND if exc.response.status_code == 404 else UNABLE_TO_CONNECT
            raise CouldNotJoin(reason, f"HTTP {exc.response.status_code}") from exc
        except (OSError, TimeoutError, websockets.InvalidHandshake) as exc:
            raise CouldNotJoin(UNABLE_TO_CONNECT, type(exc).__name__) from exc
        with contextlib.suppress(websockets.ConnectionClosed):  # refusals arrive as a message
            await self._send({"type": "join", "name": self.bot_name, "role": "bot"})
        welcome = await self._receive_welcome()
        self.uuid = welcome["you"]["uuid"]
        for participant in welcome["participants"]:
            self._add_remote(participant)
        self._reader = asyncio.create_task(self._read_signaling())
        for remote_uuid in list(self._remotes):
            try:
                await self._call(remote_uuid)
            except Exception:  # one peer we cannot reach must not keep the bot out of the room
                log.exception("could not call participant %s", remote_uuid)
        log.info("joined room as %s with %d others", self.uuid, len(self._remotes))

    async def leave(self) -> None:
        if self._leaving:
            return
        self._leaving = True
        if self._ws is not None:
            with contextlib.suppress(websockets.ConnectionClosed):
                await self._send({"type": "bye"})
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        for remote_uuid in list(self._remotes):
            await self._drop_remote(remote_uuid)
        log.info("left room")

    async def send_chat(self, text: str, to_uuid: str | None = None) -> None:
        message: dict[str, Any] = {"type": "chat", "text": text}
        if to_uuid is not None:
            message["to"] = to_uuid
        await self._send(message)

    # ---- signaling ---------------------------------------------------------------------

    async def _send(self, message: dict[str, Any]) -> None:
        assert self._ws is not None, "join() first"
        await self._ws.send(json.dumps(message))

    async def _receive_welcome(self) -> dict[str, Any]:
        assert self._ws is not None
        try:
            async with asyncio.timeout(JOIN_TIMEOUT_S):
                message = json.loads(await self._ws.recv())
        except websockets.ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd else None
            raise CouldNotJoin(CLOSE_CODE_REASONS.get(code, UNABLE_TO_CONNECT)) from exc
        except TimeoutError as exc:
            await self._ws.close()
            raise CouldNotJoin(UNABLE_TO_CONNECT, "no welcome from the room") from exc
        if message.get("type") != "welcome":
            await self._ws.close()
            reason = REFUSAL_REASONS.get(message.get("reason"), UNABLE_TO_CONNECT)
            raise CouldNotJoin(reason, str(message.get("reason")))
        return message

    async def _read_signaling(self) -> None:
        assert self._ws is not None
        try:
            async for raw in self._ws:
                try:
                    await self._handle(json.loads(raw))
                except Exception:  # a bad offer from one peer must not end the meeting for us
                    log.exception("could not handle a room message")
        except websockets.ConnectionClosed:
            pass
        if not self._leaving:
            log.warning("room connection lost")
            self._emit(MeetingEnded("connection_lost", int(now_ms())))

    async def _handle(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        sender = message.get("from")
        if kind == "participant_joined":
            self._add_remote(message["participant"])
        elif kind == "participant_left":
            await self._drop_remote(message["uuid"], announce=True)
        elif kind == "offer" and sender in self._remotes:
            await self._answer(sender, message["sdp"])
        elif kind == "answer" and sender in self._remotes:
            pc = self._remotes[sender].pc
            if pc is not None:
                await pc.setRemoteDescription(self._remote_description(message["sdp"], "answer"))
        elif kind == "candidate" and sender in self._remotes:
            await self._add_candidate(sender, message.get("candidate") or {})
        elif kind == "chat":
            self._chat(message["message"])
        elif kind == "error":
            log.warning("room refused a message: %s", message.get("reason"))

    def _chat(self, message: dict[str, Any]) -> None:
        if message["from"] == self.uuid or message["to"] not in (None, self.uuid):
            return
        to = "everyone" if message["to"] is None else "only_bot"
        self._emit(ChatReceived(message["from"], message["text"], message["timestamp_ms"], to))

    # ---- participants ------------------------------------------------------------------

    def _add_remote(self, participant: dict[str, Any]) -> None:
        is_human = participant["role"] == "human"
        info = ParticipantJoined(
            uuid=participant["uuid"],
            name=participant["name"],
            is_host=participant["is_host"],
            timestamp_ms=participant["joined_at_ms"],
            is_bot=not is_human,
        )
        self._remotes[info.uuid] = _Remote(info, is_human)
        self._had_humans = self._had_humans or is_human
        self._emit(info)

    async def _drop_remote(self, remote_uuid: str, announce: bool = False) -> None:
        remote = self._remotes.pop(remote_uuid, None)
        if remote is None:
            return
        if remote.pc is not None:
            await remote.pc.close()
        for task in remote.tasks:
            task.cancel()
        await asyncio.gather(*remote.tasks, return_exceptions=True)
        if not announce:
            return
        self._emit(ParticipantLeft(remote_uuid, int(now_ms())))
        humans_left = any(r.is_human for r in self._remotes.values())
        if self._had_humans and not humans_left and not self._leaving:
            self._emit(MeetingEnded("room_empty", int(now_ms())))

    # ---- media -------------------------------------------------------------------------

    def _new_peer(self, remote_uuid: str) -> RTCPeerConnection:
        remote = self._remotes[remote_uuid]
        if remote.pc is not None:
            asyncio.create_task(remote.pc.close())
        pc = remote.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            if track.kind == "audio":
                task = asyncio.create_task(self._consume_audio(remote_uuid, track))
                remote.tasks.add(task)
                task.add_done_callback(remote.tasks.discard)

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            # ICE consent expired: the participant is gone even if the room has not said so.
            if pc.connectionState == "failed" and remote.pc is pc:
                await self._drop_remote(remote_uuid, announce=True)

        return pc

    async def _call(self, remote_uuid: str) -> None:
        pc = self._new_peer(remote_uuid)
        pc.addTransceiver("audio", direction="recvonly")
        await pc.setLocalDescription(await pc.createOffer())
        await self._send({"type": "offer", "to": remote_uuid, "sdp": pc.localDescription.sdp})

    async def _answer(self, remote_uuid: str, sdp: str) -> None:
        pc = self._new_peer(remote_uuid)
        await pc.setRemoteDescription(self._remote_description(sdp, "offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        await self._send({"type": "answer", "to": remote_uuid, "sdp": pc.localDescription.sdp})

    def _remote_description(self, sdp: str, kind: str) -> RTCSessionDescription:
        if self._loopback:
            sdp = loopback.keep_loopback_candidates(sdp)
        return RTCSessionDescription(sdp=sdp, type=kind)

    async def _add_candidate(self, remote_uuid: str, candidate: dict[str, Any]) -> None:
        line = candidate.get("candidate") or ""
        pc = self._remotes[remote_uuid].pc
        if pc is None or not line or (self._loopback and not loopback.is_loopback_candidate(line)):
            return
        ice = candidate_from_sdp(line.removeprefix("candidate:"))
        ice.sdpMid = candidate.get("sdpMid")
        ice.sdpMLineIndex = candidate.get("sdpMLineIndex")
        await pc.addIceCandidate(ice)

    async def _consume_audio(self, remote_uuid: str, track: MediaStreamTrack) -> None:
        detector = SpeakingDetector(remote_uuid)
        clock = TrackClock()
        to_mono = _MonoConverter()
        try:
            while True:
                frame = await track.recv()
                pcm = to_mono(frame)
                audio = AudioFrame(remote_uuid, pcm, clock.stamp(frame.pts, len(pcm)))
                self._emit(audio)
                speech = detector.feed(audio)
                if speech is not None:
                    self._emit(speech)
        except MediaStreamError:
            pass
        finally:
            stop = detector.finish(now_ms())
            if stop is not None:
                self._emit(stop)

    def _emit(self, event: MeetingEvent) -> None:
        try:
            self._sink(event)
        except Exception:
            log.exception("event sink failed on %s", type(event).__name__)


class TrackClock:
    """Epoch-ms capture times for one track: RTP time, anchored at the first frame's arrival.

    RTP time keeps frames evenly spaced despite network jitter. Frames stamped ahead of their
    arrival by more than RESYNC_MS (a sender restart, a jump in RTP time) re-anchor at once.
    Frames arriving late keep their RTP time while the delay keeps changing: that is a backlog
    (a stalled network path, or a process too busy to keep up, which delivers the frames late
    and then in a burst), and re-anchoring on it would cut a hole into the track and then
    overlap it. Only a delay beyond RESYNC_MS that holds steady, within STEADY_MS, for
    LATE_PERSIST_MS (the sender's clock runs slow, or it paused without advancing RTP time) —
    or a delay beyond LATE_LIMIT_MS — re-anchors.
    """

    def __init__(self, now: Callable[[], float] = now_ms) -> None:
        self._now = now
        self._anchor_ms = 0.0
        self._anchor_pts: int | None = None
        self._late_since_ms: float | None = None  # arrival time when the delay became steady
        self._steady_late_ms = 0.0  # ... and the delay then

    def stamp(self, pts: int | None, samples: int) -> float:
        arrival_ms = self._now() - samples * 1000 / MEETING_SAMPLE_RATE
        if pts is None:
            return arrival_ms
        if self._anchor_pts is not None:
            stamped = (
                self._anchor_ms + ((pts - self._anchor_pts) % RTP_WRAP) * 1000 / MEETING_SAMPLE_RATE
            )
            late_ms = arrival_ms - stamped
            if late_ms <= RESYNC_MS:
                self._late_since_ms = None
                if late_ms >= -RESYNC_MS:
                    return stamped
            elif late_ms <= LATE_LIMIT_MS:
                if self._late_since_ms is None or abs(late_ms - self._steady_late_ms) > STEADY_MS:
                    self._late_since_ms, self._steady_late_ms = arrival_ms, late_ms
                if arrival_ms - self._late_since_ms < LATE_PERSIST_MS:
                    return stamped
        self._anchor_ms, self._anchor_pts = arrival_ms, pts
        self._late_since_ms = None
        return arrival_ms


class _MonoConverter:
    """PyAV audio frame -> 48 kHz mono int16 samples (aiortc decodes Opus to s16 stereo)."""

    def __init__(self) -> None:
        self._resampler: av.AudioResampler | None = None

    def __call__(self, frame: av.AudioFrame) -> np.ndarray:
        if frame.format.name == "s16" and frame.sample_rate == MEETING_SAMPLE_RATE:
            channels = len(frame.layout.channels)
            # interleaved samples read in place: this runs for every 20 ms of every participant
            samples = np.frombuffer(frame.planes[0], np.int16, frame.samples * channels)
            if channels == 1:
                return samples.copy()
            if channels == 2:
                return ((samples[0::2].astype(np.int32) + samples[1::2]) >> 1).astype(np.int16)
            mixed = samples.reshape(-1, channels).astype(np.int32).sum(axis=1) // channels
            return mixed.astype(np.int16)
        if self._resampler is None:
            self._resampler = av.AudioResampler(
                format="s16", layout="mono", rate=MEETING_SAMPLE_RATE
            )
        parts = [f.to_ndarray().reshape(-1) for f in self._resampler.resample(frame)]
        return np.concatenate(parts) if parts else np.zeros(0, np.int16)
