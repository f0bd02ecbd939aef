"""Bot states, events, sub-types and the transition table (Attendee's state machine, exactly).

Everything here is pure: the database layer asks ``next_state`` whether an event may happen and
what state it leads to, and ``recording_state_on_enter`` / ``final_*`` what the bot's recording and
transcription states become.
"""

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class BotState(StrEnum):
    READY = "ready"
    JOINING = "joining"
    JOINED_NOT_RECORDING = "joined_not_recording"
    JOINED_RECORDING = "joined_recording"
    LEAVING = "leaving"
    POST_PROCESSING = "post_processing"
    FATAL_ERROR = "fatal_error"
    WAITING_ROOM = "waiting_room"
    ENDED = "ended"
    DATA_DELETED = "data_deleted"
    SCHEDULED = "scheduled"
    STAGED = "staged"
    JOINED_RECORDING_PAUSED = "joined_recording_paused"
    JOINING_BREAKOUT_ROOM = "joining_breakout_room"
    LEAVING_BREAKOUT_ROOM = "leaving_breakout_room"
    JOINED_RECORDING_PERMISSION_DENIED = "joined_recording_permission_denied"
    # App sessions (Zoom RTMS) only.
    CONNECTING = "connecting"
    CONNECTED = "connected"
    DISCONNECTING = "disconnecting"


# The order Attendee numbers them in (1..16, then 100..102); used for listings and messages.
STATE_ORDER: tuple[BotState, ...] = tuple(BotState)
BOT_STATES: tuple[BotState, ...] = STATE_ORDER[:16]

PRE_MEETING = frozenset({BotState.READY, BotState.SCHEDULED, BotState.STAGED})
TERMINAL = frozenset({BotState.FATAL_ERROR, BotState.ENDED, BotState.DATA_DELETED})
JOINED = frozenset(
    {
        BotState.JOINED_RECORDING,
        BotState.JOINED_NOT_RECORDING,
        BotState.JOINED_RECORDING_PERMISSION_DENIED,
        BotState.JOINED_RECORDING_PAUSED,
    }
)


class EventType(StrEnum):
    JOIN_REQUESTED = "join_requested"
    STAGED = "staged"
    COULD_NOT_JOIN = "could_not_join_meeting"
    FATAL_ERROR = "fatal_error"
    PUT_IN_WAITING_ROOM = "put_in_waiting_room"
    JOINED_MEETING = "joined_meeting"
    RECORDING_PERMISSION_GRANTED = "recording_permission_granted"
    RECORDING_PERMISSION_DENIED = "recording_permission_denied"
    MEETING_ENDED = "meeting_ended"
    LEAVE_REQUESTED = "leave_requested"
    LEFT_MEETING = "left_meeting"
    POST_PROCESSING_COMPLETED = "post_processing_completed"
    DATA_DELETED = "data_deleted"
    RECORDING_PAUSED = "recording_paused"
    RECORDING_RESUMED = "recording_resumed"
    BEGAN_JOINING_BREAKOUT_ROOM = "began_joining_breakout_room"
    BEGAN_LEAVING_BREAKOUT_ROOM = "began_leaving_breakout_room"
    JOINED_BREAKOUT_ROOM = "joined_breakout_room"
    LEFT_BREAKOUT_ROOM = "left_breakout_room"
    APP_SESSION_CONNECTION_REQUESTED = "app_session_connection_requested"
    APP_SESSION_CONNECTED = "app_session_connected"
    APP_SESSION_DISCONNECT_REQUESTED = "app_session_disconnect_requested"
    APP_SESSION_DISCONNECTED = "app_session_disconnected"


