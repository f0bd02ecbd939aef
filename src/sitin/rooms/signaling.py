"""The room WebSocket protocol: one JSON object per message, `type` says what it is.

Client -> server
    join       {name, role?: "human"|"bot", pass?, passcode?, invite?}   must be the first message
    offer      {to, sdp}                           relayed to participant `to`
    answer     {to, sdp}                           relayed to participant `to`
    candidate  {to, candidate}                     relayed to participant `to`
    chat       {text, to?}                         to everyone, or privately to participant `to`
    recording  {active}                            bots only: whether the bot records now
    bye        {}                                  leaving now (also implied by closing the socket)

Server -> client
    welcome             {you, participants, chat}  participants = everyone else already there
    participant_joined  {participant}
    participant_left    {uuid}
    recording           {uuid, active}             a bot started or stopped recording
    offer/answer/candidate {from, ...}             as sent, with the sender's uuid
    chat                {message: {id, from, from_name, text, timestamp_ms, to}}
    error               {reason, detail}           before a refusal's close, or for one message

Media is peer to peer in a full mesh. The newcomer makes the offers (one per participant already
in the room); everyone else only answers, so two peers never offer to each other at once.
A participant is a dict `{uuid, name, role, is_host, joined_at_ms, recording}`. Role "bot" needs
the pass this server issued to its bot (``rooms.admission``). A connection that sends faster than
the room's rate limits, or reads too slowly to keep its outbox under its bound, is closed with a
4xxx code and a reason naming the setting.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass
from typing import Any

from fastapi import WebSocket, WebSocketDisconnect

from sitin.rooms.admission import Refused, admit
from sitin.rooms.limits import RoomLimits
from sitin.rooms.registry import (
    MAX_CHAT_LENGTH,
    Participant,
    Room,
    RoomFull,
    RoomRegistry,
    is_valid_room_name,
)

log = logging.getLogger(__name__)

JOIN_TIMEOUT_S = 10.0
RELAYED_TYPES = {"offer", "answer", "candidate"}
MAX_CLOSE_REASON_BYTES = 123  # RFC 6455: a close frame's payload is at most 125 bytes

# WebSocket close codes (4000-4999 are free for applications).
CLOSE_BAD_JOIN = 4400
CLOSE_NEEDS_ACCESS = 4401  # closed room: passcode or invite missing or wrong
CLOSE_NOT_A_BOT = 4403
CLOSE_ROOM_NOT_FOUND = 4404
CLOSE_ROOM_FULL = 4409
CLOSE_RATE_LIMITED = 4429
CLOSE_TOO_SLOW = 4503  # the participant's outbox passed its bound
CLOSE_MESSAGE_TOO_BIG = 1009  # RFC 6455
REFUSAL_CODES = {
    "bad_name": CLOSE_BAD_JOIN,
    "bad_role": CLOSE_BAD_JOIN,
    "name_taken": CLOSE_BAD_JOIN,
    "not_a_bot": CLOSE_NOT_A_BOT,
    "bot_already_here": CLOSE_NOT_A_BOT,
    "passcode_required": CLOSE_NEEDS_ACCESS,
    "wrong_passcode": CLOSE_NEEDS_ACCESS,
    "invite_required": CLOSE_NEEDS_ACCESS,
    "invite_refused": CLOSE_NEEDS_ACCESS,
}


class MessageTooBig(Exception):
    pass


@dataclass(frozen=True)
class Closing:
    """Why the server ends a participant's connection."""

    code: int
    reason: str
    detail: str


