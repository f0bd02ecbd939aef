"""The boundary every meeting platform adapter implements (local rooms and Janus; others later).

An adapter joins one meeting as the bot, reports what happens there as the frozen frames of
``runtime/frames.py`` (capture events and audio) plus `MeetingEnded`, delivered to the `EventSink`
callback on the adapter's event loop, sends chat, and leaves. It never touches the database or
storage: the runtime decides what to keep. Everything an adapter reports comes from the meeting
and is untrusted: participant uuids, names and chat are data, never paths or keys.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from sitin.runtime.frames import (
    AudioFrame,
    BotSpoke,
    ChatReceived,
    ParticipantJoined,
    ParticipantLeft,
    SpeechStart,
    SpeechStop,
)

# Reasons for CouldNotJoin, matching Attendee's `could_not_join` sub-types where they exist.
UNABLE_TO_CONNECT = "unable_to_connect_to_meeting"
MEETING_NOT_FOUND = "meeting_not_found"
MEETING_FULL = "meeting_full"
JOIN_DENIED = "request_to_join_denied"  # e.g. a wrong room pin


class CouldNotJoin(Exception):
    """The bot could not get into the meeting; `reason` is one of the constants above."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class ChatNotSent(Exception):
    """The meeting cannot carry this chat message (it has no chat, or the recipient is not in
    it). The message names the reason, never the text, so it can go into the bot's log."""


class OutputQueueFull(Exception):
    """More audio was queued for the bot to play than its adapter holds."""


@dataclass(frozen=True)
class MeetingEnded:
    """The meeting is over for the bot. "room_empty" only says that everyone else left (auto-leave
    decides what to do); every other reason ends the bot's stay at once."""

    reason: Literal["room_empty", "connection_lost", "room_destroyed", "kicked"]
    timestamp_ms: int


MeetingEvent = (
    ParticipantJoined
    | ParticipantLeft
    | ChatReceived
    | AudioFrame
    | SpeechStart
    | SpeechStop
    | BotSpoke
    | MeetingEnded
)
EventSink = Callable[[MeetingEvent], None]
# The room's name -> the pass the bot's own server issued it for that room (``rooms.passes``):
# how sitin's rooms know the bot from a participant who only calls itself one.
RoomPass = Callable[[str], str]


class MeetingAdapter(abc.ABC):
    """One bot in one meeting. Events go to the sink given at construction."""

    @abc.abstractmethod
    async def join(self) -> None:
        """Enter the meeting; raise CouldNotJoin when that is impossible."""

    @abc.abstractmethod
    async def leave(self) -> None:
        """Leave the meeting and release every connection. Safe to call more than once."""

    @property
    @abc.abstractmethod
    def participants(self) -> list[ParticipantJoined]:
        """Everyone in the meeting now except the bot itself (as last reported by the platform)."""

    @property
    def chat_available(self) -> bool:
        """Whether this meeting has a chat the bot reads and writes."""
        return True

    async def set_recording(self, active: bool) -> None:
        """Tell the meeting whether the bot records now, where the platform can show it
        (sitin's rooms show everyone a notice); elsewhere it does nothing."""
        return None

    @abc.abstractmethod
    async def send_chat(self, text: str, to_uuid: str | None = None) -> None:
        """Send a chat message to everyone, or only to the participant `to_uuid`; ChatNotSent
        when the meeting cannot carry it."""

    @abc.abstractmethod
    def play_audio(self, pcm: np.ndarray) -> None:
        """Queue meeting-rate mono int16 samples to be spoken after what is already queued
        (adapters share ``adapters.outbound.OutboundVoice``)."""

    @abc.abstractmethod
    def clear_audio(self) -> float:
        """Drop the queued output at once (barge-in); returns the ms dropped."""
