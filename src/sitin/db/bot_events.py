"""Recording a bot event: the one place a bot changes state.

In one transaction: check the transition against the pure table (``core.states``), move the bot with
an update guarded by its current state, insert the event, apply the recording/transcription effects,
and let the listeners the database was built with (webhooks) add their rows. Callers pass the
write transaction.
"""

from typing import Any

from sqlalchemy import Connection, Row, bindparam, func, insert, select, update

from sitin.core.errors import BotNotFound
from sitin.core.states import (
    TERMINAL,
    BotState,
    EventSubType,
    EventType,
    RecordedEvent,
    RecordingState,
    check_sub_type,
    final_recording_state,
    final_transcription_state,
    may_change_recording,
    next_state,
    recording_state_on_enter,
    returns_to_previous,
)
from sitin.core.timefmt import as_utc, utcnow
from sitin.db.capture import stored_event_metadata
from sitin.db.engine import Tx
from sitin.db.tables import bot_events, bots, recordings, utterances


class StateChanged(RuntimeError):
    """The bot's state moved between reading and updating it (a concurrent event won)."""


def record_event(
    tx: Tx,
    *,
    bot_id: str,
    event: EventType,
    sub_type: EventSubType | None = None,
    metadata: dict[str, Any] | None = None,
    locked: Row | None = None,
) -> RecordedEvent:
    """Apply ``event`` to the bot; raises TransitionNotAllowed, BotNotFound or StateChanged.

    ``locked``: the bot's row (state, created_at, project_id, metadata) as the caller already
    read it under a lock held by this transaction (``SELECT ... FOR UPDATE`` on PostgreSQL, the
    write transaction on SQLite), so it is not locked and read a second time."""
    conn = tx.conn
    check_sub_type(event, sub_type)
    row = locked if locked is not None else conn.execute(_LOCK_BOT, {"bot_id": bot_id}).first()
    if row is None:
        raise BotNotFound(bot_id)
    old = BotState(row.state)
    before_breakout = _state_before_breakout(conn, bot_id) if returns_to_previous(event) else None
    new = next_state(old, event, state_before_breakout=before_breakout)
    now = utcnow()
    metadata = dict(metadata or {})

    ends = new in TERMINAL and old not in TERMINAL
    if ends:
        metadata.setdefault(
            "bot_duration_seconds", int((now - as_utc(row.created_at)).total_seconds())
        )
    moved = conn.execute(
        _MOVE_BOT_TO_END if ends else _MOVE_BOT,
        {"id_": bot_id, "old": old.value, "new": new.value, "now": now},
    )
    if moved.rowcount != 1:
        raise StateChanged(f"bot {bot_id} left state {old.value} concurrently")

    if may_change_recording(old, new):
        _apply_recording_effects(conn, bot_id, old, new, metadata)
    conn.execute(
        _INSERT_EVENT,
        {
            "bot_id": bot_id,
            "event_type": event.value,
            "sub_type": sub_type.value if sub_type else None,
            "old_state": old.value,
            "new_state": new.value,
            "metadata": stored_event_metadata(tx, bot_id, metadata),
            "created_at": now,
        },
    )
    recorded = RecordedEvent(
        bot_id, event, sub_type, old, new, metadata, now, row.project_id, row.metadata
    )
    for listener in tx.event_listeners:
        listener(tx, recorded)
    return recorded


# Built once: record_event runs for every state change of every bot.
_LOCK_BOT = (
    select(bots.c.state, bots.c.created_at, bots.c.project_id, bots.c.metadata)
    .where(bots.c.id == bindparam("bot_id"))
    .with_for_update()
)
_INSERT_EVENT = insert(bot_events)
_MOVE_BOT = (
    update(bots)
    .where(bots.c.id == bindparam("id_"), bots.c.state == bindparam("old"))
    .values(state=bindparam("new"), updated_at=bindparam("now"))
)
_MOVE_BOT_TO_END = _MOVE_BOT.values(ended_at=bindparam("now"))


def _transcribes(conn: Connection, bot_id: str) -> bool:
    settings = conn.execute(select(bots.c.settings).where(bots.c.id == bot_id)).scalar_one()
    return "none" not in ((settings or {}).get("transcription_settings") or {})


def _state_before_breakout(conn: Connection, bot_id: str) -> BotState | None:
    began = (
        EventType.BEGAN_JOINING_BREAKOUT_ROOM.value,
        EventType.BEGAN_LEAVING_BREAKOUT_ROOM.value,
    )
    old = conn.execute(
        select(bot_events.c.old_state)
        .where(bot_events.c.bot_id == bot_id, bot_events.c.event_type.in_(began))
        .order_by(bot_events.c.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    return BotState(old) if old else None


def _apply_recording_effects(
    conn: Connection, bot_id: str, old: BotState, new: BotState, metadata: dict[str, Any]
) -> None:
    rec = conn.execute(
        select(
            recordings.c.id,
            recordings.c.state,
            recordings.c.format,
            recordings.c.blob_key,
            recordings.c.transcription_state,
        ).where(recordings.c.bot_id == bot_id)
    ).first()
    if rec is None:
        return
    now = utcnow()
    if new in TERMINAL and old not in TERMINAL:
        unfinished = conn.execute(
            select(func.count())
            .select_from(utterances)
            .where(
                utterances.c.recording_id == rec.id,
                (utterances.c.failure_data.is_not(None)) | (utterances.c.transcription.is_(None)),
            )
        ).scalar_one()
        values: dict[str, Any] = {
            "state": final_recording_state(
                has_file=rec.blob_key is not None, format_is_none=rec.format == "none"
            ).value,
            "completed_at": now,
            "updated_at": now,
        }
        if rec.transcription_state != "not_started" or unfinished:
            values["transcription_state"] = final_transcription_state(
                failed_or_unfinished=unfinished
            ).value
        if unfinished:
            metadata.setdefault("transcription_errors", unfinished)
        conn.execute(update(recordings).where(recordings.c.id == rec.id).values(**values))
        return
    state = recording_state_on_enter(new, RecordingState(rec.state))
    if state.value != rec.state:
        values = {"state": state.value, "updated_at": now}
        if state == RecordingState.IN_PROGRESS and rec.state == RecordingState.NOT_STARTED:
            values["started_at"] = now
            if rec.transcription_state == "not_started" and _transcribes(conn, bot_id):
                values["transcription_state"] = "in_progress"
        conn.execute(update(recordings).where(recordings.c.id == rec.id).values(**values))