async def serve_participant(websocket: WebSocket, registry: RoomRegistry, room_name: str) -> None:
    """Run one participant's connection from join to leave."""
    await websocket.accept()
    if not is_valid_room_name(room_name):
        await _refuse(websocket, Closing(CLOSE_ROOM_NOT_FOUND, "room_not_found", "invalid name"))
        return
    join = await _receive_join(websocket, registry.limits)
    if join is None:
        return
    decision = admit(registry, room_name, join)
    if isinstance(decision, Refused):
        code = REFUSAL_CODES.get(decision.reason, CLOSE_BAD_JOIN)
        await _refuse(websocket, Closing(code, decision.reason, decision.detail))
        return
    try:
        room, me = registry.join(room_name, decision.name, decision.role, decision.bot_id)
    except RoomFull:
        await _refuse(websocket, Closing(CLOSE_ROOM_FULL, "room_full", "no free place"))
        return
    log.info("room %s: participant %s joined (%s)", room_name, me.uuid, me.role)
    sender = asyncio.create_task(_send_outbox(websocket, me))
    me.send(
        {
            "type": "welcome",
            "you": me.public(),
            "participants": [p.public() for p in room.others(me.uuid)],
            "chat": [m.public() for m in room.chat_visible_to(me)],
        }
    )
    _broadcast(room, {"type": "participant_joined", "participant": me.public()}, skip=me.uuid)
    closing: Closing | None = None
    try:
        closing = await _until_bye_or_overflow(websocket, room, me, registry.limits)
    finally:
        registry.leave(room, me.uuid)
        _broadcast(room, {"type": "participant_left", "uuid": me.uuid})
        log.info(
            "room %s: participant %s left%s",
            room_name,
            me.uuid,
            f" ({closing.reason})" if closing else "",
        )
        if closing is not None and closing.code != CLOSE_TOO_SLOW:
            me.send({"type": "error", "reason": closing.reason, "detail": closing.detail})
        await _drain_and_stop(sender, me)
        with contextlib.suppress(Exception):
            if closing is None:
                await websocket.close()
            else:
                await websocket.close(closing.code, _close_reason(closing))


async def _receive_join(websocket: WebSocket, limits: RoomLimits) -> dict[str, Any] | None:
    try:
        message = await asyncio.wait_for(_receive(websocket, limits), JOIN_TIMEOUT_S)
    except (TimeoutError, WebSocketDisconnect):
        with contextlib.suppress(Exception):
            await websocket.close(CLOSE_BAD_JOIN)
        return None
    except MessageTooBig:
        await _refuse(websocket, _too_big(limits))
        return None
    if not message or message.get("type") != "join":
        await _refuse(websocket, Closing(CLOSE_BAD_JOIN, "join_expected", "send join first"))
        return None
    return message


