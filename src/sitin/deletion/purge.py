"""delete_data: fence the bot, delete its rows, then its blobs, and prove they are gone.

1. Measure what the blob store holds for the bot (for the receipt), outside any transaction.
2. One transaction, under an exclusive lock on the bot row: check the state (ended / fatal_error),
   delete every captured row set-based, scrub what is kept, write a journal entry for the blob
   prefix, and record the ``data_deleted`` event carrying the receipt. From this commit on the
   fence in ``db.capture`` refuses every captured write for the bot.
3. After the commit, delete the prefix in the store, verify it is empty, clear the journal entry.
   If the store fails the journal entry stays; the periodic job, the next start, or a repeat call
   finishes the work. Success is only reported once the prefix is verified empty.
"""

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from sitin.context import AppContext
from sitin.core.states import BotState, EventSubType, EventType, RecordingState, TranscriptionState
from sitin.core.timefmt import utcnow
from sitin.core.validation import RuleError
from sitin.db import bots, tables
from sitin.db.bot_events import record_event
from sitin.db.capture import blob_prefix
from sitin.db.engine import Tx
from sitin.db.tables import (
    audio_segments,
    bot_chat_message_requests,
    bot_events,
    bot_log_entries,
    chat_messages,
    deletion_journal,
    participant_events,
    participants,
    recordings,
    utterances,
)
from sitin.faults import checkpoint
from sitin.storage import StorageError
from sitin.webhooks.service import purge_bot_deliveries

DELETABLE_STATES = (BotState.ENDED, BotState.FATAL_ERROR)
RETRY_AFTER_SECONDS = 30

# Rows deleted wholesale, children before parents; the receipt names them by these keys.
_CAPTURED = (
    ("utterances", utterances),
    ("audio_segments", audio_segments),
    ("participant_events", participant_events),
    ("chat_messages", chat_messages),
    ("participants", participants),
    ("chat_message_requests", bot_chat_message_requests),
    ("log_entries", bot_log_entries),
)

# Event metadata keys that carry no personal data or secrets; everything else is scrubbed.
_SAFE_EVENT_KEYS = frozenset(
    {
        "source",
        "join_at",
        "bot_duration_seconds",
        "transcription_errors",
        "deleted",
        "blobs",
        "blob_bytes",
    }
)
# Bot settings kept after deletion, by section; free text (prompts, keywords) and URLs are dropped.
_SAFE_TRANSCRIPTION_KEYS = frozenset(
    {"model", "language", "detect_language", "smart_format", "use_eu_server"}
)


class BotNotFound(LookupError):
    pass


class StoragePending(RuntimeError):
    """Rows are deleted and the bot is fenced, but its blobs could not be removed yet."""

    retry_after = RETRY_AFTER_SECONDS


@dataclass
class Receipt:
    deleted: dict[str, int] = field(default_factory=dict)
    blobs: int | None = None  # None: the store was unreachable when the bot was fenced
    blob_bytes: int | None = None

    def as_metadata(self) -> dict[str, Any]:
        return {"deleted": self.deleted, "blobs": self.blobs, "blob_bytes": self.blob_bytes}


def not_deletable_message(state: str) -> str:
    if state in (BotState.SCHEDULED,):
        hint = "delete the scheduled bot with DELETE /api/v1/bots/{id} instead"
    elif state in (BotState.READY, BotState.STAGED):
        hint = "the bot has not joined yet; wait for it to end"
    elif state == BotState.POST_PROCESSING:
        hint = "the bot is finishing its recording; try again once it has ended"
    else:
        hint = "make it leave first with POST /api/v1/bots/{id}/leave, then retry once it has ended"
    return (
        f"Bot is in state {state}; its data can only be deleted in state ended or fatal_error "
        f"({hint})."
    )


def delete_bot_data(
    ctx: AppContext,
    *,
    bot_id: str,
    project_id: str | None,
    sub_type: EventSubType | None = None,
) -> bool:
    """Delete everything the bot captured. Returns True if this call fenced the bot (False when it
    was already data_deleted). Raises BotNotFound, RuleError (wrong state) or StoragePending."""
    prefix = blob_prefix(bot_id)
    with ctx.db.read() as conn:
        worth_measuring = bots.current_state(conn, bot_id=bot_id) in DELETABLE_STATES
    usage = _measure_blobs(ctx, prefix) if worth_measuring else None
    fenced = False
    with ctx.db.write() as tx:
        state = bots.lock_state(tx.conn, bot_id=bot_id, project_id=project_id)
        if state is None:
            raise BotNotFound(bot_id)
        if state != BotState.DATA_DELETED:
            if state not in DELETABLE_STATES:
                raise RuleError(not_deletable_message(state.value))
            receipt = Receipt()
            if usage is not None:
                receipt.blobs, receipt.blob_bytes = usage
            _fence(tx, bot_id, prefix, receipt, sub_type)
            fenced = True
            checkpoint("deletion.before_commit")
    checkpoint("deletion.after_commit")
    finish_storage(ctx, bot_id=bot_id, prefix=prefix)
    return fenced


