"""Which adapter joins a meeting on which platform: the one place a new platform is added."""

from __future__ import annotations

from typing import Protocol

from sitin.outbound import OutboundGuard
from sitin.runtime.adapters.base import (
    UNABLE_TO_CONNECT,
    CouldNotJoin,
    EventSink,
    MeetingAdapter,
    RoomPass,
)


class AdapterFactory(Protocol):
    """(platform, meeting_url, bot_name, sink, guard, room_pass) -> an adapter that has not
    joined yet; it connects only where the outbound guard allows."""

    def __call__(
        self,
        platform: str,
        meeting_url: str,
        bot_name: str,
        sink: EventSink,
        *,
        guard: OutboundGuard,
        room_pass: RoomPass,
    ) -> MeetingAdapter: ...


def open_adapter(
    platform: str,
    meeting_url: str,
    bot_name: str,
    sink: EventSink,
    *,
    guard: OutboundGuard,
    room_pass: RoomPass,
) -> MeetingAdapter:
    """The adapter for the bot's meeting platform; CouldNotJoin for a platform sitin cannot join."""
    if platform == "room":
        from sitin.runtime.adapters.room import RoomAdapter  # aiortc is loaded only when needed

        return RoomAdapter(meeting_url, bot_name, sink, guard=guard, room_pass=room_pass)
    if platform == "janus":
        from sitin.runtime.adapters.janus.adapter import JanusAdapter

        return JanusAdapter(meeting_url, bot_name, sink, guard=guard)
    raise CouldNotJoin(UNABLE_TO_CONNECT, f"no adapter for {platform}")
