"""RoomAdapter: the bot as an aiortc peer in a sitin local room (`http(s)://host:port/rooms/<name>`).

It speaks the protocol in sitin/rooms/signaling.py over a WebSocket, holds one peer connection
per participant, and turns what arrives into MeetingEvents: joins and leaves, chat, each
participant's audio as 48 kHz mono int16 frames, and speaking on/off. Each peer connection also
carries the bot's voice (adapters/outbound.py): silence until something is played.

The room lets it in as a bot only with the pass its server issues it (``room_pass``, asked for
right before connecting); while the bot records, the room shows everyone that it does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import websockets
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack
from aiortc.sdp import candidate_from_sdp

from sitin.outbound import OutboundGuard, Purpose, RefusedTarget
from sitin.runtime.adapters import loopback
from sitin.runtime.adapters.base import (
    JOIN_DENIED,
    MEETING_FULL,
    MEETING_NOT_FOUND,
    UNABLE_TO_CONNECT,
    BotSpoke,
    ChatReceived,
    CouldNotJoin,
    EventSink,
    MeetingAdapter,
    MeetingEnded,
    MeetingEvent,
    ParticipantJoined,
    ParticipantLeft,
    RoomPass,
)
from sitin.runtime.adapters.loop_decoding import decode_on_the_loop
from sitin.runtime.adapters.media import consume_audio, now_ms
from sitin.runtime.adapters.outbound import OutboundAudio, OutboundVoice

log = logging.getLogger(__name__)

JOIN_TIMEOUT_S = 10.0
CLOSE_CODE_REASONS = {4403: JOIN_DENIED, 4404: MEETING_NOT_FOUND, 4409: MEETING_FULL}
REFUSAL_REASONS = {
    "room_not_found": MEETING_NOT_FOUND,
    "room_full": MEETING_FULL,
    "not_a_bot": JOIN_DENIED,
    "bot_already_here": JOIN_DENIED,
}


def room_of(meeting_url: str) -> tuple[str, str]:
    """`http(s)://host/rooms/<name>[?…]` -> (`ws(s)://host/rooms/<name>/ws`, `<name>`)."""
    parts = urlsplit(meeting_url)
    segments = [s for s in parts.path.split("/") if s]
    if parts.scheme not in ("http", "https") or len(segments) != 2 or segments[0] != "rooms":
        raise CouldNotJoin(MEETING_NOT_FOUND, "expected http(s)://host/rooms/<name>")
    scheme = "wss" if parts.scheme == "https" else "ws"
    return urlunsplit((scheme, parts.netloc, f"/rooms/{segments[1]}/ws", "", "")), segments[1]


@dataclass
class _Remote:
    """Another participant as the bot sees it."""

    info: ParticipantJoined
    is_human: bool
    pc: RTCPeerConnection | None = None
    voice: MediaStreamTrack | None = None  # the bot's voice sent to this participant
    tasks: set[asyncio.Task[None]] = field(default_factory=set)


class RoomAdapter(OutboundVoice, MeetingAdapter):
    def __init__(
        self,
        meeting_url: str,
        bot_name: str,
        sink: EventSink,
        *,
        guard: OutboundGuard,
        room_pass: RoomPass,
    ) -> None:
        self.meeting_url = meeting_url
        self.bot_name = bot_name
        self._guard = guard
        self._room_pass = room_pass
        self._recording = False
        self.uuid: str | None = None  # the bot's own uuid in the room, known after join()
        self._sink = sink
        self._loopback = loopback.is_loopback_url(meeting_url)
        self._ws: websockets.ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._remotes: dict[str, _Remote] = {}
        self._had_humans = False
        self._leaving = False
        self.voice = OutboundAudio(lambda pcm, at_ms: self._emit(BotSpoke(pcm, at_ms)))

    @property
    def participants(self) -> list[ParticipantJoined]:
        """Everyone in the room except the bot."""
        return [remote.info for remote in self._remotes.values()]

    async def join(self) -> None:
        url, room_name = room_of(self.meeting_url)
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
            join = {"type": "join", "name": self.bot_name, "role": "bot"}
            await self._send({**join, "pass": self._room_pass(room_name)})
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
        await self.voice.stop()
        log.info("left room")

    async def set_recording(self, active: bool) -> None:
        if self._ws is None or active == self._recording:
            return
        self._recording = active
        with contextlib.suppress(websockets.ConnectionClosed):  # the reader reports the loss
            await self._send({"type": "recording", "active": active})

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
        except ValueError as exc:
            await self._ws.close()
            raise CouldNotJoin(UNABLE_TO_CONNECT, "the room did not answer in JSON") from exc
        except websockets.ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd else None
            reason = exc.rcvd.reason if exc.rcvd else ""
            raise CouldNotJoin(CLOSE_CODE_REASONS.get(code, UNABLE_TO_CONNECT), reason) from exc
        except TimeoutError as exc:
            await self._ws.close()
            raise CouldNotJoin(UNABLE_TO_CONNECT, "no welcome from the room") from exc
        if not isinstance(message, dict):
            await self._ws.close()
            raise CouldNotJoin(UNABLE_TO_CONNECT, "the room's answer is not a message")
        if message.get("type") != "welcome":
            await self._ws.close()
            reason = REFUSAL_REASONS.get(message.get("reason"), UNABLE_TO_CONNECT)
            detail = f"{message.get('reason')}: {message.get('detail')}"[:300]
            raise CouldNotJoin(reason, detail)
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
        if remote.voice is not None:
            remote.voice.stop()
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
        if remote.voice is not None:
            remote.voice.stop()
        pc = remote.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            if track.kind == "audio":
                decode_on_the_loop(pc, track)
                task = asyncio.create_task(consume_audio(remote_uuid, track, self._emit))
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
        self._speak_to(remote_uuid, pc)  # one sendrecv audio transceiver
        await pc.setLocalDescription(await pc.createOffer())
        await self._send({"type": "offer", "to": remote_uuid, "sdp": pc.localDescription.sdp})

    async def _answer(self, remote_uuid: str, sdp: str) -> None:
        pc = self._new_peer(remote_uuid)
        await pc.setRemoteDescription(self._remote_description(sdp, "offer"))
        self._speak_to(remote_uuid, pc)  # joins the offered audio transceiver
        await pc.setLocalDescription(await pc.createAnswer())
        await self._send({"type": "answer", "to": remote_uuid, "sdp": pc.localDescription.sdp})

    def _speak_to(self, remote_uuid: str, pc: RTCPeerConnection) -> None:
        remote = self._remotes[remote_uuid]
        remote.voice = self.voice.track()
        pc.addTrack(remote.voice)

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

    def _emit(self, event: MeetingEvent) -> None:
        try:
            self._sink(event)
        except Exception:
            log.exception("event sink failed on %s", type(event).__name__)
