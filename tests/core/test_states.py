"""The bot state machine: every allowed and disallowed transition, sub-types, recording states.

The table below is written out again from the reference (§5) on purpose: it is the oracle that
``core.states.TRANSITIONS`` is checked against, so a typo in either shows up as a failure.
"""

import pytest

from sitin.core.states import (
    BOT_STATES,
    DELETABLE_STATES,
    JOINED,
    PRE_MEETING,
    RETURN_TO_PREVIOUS,
    STATE_ORDER,
    SUB_TYPES,
    TERMINAL,
    TRANSITIONS,
    BotState,
    EventSubType,
    EventType,
    InvalidSubType,
    RecordingState,
    TranscriptionState,
    TransitionNotAllowed,
    check_sub_type,
    final_recording_state,
    final_transcription_state,
    may_change_recording,
    next_state,
    recording_state_on_enter,
    returns_to_previous,
)

JR, JNR, JRP, JRPD = (
    "joined_recording",
    "joined_not_recording",
    "joined_recording_paused",
    "joined_recording_permission_denied",
)
JBR, LBR, WR = "joining_breakout_room", "leaving_breakout_room", "waiting_room"
PREVIOUS = "the from-state of the preceding began_* event"

REFERENCE_TABLE: dict[str, tuple[set[str], str]] = {
    "join_requested": ({"ready", "staged"}, "joining"),
    "staged": ({"scheduled"}, "staged"),
    "could_not_join_meeting": ({"joining", WR}, "fatal_error"),
    "fatal_error": (
        {"joining", JRP, JR, JNR, JRPD, WR, "leaving", "post_processing", "staged", "scheduled"}
        | {JBR, LBR, "connecting", "disconnecting", "connected"},
        "fatal_error",
    ),
    "put_in_waiting_room": ({"joining"}, WR),
    "joined_meeting": ({WR, "joining"}, JNR),
    "recording_permission_granted": ({JNR, JRPD}, JR),
    "recording_permission_denied": ({JNR, JRPD, JR, JRP}, JRPD),
    "meeting_ended": (
        {JRP, JR, JNR, JRPD, WR, "joining", "leaving", JBR, LBR},
        "post_processing",
    ),
    "leave_requested": ({JRP, JR, JNR, JRPD, WR, "joining", JBR, LBR}, "leaving"),
    "left_meeting": ({"leaving"}, "post_processing"),
    "post_processing_completed": ({"post_processing"}, "ended"),
    "data_deleted": ({"fatal_error", "ended"}, "data_deleted"),
    "recording_paused": ({JR}, JRP),
    "recording_resumed": ({JRP}, JR),
    "began_joining_breakout_room": ({JNR, JRPD, JR, JRP}, JBR),
    "began_leaving_breakout_room": ({JNR, JRPD, JR, JRP}, LBR),
    "joined_breakout_room": ({JBR}, PREVIOUS),
    "left_breakout_room": ({LBR}, PREVIOUS),
    "app_session_connection_requested": ({"ready"}, "connecting"),
    "app_session_connected": ({"connecting"}, "connected"),
    "app_session_disconnect_requested": ({"connected", "connecting"}, "disconnecting"),
    "app_session_disconnected": ({"disconnecting"}, "post_processing"),
}

ALL_PAIRS = [(event, state) for event in EventType for state in BotState]
ALLOWED = [(e, s) for e, s in ALL_PAIRS if s in TRANSITIONS[e].sources]
DISALLOWED = [(e, s) for e, s in ALL_PAIRS if s not in TRANSITIONS[e].sources]


def _pair_id(pair) -> str:
    event, state = pair
    return f"{event.value}@{state.value}"


def test_table_matches_the_reference_exactly():
    ours = {
        event.value: (
            {s.value for s in t.sources},
            PREVIOUS if t.target == RETURN_TO_PREVIOUS else BotState(t.target).value,
        )
        for event, t in TRANSITIONS.items()
    }
    assert ours == REFERENCE_TABLE