class EventSubType(StrEnum):
    # fatal_error
    PROCESS_TERMINATED = "process_terminated"
    INTERNAL_ERROR = "attendee_internal_error"
    OUT_OF_CREDITS = "out_of_credits"
    RTMP_CONNECTION_FAILED = "rtmp_connection_failed"
    UI_ELEMENT_NOT_FOUND = "ui_element_not_found"
    HEARTBEAT_TIMEOUT = "heartbeat_timeout"
    GLOBAL_RUNTIME_TIMEOUT = "global_runtime_timeout"
    BOT_NOT_LAUNCHED = "bot_not_launched"
    # could_not_join_meeting
    MEETING_NOT_STARTED_WAITING_FOR_HOST = "meeting_not_started_waiting_for_host"
    UNABLE_TO_CONNECT_TO_MEETING = "unable_to_connect_to_meeting"
    WAITING_ROOM_TIMEOUT_EXCEEDED = "waiting_room_timeout_exceeded"
    ZOOM_AUTHORIZATION_FAILED = "zoom_authorization_failed"
    LOGIN_REQUIRED = "login_required"
    AUTHORIZED_USER_NOT_IN_MEETING_TIMEOUT_EXCEEDED = (
        "authorized_user_not_in_meeting_timeout_exceeded"
    )
    BOT_LOGIN_ATTEMPT_FAILED = "bot_login_attempt_failed"
    ZOOM_MEETING_STATUS_FAILED = "zoom_meeting_status_failed"
    UNPUBLISHED_ZOOM_APP = "unpublished_zoom_app"
    ZOOM_SDK_INTERNAL_ERROR = "zoom_sdk_internal_error"
    REQUEST_TO_JOIN_DENIED = "request_to_join_denied"
    MEETING_NOT_FOUND = "meeting_not_found"
    BLOCKED_BY_CAPTCHA = "blocked_by_captcha"
    ZOOM_APP_CANNOT_JOIN_ANONYMOUSLY = "zoom_app_cannot_join_anonymously"
    # leave_requested
    USER_REQUESTED = "user_requested"
    AUTO_LEAVE_SILENCE = "auto_leave_silence"
    AUTO_LEAVE_ONLY_PARTICIPANT_IN_MEETING = "auto_leave_only_participant_in_meeting"
    AUTO_LEAVE_MAX_UPTIME_EXCEEDED = "auto_leave_max_uptime_exceeded"
    AUTO_LEAVE_COULD_NOT_ENABLE_CLOSED_CAPTIONS = "auto_leave_could_not_enable_closed_captions"
    # recording_permission_denied
    HOST_DENIED_PERMISSION = "host_denied_permission"
    REQUEST_TIMED_OUT = "request_timed_out"
    HOST_CLIENT_CANNOT_GRANT_PERMISSION = "host_client_cannot_grant_permission"
    WEBINAR_ATTENDEE_NEEDS_PANELIST_PROMOTION = "webinar_attendee_needs_panelist_promotion"
    # data_deleted (sitin addition: deletion run by the retention job rather than the API)
    RETENTION_EXPIRED = "retention_expired"


_S = BotState
_E = EventType
_T = EventSubType

SUB_TYPES: dict[EventType, frozenset[EventSubType]] = {
    _E.FATAL_ERROR: frozenset(
        {
            _T.PROCESS_TERMINATED,
            _T.INTERNAL_ERROR,
            _T.OUT_OF_CREDITS,
            _T.RTMP_CONNECTION_FAILED,
            _T.UI_ELEMENT_NOT_FOUND,
            _T.HEARTBEAT_TIMEOUT,
            _T.GLOBAL_RUNTIME_TIMEOUT,
            _T.BOT_NOT_LAUNCHED,
        }
    ),
    _E.COULD_NOT_JOIN: frozenset(
        {
            _T.MEETING_NOT_STARTED_WAITING_FOR_HOST,
            _T.UNABLE_TO_CONNECT_TO_MEETING,
            _T.WAITING_ROOM_TIMEOUT_EXCEEDED,
            _T.ZOOM_AUTHORIZATION_FAILED,
            _T.LOGIN_REQUIRED,
            _T.AUTHORIZED_USER_NOT_IN_MEETING_TIMEOUT_EXCEEDED,
            _T.BOT_LOGIN_ATTEMPT_FAILED,
            _T.ZOOM_MEETING_STATUS_FAILED,
            _T.UNPUBLISHED_ZOOM_APP,
            _T.ZOOM_SDK_INTERNAL_ERROR,
            _T.REQUEST_TO_JOIN_DENIED,
            _T.MEETING_NOT_FOUND,
            _T.BLOCKED_BY_CAPTCHA,
            _T.ZOOM_APP_CANNOT_JOIN_ANONYMOUSLY,
        }
    ),
    _E.LEAVE_REQUESTED: frozenset(
        {
            _T.USER_REQUESTED,
            _T.AUTO_LEAVE_SILENCE,
            _T.AUTO_LEAVE_ONLY_PARTICIPANT_IN_MEETING,
            _T.AUTO_LEAVE_MAX_UPTIME_EXCEEDED,
            _T.AUTO_LEAVE_COULD_NOT_ENABLE_CLOSED_CAPTIONS,
        }
    ),
    _E.RECORDING_PERMISSION_DENIED: frozenset(
        {
            _T.HOST_DENIED_PERMISSION,
            _T.REQUEST_TIMED_OUT,
            _T.HOST_CLIENT_CANNOT_GRANT_PERMISSION,
            _T.WEBINAR_ATTENDEE_NEEDS_PANELIST_PROMOTION,
        }
    ),
    _E.DATA_DELETED: frozenset({_T.RETENTION_EXPIRED}),
}