async def _until_bye_or_overflow(
    websocket: WebSocket, room: Room, me: Participant, limits: RoomLimits
) -> Closing | None:
    """Serve the participant's messages until they leave, break a limit, or read too slowly."""
    receiving = asyncio.create_task(_receive_until_bye(websocket, room, me, limits))
    overflow = asyncio.create_task(me.outbox.overflowed.wait())
    try:
        await asyncio.wait({receiving, overflow}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        overflow.cancel()
        if not receiving.done():
            receiving.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await receiving
    if me.outbox.overflowed.is_set():
        detail = (
            f"more than {limits.send_buffer_bytes} bytes waited to be read "
            "(SITIN_ROOM_SEND_BUFFER_BYTES)"
        )
        return Closing(CLOSE_TOO_SLOW, "too_slow", detail)
    return receiving.result()


async def _receive_until_bye(
    websocket: WebSocket, room: Room, me: Participant, limits: RoomLimits
) -> Closing | None:
    while True:
        try:
            message = await _receive(websocket, limits)
        except WebSocketDisconnect:
            return None
        except MessageTooBig:
            return _too_big(limits)
        kind = message.get("type") if message else None
        if kind == "bye":
            return None
        over = _over_rate(me, kind, limits)
        if over is not None:
            return over
        if kind in RELAYED_TYPES:
            _relay(room, me, message)
        elif kind == "chat":
            _chat(room, me, message)
        elif kind == "recording":
            _recording(room, me, message)
        else:
            _error(me, "unknown_message", "expected offer, answer, candidate, chat or bye")


def _over_rate(me: Participant, kind: object, limits: RoomLimits) -> Closing | None:
    """Humans are held to the room's rates (this server's bots are not: they send what the
    API asked of them)."""
    if me.role == "bot":
        return None
    if kind == "chat":
        if me.chat_rate.allow():
            return None
        detail = (
            f"chat: more than {limits.chat_burst} at once or {limits.chat_per_second:g}/s "
            "(SITIN_ROOM_CHAT_BURST, SITIN_ROOM_CHAT_PER_SECOND)"
        )
        return Closing(CLOSE_RATE_LIMITED, "rate_limited", detail)
    if me.signaling_rate.allow():
        return None
    detail = (
        f"signaling: more than {limits.signaling_burst} at once or "
        f"{limits.signaling_per_second:g}/s (SITIN_ROOM_SIGNALING_BURST, _PER_SECOND)"
    )
    return Closing(CLOSE_RATE_LIMITED, "rate_limited", detail)


def _relay(room: Room, me: Participant, message: dict[str, Any]) -> None:
    to = message.get("to")
    target = room.participants.get(to) if isinstance(to, str) else None
    if target is None or target is me:
        _error(me, "unknown_participant", "no such other participant in this room")
        return
    relayed = {k: v for k, v in message.items() if k not in ("to", "from")}
    target.send({**relayed, "from": me.uuid})


def _chat(room: Room, me: Participant, message: dict[str, Any]) -> None:
    text = message.get("text")
    to = message.get("to")
    if not isinstance(text, str) or not 0 < len(text) <= MAX_CHAT_LENGTH:
        _error(me, "bad_chat", f"text must be 1 to {MAX_CHAT_LENGTH} characters")
        return
    if to is not None and (not isinstance(to, str) or to not in room.participants or to == me.uuid):
        _error(me, "unknown_participant", "no such other participant in this room")
        return
    chat = {"type": "chat", "message": room.add_chat(me, text, to).public()}
    if to is None:
        _broadcast(room, chat)
    else:
        room.participants[to].send(chat)
        me.send(chat)


def _recording(room: Room, me: Participant, message: dict[str, Any]) -> None:
    active = message.get("active")
    if me.role != "bot":
        _error(me, "not_a_bot", "only a bot says whether it records")
    elif not isinstance(active, bool):
        _error(me, "bad_recording", "active is true or false")
    elif active != me.recording:
        me.recording = active
        _broadcast(room, {"type": "recording", "uuid": me.uuid, "active": active})


def _broadcast(room: Room, message: dict[str, Any], skip: str | None = None) -> None:
    text = json.dumps(message)
    for participant in room.participants.values():
        if participant.uuid != skip:
            participant.outbox.put(text)


def _error(me: Participant, reason: str, detail: str) -> None:
    me.send({"type": "error", "reason": reason, "detail": detail})


async def _receive(websocket: WebSocket, limits: RoomLimits) -> dict[str, Any] | None:
    """The next message as a dict, or None when it is not a JSON object (a binary message is
    not one either). MessageTooBig over the limit: the server refuses those while reading when
    it is configured by ``api.app.server_options``; this holds under any server."""
    message = await websocket.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000))
    text = message.get("text")
    if text is None:
        size = len(message.get("bytes") or b"")
    else:
        size = len(text) if len(text) * 4 <= limits.max_message_bytes else len(text.encode())
    if size > limits.max_message_bytes:
        raise MessageTooBig
    try:
        parsed = json.loads(text) if text is not None else None
    except (ValueError, RecursionError):
        return None
    return parsed if isinstance(parsed, dict) else None


async def _send_outbox(websocket: WebSocket, me: Participant) -> None:
    while True:
        text = await me.outbox.get()
        try:
            await websocket.send_text(text)
        except Exception:  # the socket is gone; the receive loop will notice and clean up
            return


async def _drain_and_stop(sender: asyncio.Task[None], me: Participant) -> None:
    """Give queued messages (e.g. errors) a moment to go out, then stop the sender."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(0.5):
            while not me.outbox.empty() and not sender.done():
                await asyncio.sleep(0.01)
    sender.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await sender


def _too_big(limits: RoomLimits) -> Closing:
    detail = f"at most {limits.max_message_bytes} bytes per message (SITIN_MAX_WS_MESSAGE_BYTES)"
    return Closing(CLOSE_MESSAGE_TOO_BIG, "message_too_big", detail)


def _close_reason(closing: Closing) -> str:
    reason = f"{closing.reason}: {closing.detail}".encode()[:MAX_CLOSE_REASON_BYTES]
    return reason.decode(errors="ignore")


async def _refuse(websocket: WebSocket, closing: Closing) -> None:
    message = {"type": "error", "reason": closing.reason, "detail": closing.detail}
    with contextlib.suppress(Exception):
        await websocket.send_text(json.dumps(message))
        await websocket.close(closing.code, _close_reason(closing))
