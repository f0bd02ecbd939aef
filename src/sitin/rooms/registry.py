"""Who is in which local room, and what was said in its chat. In memory, one server process.

A room exists while someone is in it: the first join creates it, the last leave removes it. The
first human to join is the host for the room's lifetime; when the host leaves nobody replaces them.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

ROOM_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
MAX_PARTICIPANTS = 8  # full mesh: every browser sends its audio to every other participant
MAX_NAME_LENGTH = 64
MAX_CHAT_LENGTH = 10_000
CHAT_HISTORY = 1_000

Role = Literal["human", "bot"]


class RoomFull(Exception):
    pass


@dataclass(frozen=True)
class RoomLimits:
    """What one participant's connection may send (the server's settings fill it in)."""

    max_message_bytes: int = 256 * 1024  # SITIN_MAX_WS_MESSAGE_BYTES


def is_valid_room_name(name: str) -> bool:
    return ROOM_NAME.fullmatch(name) is not None


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class Participant:
    uuid: str
    name: str
    role: Role
    is_host: bool
    joined_at_ms: int
    # Messages for this participant's WebSocket, written by its own sender task. Unbounded: a
    # stalled client is dropped by the server's WebSocket keepalive ping, not by us.
    outbox: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue, repr=False)

    def public(self) -> dict[str, Any]:
        return {
            "uuid": self.uuid,
            "name": self.name,
            "role": self.role,
            "is_host": self.is_host,
            "joined_at_ms": self.joined_at_ms,
        }


@dataclass(frozen=True)
class ChatMessage:
    id: str
    sender_uuid: str
    sender_name: str
    text: str
    timestamp_ms: int
    to: str | None  # a participant uuid for a private message, None for everyone

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "from": self.sender_uuid,
            "from_name": self.sender_name,
            "text": self.text,
            "timestamp_ms": self.timestamp_ms,
            "to": self.to,
        }


@dataclass
class Room:
    name: str
    participants: dict[str, Participant] = field(default_factory=dict)
    chat: deque[ChatMessage] = field(default_factory=lambda: deque(maxlen=CHAT_HISTORY))
    has_host: bool = False

    def add(self, name: str, role: Role) -> Participant:
        if len(self.participants) >= MAX_PARTICIPANTS:
            raise RoomFull(self.name)
        becomes_host = role == "human" and not self.has_host
        self.has_host = self.has_host or becomes_host
        participant = Participant(
            uuid=str(uuid.uuid4()),
            name=name,
            role=role,
            is_host=becomes_host,
            joined_at_ms=now_ms(),
        )
        self.participants[participant.uuid] = participant
        return participant

    def others(self, participant_uuid: str) -> list[Participant]:
        return [p for p in self.participants.values() if p.uuid != participant_uuid]

    def add_chat(self, sender: Participant, text: str, to: str | None) -> ChatMessage:
        message = ChatMessage(
            id=str(uuid.uuid4()),
            sender_uuid=sender.uuid,
            sender_name=sender.name,
            text=text,
            timestamp_ms=now_ms(),
            to=to,
        )
        self.chat.append(message)
        return message

    def chat_visible_to(self, participant: Participant) -> list[ChatMessage]:
        """Messages sent since the participant joined that were meant for them."""
        return [
            m
            for m in self.chat
            if m.timestamp_ms >= participant.joined_at_ms
            and (m.to is None or participant.uuid in (m.to, m.sender_uuid))
        ]


class RoomRegistry:
    """All live rooms of this server process."""

    def __init__(self, limits: RoomLimits | None = None) -> None:
        self.rooms: dict[str, Room] = {}
        self.limits = limits or RoomLimits()

    def join(self, room_name: str, name: str, role: Role) -> tuple[Room, Participant]:
        room = self.rooms.get(room_name) or Room(room_name)
        participant = room.add(name, role)
        self.rooms[room_name] = room
        return room, participant

    def leave(self, room: Room, participant_uuid: str) -> Participant | None:
        participant = room.participants.pop(participant_uuid, None)
        if not room.participants and self.rooms.get(room.name) is room:
            del self.rooms[room.name]
        return participant
