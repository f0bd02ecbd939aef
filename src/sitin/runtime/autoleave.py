"""When a bot should leave on its own (``automatic_leave_settings``). Pure: fed what happens in
the meeting and the current time (seconds), it answers with the ``leave_requested`` sub-type or
None."""

from dataclasses import dataclass, field
from typing import Any

from sitin.core.states import EventSubType
from sitin.runtime.adapters.base import MeetingEnded, MeetingEvent
from sitin.runtime.frames import ParticipantJoined, ParticipantLeft, SpeechStart, SpeechStop


@dataclass
class AutoLeave:
    only_participant_timeout: float
    silence_timeout: float
    silence_activate_after: float
    max_uptime: float | None
    joined_at: float
    last_speech_at: float = field(init=False)
    alone_since: float | None = field(init=False)
    humans: set[str] = field(init=False, default_factory=set)  # uuids of the people (not bots)

    def __post_init__(self) -> None:
        self.last_speech_at = self.joined_at
        self.alone_since = self.joined_at  # nobody else is known until the room says otherwise

    @classmethod
    def from_settings(cls, settings: dict[str, Any], *, joined_at: float) -> "AutoLeave":
        return cls(
            only_participant_timeout=settings["only_participant_in_meeting_timeout_seconds"],
            silence_timeout=settings["silence_timeout_seconds"],
            silence_activate_after=settings["silence_activate_after_seconds"],
            max_uptime=settings.get("max_uptime_seconds"),
            joined_at=joined_at,
        )

    def observe(self, event: MeetingEvent, now: float) -> None:
        """Take note of what happened in the meeting at `now`."""
        if isinstance(event, ParticipantJoined) and not event.is_bot:
            self.humans.add(event.uuid)
        elif isinstance(event, ParticipantLeft):
            self.humans.discard(event.uuid)
        elif isinstance(event, MeetingEnded) and event.reason == "room_empty":
            self.humans.clear()
        elif isinstance(event, SpeechStart | SpeechStop):
            self.saw_speech(now)
            return
        else:
            return
        self.humans_present(len(self.humans), now)

    def saw_speech(self, now: float) -> None:
        self.last_speech_at = now

    def humans_present(self, count: int, now: float) -> None:
        if count > 0:
            self.alone_since = None
        elif self.alone_since is None:
            self.alone_since = now

    def reason_to_leave(self, now: float) -> EventSubType | None:
        if self.max_uptime is not None and now - self.joined_at >= self.max_uptime:
            return EventSubType.AUTO_LEAVE_MAX_UPTIME_EXCEEDED
        if self.alone_since is not None and now - self.alone_since >= self.only_participant_timeout:
            return EventSubType.AUTO_LEAVE_ONLY_PARTICIPANT_IN_MEETING
        silence_armed = now - self.joined_at >= self.silence_activate_after
        if silence_armed and now - self.last_speech_at >= self.silence_timeout:
            return EventSubType.AUTO_LEAVE_SILENCE
        return None