# Events whose sub-type may be left out (leave_requested "or null"; data_deleted by the API).
SUB_TYPE_OPTIONAL = frozenset({_E.LEAVE_REQUESTED, _E.DATA_DELETED})

# Marker for breakout-room returns: the bot goes back to the state it was in before began_*.
RETURN_TO_PREVIOUS = "previous"


@dataclass(frozen=True)
class Transition:
    sources: frozenset[BotState]
    target: BotState | str  # a BotState, or RETURN_TO_PREVIOUS


def _t(sources: set[BotState], target: BotState | str) -> Transition:
    return Transition(frozenset(sources), target)


_JR, _JNR, _JRP, _JRPD = (
    _S.JOINED_RECORDING,
    _S.JOINED_NOT_RECORDING,
    _S.JOINED_RECORDING_PAUSED,
    _S.JOINED_RECORDING_PERMISSION_DENIED,
)
_JBR, _LBR, _WR = _S.JOINING_BREAKOUT_ROOM, _S.LEAVING_BREAKOUT_ROOM, _S.WAITING_ROOM

TRANSITIONS: dict[EventType, Transition] = {
    _E.JOIN_REQUESTED: _t({_S.READY, _S.STAGED}, _S.JOINING),
    _E.STAGED: _t({_S.SCHEDULED}, _S.STAGED),
    _E.COULD_NOT_JOIN: _t({_S.JOINING, _WR}, _S.FATAL_ERROR),
    _E.FATAL_ERROR: _t(
        {
            _S.JOINING,
            _JRP,
            _JR,
            _JNR,
            _JRPD,
            _WR,
            _S.LEAVING,
            _S.POST_PROCESSING,
            _S.STAGED,
            _S.SCHEDULED,
            _JBR,
            _LBR,
            _S.CONNECTING,
            _S.DISCONNECTING,
            _S.CONNECTED,
        },
        _S.FATAL_ERROR,
    ),
    _E.PUT_IN_WAITING_ROOM: _t({_S.JOINING}, _WR),
    _E.JOINED_MEETING: _t({_WR, _S.JOINING}, _JNR),
    _E.RECORDING_PERMISSION_GRANTED: _t({_JNR, _JRPD}, _JR),
    _E.RECORDING_PERMISSION_DENIED: _t({_JNR, _JRPD, _JR, _JRP}, _JRPD),
    _E.MEETING_ENDED: _t(
        {_JRP, _JR, _JNR, _JRPD, _WR, _S.JOINING, _S.LEAVING, _JBR, _LBR}, _S.POST_PROCESSING
    ),
    _E.LEAVE_REQUESTED: _t({_JRP, _JR, _JNR, _JRPD, _WR, _S.JOINING, _JBR, _LBR}, _S.LEAVING),
    _E.LEFT_MEETING: _t({_S.LEAVING}, _S.POST_PROCESSING),
    _E.POST_PROCESSING_COMPLETED: _t({_S.POST_PROCESSING}, _S.ENDED),
    _E.DATA_DELETED: _t({_S.FATAL_ERROR, _S.ENDED}, _S.DATA_DELETED),
    _E.RECORDING_PAUSED: _t({_JR}, _JRP),
    _E.RECORDING_RESUMED: _t({_JRP}, _JR),
    _E.BEGAN_JOINING_BREAKOUT_ROOM: _t({_JNR, _JRPD, _JR, _JRP}, _JBR),
    _E.BEGAN_LEAVING_BREAKOUT_ROOM: _t({_JNR, _JRPD, _JR, _JRP}, _LBR),
    _E.JOINED_BREAKOUT_ROOM: _t({_JBR}, RETURN_TO_PREVIOUS),
    _E.LEFT_BREAKOUT_ROOM: _t({_LBR}, RETURN_TO_PREVIOUS),
    _E.APP_SESSION_CONNECTION_REQUESTED: _t({_S.READY}, _S.CONNECTING),
    _E.APP_SESSION_CONNECTED: _t({_S.CONNECTING}, _S.CONNECTED),
    _E.APP_SESSION_DISCONNECT_REQUESTED: _t({_S.CONNECTED, _S.CONNECTING}, _S.DISCONNECTING),
    _E.APP_SESSION_DISCONNECTED: _t({_S.DISCONNECTING}, _S.POST_PROCESSING),
}


# The states delete_data may run in: where the transition table lets data_deleted happen.
DELETABLE_STATES: tuple[BotState, ...] = tuple(
    state for state in STATE_ORDER if state in TRANSITIONS[EventType.DATA_DELETED].sources
)