def _measure_blobs(ctx: AppContext, prefix: str) -> tuple[int, int] | None:
    """(blobs, bytes) the store holds for the receipt; None when the store is down (fence anyway:
    the blobs are removed later through the journal, and the receipt leaves their size unknown)."""
    try:
        return ctx.blobs.usage(prefix)
    except StorageError:
        return None


def _fence(
    tx: Tx, bot_id: str, prefix: str, receipt: Receipt, sub_type: EventSubType | None
) -> None:
    conn = tx.conn
    for name, table in _CAPTURED:
        receipt.deleted[name] = conn.execute(delete(table).where(table.c.bot_id == bot_id)).rowcount
    receipt.deleted["webhook_deliveries"] = purge_bot_deliveries(
        tx, bot_id, scrub_metadata=_safe_metadata
    )
    receipt.deleted["recording_files"] = conn.execute(
        update(recordings)
        .where(recordings.c.bot_id == bot_id, recordings.c.blob_key.is_not(None))
        .values(blob_key=None, blob_size=None, first_buffer_timestamp_ms=None)
    ).rowcount
    conn.execute(
        update(recordings)
        .where(recordings.c.bot_id == bot_id)
        .values(
            state=RecordingState.NOT_STARTED.value,
            transcription_state=TranscriptionState.NOT_STARTED.value,
            updated_at=utcnow(),
        )
    )
    _scrub_event_metadata(conn, bot_id)
    _scrub_settings(conn, bot_id)
    conn.execute(insert(deletion_journal).values(bot_id=bot_id, prefix=prefix, created_at=utcnow()))
    record_event(
        tx,
        bot_id=bot_id,
        event=EventType.DATA_DELETED,
        sub_type=sub_type,
        metadata=receipt.as_metadata(),
    )


def _safe_metadata(metadata: Any) -> dict[str, Any]:
    if not isinstance(metadata, dict):
        return {}
    return {k: v for k, v in metadata.items() if k in _SAFE_EVENT_KEYS}


def _scrub_event_metadata(conn: Connection, bot_id: str) -> None:
    rows = conn.execute(
        select(bot_events.c.id, bot_events.c.metadata).where(bot_events.c.bot_id == bot_id)
    ).all()
    for row in rows:
        safe = _safe_metadata(row.metadata)
        if safe != (row.metadata or {}):
            conn.execute(update(bot_events).where(bot_events.c.id == row.id).values(metadata=safe))


def scrub_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """Bot settings without free text, credentials or URLs that could carry tokens."""
    kept = {k: v for k, v in settings.items() if k in ("recording_settings",)}
    transcription = settings.get("transcription_settings") or {}
    kept["transcription_settings"] = {
        provider: {k: v for k, v in (options or {}).items() if k in _SAFE_TRANSCRIPTION_KEYS}
        for provider, options in transcription.items()
    }
    leave = dict(settings.get("automatic_leave_settings") or {})
    if leave:
        leave["bot_keywords"] = None
        kept["automatic_leave_settings"] = leave
    return kept


def _scrub_settings(conn: Connection, bot_id: str) -> None:
    current = conn.execute(
        select(tables.bots.c.settings).where(tables.bots.c.id == bot_id)
    ).scalar_one()
    scrubbed = scrub_settings(current or {})
    if scrubbed != current:
        bots.update_fields(conn, bot_id=bot_id, settings=scrubbed)


def finish_storage(ctx: AppContext, *, bot_id: str, prefix: str) -> None:
    """Delete the bot's blob prefix, verify it is empty, and clear its journal entry.

    Also runs for a bot that is already data_deleted with no journal entry, so a blob written
    after an earlier purge (a late upload) is removed by any repeat call."""
    try:
        ctx.blobs.delete_prefix(prefix, on_batch=lambda: checkpoint("deletion.mid_storage"))
        if not ctx.blobs.is_empty(prefix):
            raise StorageError(f"{prefix} is not empty after deletion")
    except StorageError as exc:
        with ctx.db.write() as tx:
            tx.conn.execute(
                update(deletion_journal)
                .where(deletion_journal.c.bot_id == bot_id)
                .values(attempts=deletion_journal.c.attempts + 1, last_error=str(exc)[:500])
            )
        raise StoragePending(
            f"The bot's data is fenced and its rows are deleted, but removing its files from "
            f"storage failed ({exc}). Deletion will complete automatically; call delete_data "
            f"again to finish it now."
        ) from exc
    with ctx.db.write() as tx:
        if not ctx.db.is_sqlite:
            # Losing this commit in a crash is harmless (the journal re-checks an empty prefix),
            # so it need not wait for the WAL flush.
            tx.conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
        tx.conn.execute(delete(deletion_journal).where(deletion_journal.c.bot_id == bot_id))
