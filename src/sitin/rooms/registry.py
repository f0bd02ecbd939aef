"""Who is in which local room, and what was said in its chat. In memory, one server process.

A room exists while someone is in it: the first join creates it, the last leave removes it. The
first human to join is the host for the room's lifetime; when the host leaves nobody replaces them.
A bot is a participant that came with a pass this server issued (``rooms.passes``); everyone else
is a human, whatever they call themselves.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

from sitin.rooms.limits import Outbox, RateLimit, RoomLimits
from sitin.rooms.passes import RoomPasses

ROOM_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
MAX_PARTICIPANTS = 8  # full mesh: every browser sends its audio to every other participant
MAX_NAME_LENGTH = 64
MAX_CHAT_LENGTH = 10_000
CHAT_HISTORY = 1_000

Role = Literal["human", "bot"]
AccessMode = Literal["open", "passcode", "invite"]


class RoomFull(Exception):
    pass


@dataclass(frozen=True)
class RoomAccess:
    """Who may join as a human (SITIN_ROOM_ACCESS): anyone who reaches the server ("open", the
    default), whoever gives the passcode or an invite ("passcode"), or only with an invite
    link for that room ("invite"). Bots always need their pass."""

    mode: AccessMode = "open"
    passcode: str | None = None
    invite_seconds: int = 7 * 24 * 3600  # how long `sitin rooms invite` links work by default


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
    limits: RoomLimits = field(default_factory=RoomLimits, repr=False)
    bot_id: str | None = None  # the server's id of the bot (from its pass), never sent to others
    recording: bool = False  # a bot says so while it records; the room page shows it
    # JSON text for this participant's WebSocket, written by its own sender task.
    outbox: Outbox = field(init=False, repr=False)
    chat_rate: RateLimit = field(init=False, repr=False)
    signaling_rate: RateLimit = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.outbox = Outbox(self.limits.send_buffer_bytes)
        self.chat_rate = RateLimit(self.limits.chat_burst, self.limits.chat_per_second)
        self.signaling_rate = RateLimit(
            self.limits.signaling_burst, self.limits.signaling_per_second
        )

    def send(self, message: dict[str, Any]) -> bool:
        """Queue a message for this participant; False when their outbox is full."""
        return self.outbox.put(json.dumps(message))  # ASCII: characters are bytes

    def public(self) -> dict[str, Any]:
        return {
            "uuid": self.uuid,
            "name": self.name,
            "role": self.role,
            "is_host": self.is_host,
            "joined_at_ms": self.joined_at_ms,
            "recording": self.recording,
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

    limits: RoomLimits = field(default_factory=RoomLimits)

    def add(self, name: str, role: Role, bot_id: str | None = None) -> Participant:
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
            limits=self.limits,
            bot_id=bot_id,
        )
        self.participants[participant.uuid] = participant
        return participant

    def bot(self, bot_id: str) -> Participant | None:
        return next((p for p in self.participants.values() if p.bot_id == bot_id), None)

    def bot_named(self, name: str) -> Participant | None:
        """The bot in the room that goes by ``name`` (case and spacing aside)."""
        wanted = _comparable(name)
        return next(
            (
                p
                for p in self.participants.values()
                if p.role == "bot" and _comparable(p.name) == wanted
            ),
            None,
        )

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


def _comparable(name: str) -> str:
    return " ".join(name.casefold().split())


class RoomRegistry:
    """All live rooms of this server process, and the rules for getting in."""

    def __init__(
        self,
        passes: RoomPasses,
        limits: RoomLimits | None = None,
        access: RoomAccess | None = None,
    ) -> None:
        self.rooms: dict[str, Room] = {}
        self.passes = passes
        self.limits = limits or RoomLimits()
        self.access = access or RoomAccess()

    def join(
        self, room_name: str, name: str, role: Role, bot_id: str | None = None
    ) -> tuple[Room, Participant]:
        room = self.rooms.get(room_name) or Room(room_name, limits=self.limits)
        participant = room.add(name, role, bot_id)
        self.rooms[room_name] = room
        return room, participant

    def leave(self, room: Room, participant_uuid: str) -> Participant | None:
        participant = room.participants.pop(participant_uuid, None)
        if not room.participants and self.rooms.get(room.name) is room:
            del self.rooms[room.name]
        return participant
