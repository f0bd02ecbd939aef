"""delete_data: fence the bot, delete its rows, destroy its data key, delete its blobs, and prove
they are gone.

1. One transaction, under an exclusive lock on the bot row: check the state (ended / fatal_error),
   delete every captured row set-based, scrub what is kept, write a journal entry for the bot's
   key and blob prefix, and record the ``data_deleted`` event carrying the receipt (what the blob
   store holds is measured for it in a background thread meanwhile). From this commit on the
   fence in ``db.capture`` refuses every captured write for the bot.
2. After the commit, destroy the bot's data key in the key store (a database of its own, so this
   step is journaled like the blobs): from then on every copy of its content anywhere (WAL,
   dead tuples, object versions, backups) is ciphertext nobody can open. Meanwhile delete the
   prefix in the store (and the bot's queued tasks and temporary files); once both are done,
   verify the prefix is empty and clear the journal entry (the API clears it once it has
   answered: what is left then is bookkeeping). If the key store or the blob store fails the
   journal entry stays; the periodic job, the next start, or a repeat call finishes the work.
   Success is only reported once the key is gone and the prefix is verified empty.
"""

import logging
import math
import shutil
from concurrent.futures import Future, wait
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Row
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from sitin.context import AppContext
from sitin.core.errors import BotNotFound, RuleError, StoragePending
from sitin.core.scrub import scrub_settings
from sitin.core.states import (
    DELETABLE_STATES,
    BotState,
    EventSubType,
    EventType,
)
from sitin.datadir import bot_work_dir
from sitin.db import bots, data_deletion, deletion_journal, webhook_deliveries
from sitin.db.bot_events import record_event
from sitin.db.capture import blob_prefix
from sitin.db.engine import Tx, is_out_of_space
from sitin.db.sealing import Opener
from sitin.db.webhook_deliveries import scrub_kept_deliveries
from sitin.encryption.keystore import KeyDestruction
from sitin.faults import checkpoint
from sitin.storage import StorageError
from sitin.webhooks.dispatch import DELIVER_TASK

log = logging.getLogger(__name__)


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
    deletable = " or ".join(sorted(DELETABLE_STATES))
    return f"Bot is in state {state}; its data can only be deleted in state {deletable} ({hint})."


@dataclass(frozen=True)
class Outcome:
    fenced: bool  # False when the bot was already data_deleted
    bot: bots.BotView  # the bot as the fence transaction left it


def delete_bot_data(
    ctx: AppContext,
    *,
    bot_id: str,
    project_id: str | None,
    sub_type: EventSubType | None = None,
    close: bool = True,
) -> Outcome:
    """Delete everything the bot captured. Raises BotNotFound, RuleError (wrong state) or
    StoragePending. ``close=False``: the caller runs ``close_deletion`` itself once it has
    answered (the API, so that the bookkeeping does not delay the answer)."""
    fenced = False
    destruction: Future[KeyDestruction] | None = None
    try:
        with ctx.db.write() as tx:
            bot = bots.lock_for_deletion(tx.conn, bot_id=bot_id, project_id=project_id)
            if bot is None:
                raise BotNotFound(bot_id)
            prefix = blob_prefix(bot.id)  # only for a bot that exists: its id is one sitin made
            state = BotState(bot.state)
            if state != BotState.DATA_DELETED:
                if state not in DELETABLE_STATES:
                    raise RuleError(not_deletable_message(state.value))
                # Meanwhile, on helper threads: the store is measured (for the receipt), and the
                # key's destruction is executed in the key store, to be committed after the fence.
                usage = ctx.in_background(_measure_blobs, ctx, prefix)
                destruction = ctx.in_background(ctx.keys.begin_destroying, bot.id)
                _fence(tx, bot, prefix, usage, sub_type)
                fenced = True
                checkpoint(ctx.settings, "deletion.before_commit")
            view = bots.view(tx.conn, project_id=bot.project_id, bot_id=bot_id)
            assert view is not None  # locked above
    except BaseException:
        if destruction is not None:
            _abandon(destruction)
        raise
    checkpoint(ctx.settings, "deletion.after_commit")
    try:
        finish_storage(ctx, bot_id=bot_id, prefix=prefix, destruction=destruction, close=close)
    except DBAPIError as exc:
        if not is_out_of_space(exc):
            raise
        # Fenced and committed; only recording the storage's progress failed: the journal
        # entry is still there, so the periodic job finishes once there is space again.
        raise StoragePending(
            "The bot's data is fenced and its rows are deleted, but the server ran out of disk "
            "space while finishing. Deletion will complete automatically; call delete_data "
            "again to finish it now."
        ) from exc
    return Outcome(fenced, view)


