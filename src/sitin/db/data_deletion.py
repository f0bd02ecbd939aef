"""The rows delete_data removes and scrubs in its fence transaction, and the count of what
remains of them afterwards (the proof ``sitin deletion verify`` gives)."""

from sqlalchemy import (
    Connection,
    Delete,
    Table,
    bindparam,
    delete,
    func,
    literal_column,
    select,
    update,
)

from sitin.core.scrub import safe_event_metadata
from sitin.core.states import RecordingState, TranscriptionState
from sitin.core.timefmt import utcnow
from sitin.core.triggers import Trigger
from sitin.db.tables import (
    CAPTURED_TABLES,
    bot_chat_message_requests,
    bot_events,
    bot_log_entries,
    recordings,
    webhook_delivery_attempts,
)
from sitin.db.webhook_deliveries import CONTENT_DELIVERIES_OF_BOT


def _by_bot(table: Table) -> Delete:
    return delete(table).where(table.c.bot_id == bindparam("bot_id"))


# Rows deleted wholesale (CAPTURED_TABLES, children before parents) and the deliveries that carry
# meeting content; the receipt names them by these keys. Built once: constructing a statement
# costs more than SQLite takes to run a small DELETE.
_RECEIPT_NAMES = {
    bot_chat_message_requests.name: "chat_message_requests",
    bot_log_entries.name: "log_entries",
}
_CAPTURED: tuple[tuple[str, Delete], ...] = (
    *((_RECEIPT_NAMES.get(table.name, table.name), _by_bot(table)) for table in CAPTURED_TABLES),
    ("webhook_deliveries", CONTENT_DELIVERIES_OF_BOT),
)
# PostgreSQL: all of them in one statement (data-modifying CTEs) returning the counts, one round
# trip instead of eight. The foreign keys cascade at the end of the statement, finding nothing.
_CAPTURED_IN_ONE = select(
    *(
        select(func.count())
        .select_from(statement.returning(literal_column("1")).cte(f"deleted_{name}"))
        .scalar_subquery()
        .label(name)
        for name, statement in _CAPTURED
    )
)


def delete_captured_rows(conn: Connection, bot_id: str) -> dict[str, int]:
    """Delete every captured row of the bot; how many went, per receipt name."""
    params = {"bot_id": bot_id}
    if conn.dialect.name == "postgresql":
        return dict(conn.execute(_CAPTURED_IN_ONE, params).one()._mapping)
    return {name: conn.execute(statement, params).rowcount for name, statement in _CAPTURED}


_RESET_RECORDING = (
    update(recordings)
    .where(recordings.c.bot_id == bindparam("owner"))  # "bot_id" is reserved in an UPDATE
    .values(
        blob_key=None,
        blob_size=None,
        first_buffer_timestamp_ms=None,
        state=RecordingState.NOT_STARTED.value,
        transcription_state=TranscriptionState.NOT_STARTED.value,
        updated_at=bindparam("now"),
    )
)


def reset_recording(conn: Connection, bot_id: str) -> None:
    """The bot's recording row kept, pointing at no file, as if never started."""
    conn.execute(_RESET_RECORDING, {"owner": bot_id, "now": utcnow()})


_EVENT_METADATA = select(bot_events.c.id, bot_events.c.metadata).where(
    bot_events.c.bot_id == bindparam("bot_id"), bot_events.c.metadata.is_not(None)
)
_SCRUB_EVENT = (
    update(bot_events)
    .where(bot_events.c.id == bindparam("event_id"))
    .values(metadata=bindparam("safe"))
)


def scrub_event_metadata(conn: Connection, bot_id: str) -> None:
    """Reduce the metadata of the bot's events to the allow-list (``core.scrub``)."""
    for row in conn.execute(_EVENT_METADATA, {"bot_id": bot_id}):
        safe = safe_event_metadata(row.metadata)
        if safe != row.metadata:
            conn.execute(_SCRUB_EVENT, {"event_id": row.id, "safe": safe})


def remaining_rows(conn: Connection, bot_id: str) -> list[str]:
    """Human-readable lines naming the bot's rows that delete_data should have removed."""
    remains: list[str] = []
    for table in CAPTURED_TABLES:
        count = conn.execute(
            select(func.count()).select_from(table).where(table.c.bot_id == bot_id)
        ).scalar_one()
        if count:
            remains.append(f"{count} row(s) in {table.name}")
    attempts = webhook_delivery_attempts
    content_attempts = conn.execute(
        select(func.count())
        .select_from(attempts)
        .where(attempts.c.bot_id == bot_id, attempts.c.trigger != Trigger.STATE_CHANGE.value)
    ).scalar_one()
    if content_attempts:
        remains.append(f"{content_attempts} webhook delivery attempt(s) carrying content")
    files = conn.execute(
        select(func.count())
        .select_from(recordings)
        .where(recordings.c.bot_id == bot_id, recordings.c.blob_key.is_not(None))
    ).scalar_one()
    if files:
        remains.append(f"{files} recording(s) still pointing at a file")
    return remains
