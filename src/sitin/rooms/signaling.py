"""The room WebSocket protocol: one JSON object per message, `type` says what it is.

Client -> server
    join       {name, role?: "human"|"bot"}        must be the first message
    offer      {to, sdp}                           relayed to participant `to`
    answer     {to, sdp}                           relayed to participant `to`
    candidate  {to, candidate}                     relayed to participant `to`
    chat       {text, to?}                         to everyone, or privately to participant `to`
    bye        {}                                  leaving now (also implied by closing the socket)

Server -> client
    welcome             {you, participants, chat}  participants = everyone else already there
    participant_joined  {participant}
    participant_left    {uuid}
    offer/answer/candidate {from, ...}             as sent, with the sender's uuid
    chat                {message: {id, from, from_name, text, timestamp_ms, to}}
    error               {reason, detail}

Media is peer to peer in a full mesh. The newcomer makes the offers (one per participant already
in the room); everyone else only answers, so two peers never offer to each other at once.
A participant is a dict `{uuid, name, role, is_host, joined_at_ms}`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from fastapi import WebSocket, WebSocketDisconnect

from sitin.rooms.registry import (
    MAX_CHAT_LENGTH,
    MAX_NAME_LENGTH,
    Participant,
    Room,
    RoomFull,
    RoomLimits,
    RoomRegistry,
    is_valid_room_name,
)

log = logging.getLogger(__name__)

JOIN_TIMEOUT_S = 10.0
RELAYED_TYPES = {"offer", "answer", "candidate"}

# WebSocket close codes (4000-4999 are free for applications).
CLOSE_ROOM_NOT_FOUND = 4404
CLOSE_ROOM_FULL = 4409
CLOSE_BAD_JOIN = 4400
CLOSE_MESSAGE_TOO_BIG = 1009  # RFC 6455


class MessageTooBig(Exception):
    pass


async def serve_participant(websocket: WebSocket, registry: RoomRegistry, room_name: str) -> None:
    """Run one participant's connection from join to leave."""
    await websocket.accept()
    if not is_valid_room_name(room_name):
        await _refuse(websocket, CLOSE_ROOM_NOT_FOUND, "room_not_found", "invalid room name")
        return
    join = await _receive_join(websocket, registry.limits)
    if join is None:
        return
    display_name, role = join
    try:
        room, me = registry.join(room_name, display_name, role)
    except RoomFull:
        await _refuse(websocket, CLOSE_ROOM_FULL, "room_full", "the room has no free place")
        return
    log.info("room %s: participant %s joined (%s)", room_name, me.uuid, role)
    sender = asyncio.create_task(_send_outbox(websocket, me))
    me.outbox.put_nowait(
        {
            "type": "welcome",
            "you": me.public(),
            "participants": [p.public() for p in room.others(me.uuid)],
            "chat": [m.public() for m in room.chat_visible_to(me)],
        }
    )
    _broadcast(room, {"type": "participant_joined", "participant": me.public()}, skip=me.uuid)
    try:
        await _receive_until_bye(websocket, room, me, registry.limits)
    finally:
        registry.leave(room, me.uuid)
        _broadcast(room, {"type": "participant_left", "uuid": me.uuid})
        log.info("room %s: participant %s left", room_name, me.uuid)
        await _drain_and_stop(sender, me)
        with contextlib.suppress(Exception):
            await websocket.close()


async def _receive_join(websocket: WebSocket, limits: RoomLimits) -> tuple[str, str] | None:
    try:
        message = await asyncio.wait_for(_receive(websocket, limits), JOIN_TIMEOUT_S)
    except (TimeoutError, WebSocketDisconnect):
        with contextlib.suppress(Exception):
            await websocket.close(CLOSE_BAD_JOIN)
        return None
    except MessageTooBig:
        await _refuse_too_big(websocket, limits)
        return None
    name = str(message.get("name", "")).strip() if message else ""
    role = message.get("role", "human") if message else None
    if not message or message.get("type") != "join":
        await _refuse(websocket, CLOSE_BAD_JOIN, "join_expected", "send join first")
    elif not 0 < len(name) <= MAX_NAME_LENGTH:
        await _refuse(websocket, CLOSE_BAD_JOIN, "bad_name", f"1 to {MAX_NAME_LENGTH} characters")
    elif role not in ("human", "bot"):
        await _refuse(websocket, CLOSE_BAD_JOIN, "bad_role", "role is human or bot")
    else:
        return name, role
    return None


async def _receive_until_bye(
    websocket: WebSocket, room: Room, me: Participant, limits: RoomLimits
) -> None:
    while True:
        try:
            message = await _receive(websocket, limits)
        except WebSocketDisconnect:
            return
        except MessageTooBig:
            await _refuse_too_big(websocket, limits)
            return
        kind = message.get("type") if message else None
        if kind == "bye":
            return
        if kind in RELAYED_TYPES:
            _relay(room, me, message)
        elif kind == "chat":
            _chat(room, me, message)
        else:
            _error(me, "unknown_message", "expected offer, answer, candidate, chat or bye")


def _relay(room: Room, me: Participant, message: dict[str, Any]) -> None:
    target = room.participants.get(str(message.get("to")))
    if target is None or target is me:
        _error(me, "unknown_participant", f"no participant {message.get('to')!r} in this room")
        return
    relayed = {k: v for k, v in message.items() if k != "to"}
    target.outbox.put_nowait({**relayed, "from": me.uuid})


def _chat(room: Room, me: Participant, message: dict[str, Any]) -> None:
    text = message.get("text")
    to = message.get("to")
    if not isinstance(text, str) or not 0 < len(text) <= MAX_CHAT_LENGTH:
        _error(me, "bad_chat", f"text must be 1 to {MAX_CHAT_LENGTH} characters")
        return
    if to is not None and (to not in room.participants or to == me.uuid):
        _error(me, "unknown_participant", f"no other participant {to!r} in this room")
        return
    chat = {"type": "chat", "message": room.add_chat(me, text, to).public()}
    if to is None:
        _broadcast(room, chat)
    else:
        room.participants[to].outbox.put_nowait(chat)
        me.outbox.put_nowait(chat)


def _broadcast(room: Room, message: dict[str, Any], skip: str | None = None) -> None:
    for participant in room.participants.values():
        if participant.uuid != skip:
            participant.outbox.put_nowait(message)


def _error(me: Participant, reason: str, detail: str) -> None:
    me.outbox.put_nowait({"type": "error", "reason": reason, "detail": detail})


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
        message = await me.outbox.get()
        try:
            await websocket.send_text(json.dumps(message))
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


async def _refuse_too_big(websocket: WebSocket, limits: RoomLimits) -> None:
    detail = f"at most {limits.max_message_bytes} bytes per message (SITIN_MAX_WS_MESSAGE_BYTES)"
    await _refuse(websocket, CLOSE_MESSAGE_TOO_BIG, "message_too_big", detail)


async def _refuse(websocket: WebSocket, code: int, reason: str, detail: str) -> None:
    with contextlib.suppress(Exception):
        await websocket.send_text(json.dumps({"type": "error", "reason": reason, "detail": detail}))
        await websocket.close(code)
