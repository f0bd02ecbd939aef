"""API test helpers: put a bot in any state through the legal event path, capture meeting data.

Bots move only through ``record_event`` (what the runtime will call), so every state a test uses is
one a real bot can reach; captured rows go through the fenced ``db.capture`` writes.
"""

from dataclasses import dataclass
from datetime import timedelta

import pytest

from sitin.core.states import EventSubType, EventType
from sitin.core.timefmt import to_wire, utcnow
from sitin.db import capture
from sitin.db.bot_events import record_event

_E, _T = EventType, EventSubType
_JOINED = [(_E.JOINED_MEETING, None)]
_RECORDING = [*_JOINED, (_E.RECORDING_PERMISSION_GRANTED, None)]
_LEAVING = [*_RECORDING, (_E.LEAVE_REQUESTED, _T.USER_REQUESTED)]
_POST = [*_LEAVING, (_E.LEFT_MEETING, None)]
_FATAL = [(_E.COULD_NOT_JOIN, _T.MEETING_NOT_FOUND)]

# From `joining` (a bot just created without join_at) to each state.
PATHS_FROM_JOINING: dict[str, list[tuple[EventType, EventSubType | None]]] = {
    "joining": [],
    "waiting_room": [(_E.PUT_IN_WAITING_ROOM, None)],
    "joined_not_recording": _JOINED,
    "joined_recording": _RECORDING,
    "joined_recording_paused": [*_RECORDING, (_E.RECORDING_PAUSED, None)],
    "joined_recording_permission_denied": [
        *_JOINED,
        (_E.RECORDING_PERMISSION_DENIED, _T.HOST_DENIED_PERMISSION),
    ],
    "joining_breakout_room": [*_RECORDING, (_E.BEGAN_JOINING_BREAKOUT_ROOM, None)],
    "leaving_breakout_room": [*_RECORDING, (_E.BEGAN_LEAVING_BREAKOUT_ROOM, None)],
    "leaving": _LEAVING,
    "post_processing": _POST,
    "ended": [*_POST, (_E.POST_PROCESSING_COMPLETED, None)],
    "fatal_error": _FATAL,
    "data_deleted": [*_FATAL, (_E.DATA_DELETED, None)],
}


def future(days: int = 30) -> str:
    """A join_at that is valid for the next while (at most 3 years ahead)."""
    return to_wire(utcnow() + timedelta(days=days))


@pytest.fixture
def join_at_soon() -> str:
    return future()


@pytest.fixture
def advance(ctx):
    """``advance(bot_id, "ended")`` moves a joining bot to that state; also ``events=[...]``."""

    def run(bot_id: str, state: str | None = None, *, events=()) -> None:
        for event, sub_type in [*PATHS_FROM_JOINING.get(state, []), *events]:
            with ctx.db.write() as tx:
                record_event(tx, bot_id=bot_id, event=event, sub_type=sub_type)

    return run


@pytest.fixture
def bot_in(new_bot, advance):
    """``bot_in("joined_recording")`` creates a bot and walks it there; returns its id."""

    def make(state: str, **fields) -> str:
        if state in ("scheduled", "staged"):
            bot_id = new_bot(join_at=future(), **fields)["id"]
            if state == "staged":
                advance(bot_id, events=[(_E.STAGED, None)])
            return bot_id
        bot_id = new_bot(**fields)["id"]
        advance(bot_id, state)
        return bot_id

    return make


@dataclass
class Meeting:
    host_id: str
    guest_id: str
    message_ids: list[str]
    event_ids: list[str]


@pytest.fixture
def capture_meeting(ctx):
    """Insert a small meeting for a bot: two participants, join events, chat, an utterance."""

    def run(bot_id: str) -> Meeting:
        with ctx.db.write() as tx:
            host = capture.upsert_participant(
                tx, bot_id=bot_id, uuid="u-host", name="Ada", is_host=True, user_uuid="user-ada"
            )
            guest = capture.upsert_participant(
                tx, bot_id=bot_id, uuid="u-guest", name="Grace", is_host=False
            )
            events = [
                capture.add_participant_event(
                    tx, bot_id=bot_id, participant_id=pid, event_type="join", timestamp_ms=ts
                )
                for pid, ts in ((host, 1_700_000_000_000), (guest, 1_700_000_001_000))
            ]
            messages = [
                capture.add_chat_message(
                    tx,
                    bot_id=bot_id,
                    participant_id=guest,
                    text="hello",
                    timestamp_ms=1_700_000_002_345,
                )
            ]
            capture.add_utterance(
                tx,
                bot_id=bot_id,
                participant_id=host,
                timestamp_ms=1_700_000_003_000,
                duration_ms=1500,
                transcription={"transcript": "Good morning"},
            )
        return Meeting(host, guest, messages, events)

    return run