def test_state_names_and_order_are_attendees():
    assert [s.value for s in BOT_STATES] == [
        "ready",
        "joining",
        "joined_not_recording",
        "joined_recording",
        "leaving",
        "post_processing",
        "fatal_error",
        "waiting_room",
        "ended",
        "data_deleted",
        "scheduled",
        "staged",
        "joined_recording_paused",
        "joining_breakout_room",
        "leaving_breakout_room",
        "joined_recording_permission_denied",
    ]
    assert [s.value for s in STATE_ORDER[16:]] == ["connecting", "connected", "disconnecting"]
    assert {s.value for s in PRE_MEETING} == {"ready", "scheduled", "staged"}
    assert {s.value for s in TERMINAL} == {"fatal_error", "ended", "data_deleted"}
    assert {s.value for s in JOINED} == {JR, JNR, JRPD, JRP}


@pytest.mark.parametrize("pair", ALLOWED, ids=_pair_id)
def test_allowed_transition_leads_to_its_target(pair):
    event, state = pair
    target = TRANSITIONS[event].target
    if target == RETURN_TO_PREVIOUS:
        # Back to wherever the bot was before the breakout room, whichever joined state that was.
        for before in JOINED:
            assert next_state(state, event, state_before_breakout=before) == before
    else:
        assert next_state(state, event) == BotState(target)


@pytest.mark.parametrize("pair", DISALLOWED, ids=_pair_id)
def test_disallowed_transition_names_the_state_and_the_allowed_ones(pair):
    event, state = pair
    with pytest.raises(TransitionNotAllowed) as raised:
        next_state(state, event, state_before_breakout=BotState.JOINED_RECORDING)
    allowed = [s.value for s in STATE_ORDER if s.value in REFERENCE_TABLE[event.value][0]]
    assert str(raised.value) == (
        f"Event {event.value} not allowed when bot is in state {state.value}. "
        f"It is only allowed in these states: {', '.join(allowed)}"
    )


def test_terminal_states_accept_only_deletion_and_nothing_leaves_data_deleted():
    for event in EventType:
        assert BotState.DATA_DELETED not in TRANSITIONS[event].sources
        for state in (BotState.ENDED, BotState.FATAL_ERROR):
            assert (state in TRANSITIONS[event].sources) == (event == EventType.DATA_DELETED)


@pytest.mark.parametrize("event", [EventType.JOINED_BREAKOUT_ROOM, EventType.LEFT_BREAKOUT_ROOM])
def test_breakout_return_without_a_began_event_is_refused(event):
    source = next(iter(TRANSITIONS[event].sources))
    with pytest.raises(TransitionNotAllowed):
        next_state(source, event, state_before_breakout=None)


# --- sub-types ---------------------------------------------------------------------------------

REFERENCE_SUB_TYPES = {
    "fatal_error": {
        "process_terminated",
        "attendee_internal_error",
        "out_of_credits",
        "rtmp_connection_failed",
        "ui_element_not_found",
        "heartbeat_timeout",
        "global_runtime_timeout",
        "bot_not_launched",
    },
    "could_not_join_meeting": {
        "meeting_not_started_waiting_for_host",
        "unable_to_connect_to_meeting",
        "waiting_room_timeout_exceeded",
        "zoom_authorization_failed",
        "login_required",
        "authorized_user_not_in_meeting_timeout_exceeded",
        "bot_login_attempt_failed",
        "zoom_meeting_status_failed",
        "unpublished_zoom_app",
        "zoom_sdk_internal_error",
        "request_to_join_denied",
        "meeting_not_found",
        "blocked_by_captcha",
        "zoom_app_cannot_join_anonymously",
    },
    "leave_requested": {
        "user_requested",
        "auto_leave_silence",
        "auto_leave_only_participant_in_meeting",
        "auto_leave_max_uptime_exceeded",
        "auto_leave_could_not_enable_closed_captions",
    },
    "recording_permission_denied": {
        "host_denied_permission",
        "request_timed_out",
        "host_client_cannot_grant_permission",
        "webinar_attendee_needs_panelist_promotion",
    },
}


def test_sub_types_match_the_reference():
    ours = {e.value: {t.value for t in subs} for e, subs in SUB_TYPES.items()}
    # data_deleted/retention_expired is sitin's own addition (deletion by the retention job).
    assert ours.pop("data_deleted") == {"retention_expired"}
    assert ours == REFERENCE_SUB_TYPES