def _measure_blobs(ctx: AppContext, prefix: str) -> tuple[int, int] | None:
    """(blobs, bytes) the store holds for the receipt; None when the store is down (fence anyway:
    the blobs are removed later through the journal, and the receipt leaves their size unknown)."""
    try:
        return ctx.blobs.usage(prefix)
    except StorageError:
        return None


def _fence(
    tx: Tx,
    bot: Row,
    prefix: str,
    usage: Future[tuple[int, int] | None],
    sub_type: EventSubType | None,
) -> None:
    conn = tx.conn
    receipt = Receipt(deleted=data_deletion.delete_captured_rows(conn, bot.id))
    # the key is looked up only if a kept delivery is sealed (a bot with no webhooks has none)
    scrub_kept_deliveries(conn, bot.id, Opener(bot.id, lambda: tx.keys.key_for_reading(bot.id)))
    data_deletion.reset_recording(conn, bot.id)
    receipt.deleted["recording_files"] = int(bool(bot.has_recording_file))
    data_deletion.scrub_event_metadata(conn, bot.id)
    scrubbed = scrub_settings(bot.settings or {})
    if scrubbed != bot.settings:
        bots.update_fields(conn, bot_id=bot.id, settings=scrubbed)
    deletion_journal.add(conn, bot_id=bot.id, prefix=prefix)
    measured = usage.result()
    if measured is not None:
        receipt.blobs, receipt.blob_bytes = measured
    record_event(
        tx,
        bot_id=bot.id,
        event=EventType.DATA_DELETED,
        sub_type=sub_type,
        metadata=receipt.as_metadata(),
        locked=bot,  # locked and read by lock_for_deletion in this transaction
    )


def finish_storage(
    ctx: AppContext,
    *,
    bot_id: str,
    prefix: str,
    destruction: Future[KeyDestruction] | None = None,
    close: bool = True,
) -> None:
    """Destroy the bot's data key, delete its blob prefix, verify it is empty, and clear its
    journal entry.

    The key is destroyed while the blobs are deleted and the bot's queued tasks and temporary
    files removed: each step is idempotent and the journal entry committed with the fence
    finishes any of them after a crash, so their order does not matter for safety. The answer
    waits for all of them (a 200 only once the key is gone and the prefix is empty), and
    storage reports its progress (``deletion.mid_storage``) only once the key is gone.
    ``destruction``: the key's destruction begun during the fence, now only to be committed.
    ``close``: run ``close_deletion`` when done (else the caller does, once it has answered:
    the key is gone and the prefix verified empty, so what is left is bookkeeping).

    Also runs for a bot that is already data_deleted with no journal entry, so a blob written
    after an earlier purge (a late upload) is removed by any repeat call."""
    # One helper thread for the key (its commit waits on the disk, holding no GIL); the rest on
    # this thread, one after the other: more threads in Python code only queue for the GIL.
    key_gone = ctx.in_background(_destroy_key, ctx, bot_id, destruction)

    def batch_done() -> None:
        wait([key_gone])
        checkpoint(ctx.settings, "deletion.mid_storage")

    errors = []
    try:
        ctx.blobs.delete_prefix(prefix, on_batch=batch_done)
        if not ctx.blobs.is_empty(prefix):
            raise StorageError(f"{prefix} is not empty after deletion")
    except StorageError as exc:
        errors.append(str(exc))
    _remove_leftovers(ctx, bot_id)
    key_error = key_gone.exception()  # waits for it
    if key_error is not None:
        if not isinstance(key_error, StorageError):
            raise key_error
        errors.insert(0, str(key_error))
    if errors:
        error = "; ".join(errors)
        with ctx.db.write() as tx:
            deletion_journal.record_failure(tx.conn, bot_id=bot_id, error=error)
        raise StoragePending(
            f"The bot's data is fenced and its rows are deleted, but destroying its key or "
            f"removing its files from storage failed ({error}). Deletion will complete "
            f"automatically; call delete_data again to finish it now.",
            # the periodic journal job retries within this; a repeat call may finish sooner
            retry_after=math.ceil(ctx.settings.journal_interval),
        )
    if close:
        close_deletion(ctx, bot_id)