class TransitionNotAllowed(ValueError):
    """An event that may not happen in the bot's current state; str() is the user-facing message."""

    def __init__(self, event: EventType, state: BotState):
        self.event, self.state = event, state
        allowed = ", ".join(s.value for s in STATE_ORDER if s in TRANSITIONS[event].sources)
        super().__init__(
            f"Event {event.value} not allowed when bot is in state {state.value}. "
            f"It is only allowed in these states: {allowed}"
        )


class InvalidSubType(ValueError):
    pass


def allowed_sources(event: EventType) -> frozenset[BotState]:
    return TRANSITIONS[event].sources


def can_happen(event: EventType, state: BotState) -> bool:
    return state in TRANSITIONS[event].sources


def check_sub_type(event: EventType, sub_type: EventSubType | None) -> None:
    """Every sub-type belongs to exactly one event type (Attendee enforces this in the database)."""
    allowed = SUB_TYPES.get(event, frozenset())
    if sub_type is None:
        if allowed and event not in SUB_TYPE_OPTIONAL:
            raise InvalidSubType(f"Event {event.value} needs a sub_type: one of {sorted(allowed)}")
        return
    if sub_type not in allowed:
        raise InvalidSubType(
            f"Sub-type {sub_type.value} does not belong to event {event.value}"
            + (f"; allowed: {', '.join(sorted(allowed))}" if allowed else "; it takes none")
        )


def returns_to_previous(event: EventType) -> bool:
    """Whether ``event`` leads back to the state before a breakout room (see ``next_state``)."""
    return TRANSITIONS[event].target == RETURN_TO_PREVIOUS


def next_state(
    state: BotState, event: EventType, *, state_before_breakout: BotState | None = None
) -> BotState:
    """The state ``event`` leads to from ``state``; raises TransitionNotAllowed.

    ``state_before_breakout`` is the from-state of the latest began_*_breakout_room event, needed
    only for joined_breakout_room / left_breakout_room.
    """
    transition = TRANSITIONS[event]
    if state not in transition.sources:
        raise TransitionNotAllowed(event, state)
    if transition.target == RETURN_TO_PREVIOUS:
        if state_before_breakout is None:
            raise TransitionNotAllowed(event, state)
        return state_before_breakout
    return BotState(transition.target)


# --- recording and transcription states ------------------------------------------------------


class RecordingState(StrEnum):
    NOT_STARTED = "not_started"
    IN_PROGRESS = "in_progress"
    COMPLETE = "complete"
    FAILED = "failed"
    PAUSED = "paused"


class TranscriptionState(StrEnum):
    NOT_STARTED = "not_started"
    IN_PROGRESS = "in_progress"
    COMPLETE = "complete"
    FAILED = "failed"


# Entering these states can change the recording state (see recording_state_on_enter).
_RECORDING_EFFECT_STATES = frozenset(
    {
        BotState.JOINED_RECORDING,
        BotState.CONNECTED,
        BotState.JOINED_RECORDING_PAUSED,
        BotState.JOINED_RECORDING_PERMISSION_DENIED,
    }
)


def may_change_recording(old_state: BotState, new_state: BotState) -> bool:
    """Whether moving from ``old_state`` to ``new_state`` can change the recording's states:
    ending the bot (final_*), or entering a state recording_state_on_enter reacts to."""
    ends = new_state in TERMINAL and old_state not in TERMINAL
    return ends or new_state in _RECORDING_EFFECT_STATES


def recording_state_on_enter(new_state: BotState, current: RecordingState) -> RecordingState:
    """Recording-state effect of entering a non-terminal bot state (terminal: see final_*)."""
    if new_state in (BotState.JOINED_RECORDING, BotState.CONNECTED):
        return RecordingState.IN_PROGRESS
    if new_state == BotState.JOINED_RECORDING_PAUSED:
        return RecordingState.PAUSED
    if (
        new_state == BotState.JOINED_RECORDING_PERMISSION_DENIED
        and current == RecordingState.IN_PROGRESS
    ):
        return RecordingState.PAUSED
    return current


def final_recording_state(*, has_file: bool, format_is_none: bool) -> RecordingState:
    return RecordingState.COMPLETE if has_file or format_is_none else RecordingState.FAILED


def final_transcription_state(*, failed_or_unfinished: int) -> TranscriptionState:
    return TranscriptionState.FAILED if failed_or_unfinished else TranscriptionState.COMPLETE


@dataclass(frozen=True)
class RecordedEvent:
    """A state change as it was recorded: what listeners (webhooks) receive in its transaction."""

    bot_id: str
    event_type: EventType
    sub_type: EventSubType | None
    old_state: BotState
    new_state: BotState
    metadata: dict[str, Any]
    created_at: Any
    project_id: str
    bot_metadata: dict[str, Any] | None  # the bot's own metadata (webhook envelopes carry it)
