"""The adapter boundary: what every platform adapter must provide, and how one is chosen."""

import pytest

from sitin.runtime.adapters.base import (
    UNABLE_TO_CONNECT,
    CouldNotJoin,
    MeetingAdapter,
    ParticipantJoined,
)
from sitin.runtime.adapters.platforms import open_adapter
from support.settings import LOOPBACK_GUARD


class WithoutParticipants(MeetingAdapter):
    async def join(self) -> None: ...

    async def leave(self) -> None: ...

    async def send_chat(self, text: str, to_uuid: str | None = None) -> None: ...

    def play_audio(self, pcm) -> None: ...

    def clear_audio(self) -> float:
        return 0.0


class Complete(WithoutParticipants):
    @property
    def participants(self) -> list[ParticipantJoined]:
        return [ParticipantJoined("p1", "Alice", is_host=True, timestamp_ms=1)]


def test_an_adapter_must_say_who_is_in_the_meeting():
    with pytest.raises(TypeError, match="participants"):
        WithoutParticipants()
    assert [p.name for p in Complete().participants] == ["Alice"]


def test_a_platform_without_an_adapter_cannot_be_joined():
    with pytest.raises(CouldNotJoin) as refused:
        open_adapter(
            "zoom",
            "https://zoom.us/j/1",
            "Notetaker",
            lambda event: None,
            guard=LOOPBACK_GUARD,
            room_pass=lambda room: "",
        )
    assert refused.value.reason == UNABLE_TO_CONNECT
    assert "zoom" in str(refused.value)


def test_a_room_url_gets_the_room_adapter():
    adapter = open_adapter(
        "room",
        "http://127.0.0.1:1/rooms/standup",
        "Notetaker",
        print,
        guard=LOOPBACK_GUARD,
        room_pass=lambda room: "",
    )
    assert type(adapter).__name__ == "RoomAdapter"
    assert adapter.participants == []