def close_deletion(ctx: AppContext, bot_id: str) -> None:
    """Clear the journal entry of a deletion whose key is gone and whose prefix is verified
    empty, then scrub. A crash before this ran leaves an entry that the periodic journal job
    finishes (every step is idempotent) and that verify does not count as a remain."""
    try:
        with ctx.db.write() as tx:
            # Losing this commit in a crash is harmless (the journal job re-checks a destroyed
            # key and an empty prefix), so it need not wait for the WAL flush.
            deletion_journal.remove(tx.conn, bot_id=bot_id, durable=False)
    except SQLAlchemyError as exc:
        log.warning("clearing the journal entry of bot %s did not complete: %s", bot_id, exc)
    # SQLite folds the WAL (which still holds the deleted rows' pages, as ciphertext) into the
    # database, where secure_delete has zeroed them, and truncates it; the key store drops the
    # destroyed key's old bytes the same way (PostgreSQL: VACUUM).
    ctx.in_background(scrub_after_deletion, ctx)


def _destroy_key(ctx: AppContext, bot_id: str, destruction: Future[KeyDestruction] | None) -> None:
    """Destroy the bot's key, or commit the destruction begun during the fence (which was
    submitted to the helpers first, so waiting for it here cannot starve it)."""
    try:
        if destruction is None:
            ctx.keys.destroy(bot_id, scrub=False)  # scrubbed with the WAL, after the answer
        else:
            destruction.result().commit()
    except SQLAlchemyError as exc:
        raise StorageError(f"the key store did not destroy the data key: {exc}") from exc
    checkpoint(ctx.settings, "deletion.after_key")


def _abandon(destruction: Future[KeyDestruction]) -> None:
    """The fence did not commit: roll the key's destruction back (the key stays)."""
    with suppress(SQLAlchemyError):  # it never began: nothing was destroyed either way
        destruction.result().abandon()


def _remove_leftovers(ctx: AppContext, bot_id: str) -> None:
    drop_queued_tasks(ctx, bot_id)
    # A bot that was killed mid-meeting may have left its temporary files on this machine.
    shutil.rmtree(bot_work_dir(ctx.settings.data_dir, bot_id), ignore_errors=True)


def drop_queued_tasks(ctx: AppContext, bot_id: str) -> int:
    """Remove the tasks still waiting for the deleted bot: any naming it (a bot run retrying for
    a free host) and webhook deliveries whose delivery went with its rows. They carry only ids,
    never content; removing them means nothing waits on the bot. Returns how many."""
    try:
        waiting = ctx.queue.waiting(mentioning=[bot_id, DELIVER_TASK])
        deliveries = {t.args[0] for t in waiting if t.name == DELIVER_TASK and t.args}
        if deliveries:
            with ctx.db.read() as conn:
                alive = webhook_deliveries.existing_ids(conn, deliveries)
            gone = deliveries - alive
        else:
            gone = set()
        return ctx.queue.discard(
            t for t in waiting if bot_id in t.args or (t.name == DELIVER_TASK and t.args[0] in gone)
        )
    except Exception as exc:  # only ids are queued: a queue that is down cannot leak content
        log.warning("could not remove the queued tasks of bot %s: %s", bot_id, exc)
        return 0


def scrub_after_deletion(ctx: AppContext) -> None:
    """Physically drop what a deletion freed: the key store's destroyed key and the main
    database's deleted pages. A crash before this ran is caught up by the periodic journal job
    (the key store) and SQLite's own checkpoints (the WAL, which holds only ciphertext)."""
    try:
        ctx.keys.scrub()
    except SQLAlchemyError as exc:
        log.warning("scrubbing the key store after a deletion did not complete: %s", exc)
    try:
        ctx.db.checkpoint()
    except SQLAlchemyError as exc:  # busy readers: the next deletion's checkpoint catches up
        log.warning("WAL checkpoint after a deletion did not complete: %s", exc)
