"""When a bot leaves on its own: AutoLeave fed meeting events and times, no meeting needed."""

from __future__ import annotations

import pytest

from sitin.core.states import EventSubType
from sitin.runtime.adapters.base import MeetingEnded
from sitin.runtime.autoleave import AutoLeave
from sitin.runtime.frames import ParticipantJoined, ParticipantLeft, SpeechStart, SpeechStop

ALONE = EventSubType.AUTO_LEAVE_ONLY_PARTICIPANT_IN_MEETING
SILENCE = EventSubType.AUTO_LEAVE_SILENCE
UPTIME = EventSubType.AUTO_LEAVE_MAX_UPTIME_EXCEEDED


def rules(
    *, alone: float = 60, silence: float = 600, silence_after: float = 1200, uptime=None
) -> AutoLeave:
    return AutoLeave.from_settings(
        {
            "only_participant_in_meeting_timeout_seconds": alone,
            "silence_timeout_seconds": silence,
            "silence_activate_after_seconds": silence_after,
            "max_uptime_seconds": uptime,
        },
        joined_at=0.0,
    )


def person(uuid: str, *, is_bot: bool = False) -> ParticipantJoined:
    return ParticipantJoined(uuid, uuid.title(), is_host=False, timestamp_ms=0, is_bot=is_bot)


def test_nobody_else_there_from_the_start_leaves_after_the_timeout():
    leave = rules(alone=60)
    assert leave.reason_to_leave(59.9) is None
    assert leave.reason_to_leave(60.0) == ALONE


def test_the_alone_clock_starts_when_the_last_human_leaves():
    leave = rules(alone=60, silence_after=10_000)
    leave.observe(person("alice"), 1.0)
    leave.observe(person("bob"), 2.0)
    assert leave.reason_to_leave(500.0) is None
    leave.observe(ParticipantLeft("alice", 0), 500.0)
    assert leave.reason_to_leave(1000.0) is None  # Bob is still there
    leave.observe(ParticipantLeft("bob", 0), 1000.0)
    assert leave.reason_to_leave(1059.0) is None
    assert leave.reason_to_leave(1060.0) == ALONE
    leave.observe(person("carol"), 1061.0)  # someone came back: stay
    assert leave.reason_to_leave(2000.0) is None


def test_other_bots_do_not_count_as_company():
    leave = rules(alone=60)
    leave.observe(person("recorder", is_bot=True), 1.0)
    assert leave.reason_to_leave(60.0) == ALONE


def test_an_emptied_room_starts_the_alone_clock():
    leave = rules(alone=30)
    leave.observe(person("alice"), 1.0)
    leave.observe(MeetingEnded("room_empty", 0), 100.0)
    assert leave.reason_to_leave(129.0) is None
    assert leave.reason_to_leave(130.0) == ALONE


def test_silence_counts_only_once_armed_and_speech_resets_it():
    leave = rules(silence=300, silence_after=600)
    leave.observe(person("alice"), 0.0)
    assert leave.reason_to_leave(599.0) is None  # silent, but not armed yet
    assert leave.reason_to_leave(600.0) == SILENCE
    leave.observe(SpeechStart("alice", 0), 650.0)
    leave.observe(SpeechStop("alice", 0), 660.0)
    assert leave.reason_to_leave(959.0) is None
    assert leave.reason_to_leave(960.0) == SILENCE


@pytest.mark.parametrize("uptime", [10, 3600])
def test_max_uptime_wins_over_everything(uptime):
    leave = rules(uptime=uptime)
    leave.observe(person("alice"), 0.0)
    leave.observe(SpeechStart("alice", 0), uptime - 1.0)
    assert leave.reason_to_leave(uptime - 0.5) is None
    assert leave.reason_to_leave(float(uptime)) == UPTIME


def test_without_max_uptime_a_busy_meeting_never_ends():
    leave = rules(uptime=None)
    leave.observe(person("alice"), 0.0)
    for minute in range(1, 24 * 60):
        leave.observe(SpeechStart("alice", 0), minute * 60.0)
        assert leave.reason_to_leave(minute * 60.0 + 30) is None