@pytest.mark.parametrize(
    "pair",
    [(e, t) for e in EventType for t in EventSubType],
    ids=lambda p: f"{p[0].value}/{p[1].value}",
)
def test_a_sub_type_is_accepted_only_by_its_own_event(pair):
    event, sub_type = pair
    if sub_type in SUB_TYPES.get(event, ()):
        check_sub_type(event, sub_type)
    else:
        with pytest.raises(InvalidSubType, match=f"Sub-type {sub_type.value} does not belong"):
            check_sub_type(event, sub_type)


@pytest.mark.parametrize(
    "event",
    [EventType.FATAL_ERROR, EventType.COULD_NOT_JOIN, EventType.RECORDING_PERMISSION_DENIED],
    ids=str,
)
def test_events_that_need_a_sub_type_refuse_none(event):
    with pytest.raises(InvalidSubType, match="needs a sub_type"):
        check_sub_type(event, None)


@pytest.mark.parametrize(
    "event", [e for e in EventType if e not in SUB_TYPES or e == EventType.LEAVE_REQUESTED], ids=str
)
def test_events_without_required_sub_type_accept_none(event):
    check_sub_type(event, None)


# --- recording and transcription states --------------------------------------------------------


@pytest.mark.parametrize(
    ("entered", "current", "expected"),
    [
        (BotState.JOINED_RECORDING, RecordingState.NOT_STARTED, RecordingState.IN_PROGRESS),
        (BotState.JOINED_RECORDING, RecordingState.PAUSED, RecordingState.IN_PROGRESS),
        (BotState.CONNECTED, RecordingState.NOT_STARTED, RecordingState.IN_PROGRESS),
        (BotState.JOINED_RECORDING_PAUSED, RecordingState.IN_PROGRESS, RecordingState.PAUSED),
        (
            BotState.JOINED_RECORDING_PERMISSION_DENIED,
            RecordingState.IN_PROGRESS,
            RecordingState.PAUSED,
        ),
        (
            BotState.JOINED_RECORDING_PERMISSION_DENIED,
            RecordingState.NOT_STARTED,
            RecordingState.NOT_STARTED,
        ),
        (BotState.JOINED_NOT_RECORDING, RecordingState.NOT_STARTED, RecordingState.NOT_STARTED),
        (BotState.LEAVING, RecordingState.IN_PROGRESS, RecordingState.IN_PROGRESS),
    ],
    ids=lambda v: v.value if hasattr(v, "value") else str(v),
)
def test_recording_state_on_entering_a_state(entered, current, expected):
    assert recording_state_on_enter(entered, current) == expected


@pytest.mark.parametrize(
    ("has_file", "format_is_none", "expected"),
    [
        (True, False, RecordingState.COMPLETE),
        (False, True, RecordingState.COMPLETE),
        (False, False, RecordingState.FAILED),
    ],
)
def test_final_recording_state(has_file, format_is_none, expected):
    assert final_recording_state(has_file=has_file, format_is_none=format_is_none) == expected


def test_final_transcription_state():
    assert final_transcription_state(failed_or_unfinished=0) == TranscriptionState.COMPLETE
    assert final_transcription_state(failed_or_unfinished=2) == TranscriptionState.FAILED


def test_transitions_said_not_to_touch_the_recording_cannot_change_it():
    """record_event skips the recording lookup when may_change_recording is False: that must
    never skip a change recording_state_on_enter or the final_* states would make."""
    for old in BotState:
        for new in BotState:
            if may_change_recording(old, new):
                continue
            assert not (new in TERMINAL and old not in TERMINAL), (old, new)
            for current in RecordingState:
                assert recording_state_on_enter(new, current) == current, (old, new, current)


def test_only_breakout_returns_need_the_state_before_the_breakout():
    needing = {event for event in EventType if returns_to_previous(event)}
    assert needing == {EventType.JOINED_BREAKOUT_ROOM, EventType.LEFT_BREAKOUT_ROOM}


def test_data_can_be_deleted_exactly_in_ended_and_fatal_error():
    assert set(DELETABLE_STATES) == {BotState.ENDED, BotState.FATAL_ERROR}
    for state in BotState:
        if state in DELETABLE_STATES:
            assert next_state(state, EventType.DATA_DELETED) == BotState.DATA_DELETED
        else:
            with pytest.raises(TransitionNotAllowed):
                next_state(state, EventType.DATA_DELETED)
