"""The boundary every meeting platform adapter implements (local room now; Zoom/Meet/Teams later).

An adapter joins one meeting as the bot, reports what happens there as the frozen event
dataclasses below (delivered to the `EventSink` callback on the adapter's event loop), sends chat,
and leaves. It never touches the database or storage: the runtime decides what to keep.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

SAMPLE_RATE = 48_000

# Reasons for CouldNotJoin, matching Attendee's `could_not_join` sub-types where they exist.
UNABLE_TO_CONNECT = "unable_to_connect_to_meeting"
MEETING_NOT_FOUND = "meeting_not_found"
MEETING_FULL = "meeting_full"


class CouldNotJoin(Exception):
    """The bot could not get into the meeting; `reason` is one of the constants above."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class ParticipantJoined:
    uuid: str
    name: str
    is_host: bool
    timestamp_ms: int
    user_uuid: str | None = None
    is_bot: bool = False


@dataclass(frozen=True)
class ParticipantLeft:
    uuid: str
    timestamp_ms: int


@dataclass(frozen=True)
class ChatReceived:
    uuid: str  # sender
    text: str
    timestamp_ms: int
    to: Literal["everyone", "only_bot"] = "everyone"


@dataclass(frozen=True)
class AudioFrame:
    """One chunk of one participant's audio: 48 kHz mono int16, stamped in epoch milliseconds."""

    uuid: str
    pcm: np.ndarray = field(repr=False)
    timestamp_ms: float

    @property
    def duration_ms(self) -> float:
        return len(self.pcm) * 1000 / SAMPLE_RATE


@dataclass(frozen=True)
class SpeechStart:
    uuid: str
    timestamp_ms: int


@dataclass(frozen=True)
class SpeechStop:
    uuid: str
    timestamp_ms: int


@dataclass(frozen=True)
class MeetingEnded:
    reason: Literal["room_empty", "connection_lost"]
    timestamp_ms: int


MeetingEvent = (
    ParticipantJoined
    | ParticipantLeft
    | ChatReceived
    | AudioFrame
    | SpeechStart
    | SpeechStop
    | MeetingEnded
)
EventSink = Callable[[MeetingEvent], None]


class MeetingAdapter(abc.ABC):
    """One bot in one meeting. Events go to the sink given at construction."""

    @abc.abstractmethod
    async def join(self) -> None:
        """Enter the meeting; raise CouldNotJoin when that is impossible."""

    @abc.abstractmethod
    async def leave(self) -> None:
        """Leave the meeting and release every connection. Safe to call more than once."""

    @abc.abstractmethod
    async def send_chat(self, text: str, to_uuid: str | None = None) -> None:
        """Send a chat message to everyone, or only to the participant `to_uuid`."""
