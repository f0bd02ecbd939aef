"""Finishing blob deletions that were committed but not verified (store down, process killed),
removing blobs that arrived under a data-deleted bot's prefix afterwards (an upload that passed the
fence just before it closed, its worker killed before it could clean up), and purging bots that a
database restored from a backup brought back after their data key was destroyed."""

import logging

from sitin.context import AppContext
from sitin.core.errors import BotNotFound, RuleError, StoragePending
from sitin.core.states import DELETABLE_STATES, BotState
from sitin.db import bots, deletion_journal
from sitin.deletion.purge import delete_bot_data, finish_storage
from sitin.deletion.verify import audit_storage
from sitin.encryption.keystore import DESTROYED
from sitin.storage import StorageError

log = logging.getLogger(__name__)


def pending_entries(ctx: AppContext) -> list[tuple[str, str]]:
    with ctx.db.read() as conn:
        return deletion_journal.pending(conn)


def process_journal(ctx: AppContext) -> int:
    """Retry every pending prefix, then scrub the key store if a destruction may have left bytes
    in its files (a crash right after a deletion answered, before its scrub ran); returns how
    many are still pending."""
    still_pending = 0
    for bot_id, prefix in pending_entries(ctx):
        try:
            finish_storage(ctx, bot_id=bot_id, prefix=prefix)
        except StoragePending:
            still_pending += 1
            log.warning("blob deletion for bot %s still pending; will retry", bot_id)
    ctx.keys.scrub_if_due()
    return still_pending


def sweep_orphans(ctx: AppContext) -> int:
    """Remove every blob prefix of a data-deleted bot the store still holds (one listing of the
    bots/ folder, one query); returns how many prefixes were removed. Prefixes of no known bot
    are left for ``sitin deletion audit`` to report: they may belong to another deployment."""
    removed = 0
    try:
        findings = audit_storage(ctx)
    except StorageError as exc:
        log.warning("orphan sweep skipped, the store is unavailable: %s", exc)
        return 0
    for finding in findings:
        if finding.reason != "data_deleted":
            continue
        bot_id = finding.prefix.rstrip("/").rsplit("/", 1)[-1]
        try:
            finish_storage(ctx, bot_id=bot_id, prefix=finding.prefix)
        except StoragePending:
            log.warning("blobs left under data-deleted bot %s; will retry", bot_id)
            continue
        log.info("removed blobs that arrived after bot %s's data was deleted", bot_id)
        removed += 1
    return removed


def purge_restored(ctx: AppContext) -> int:
    """Purge, as delete_data does, every bot whose data key is destroyed while the database says
    it is not data_deleted: a database restored from a backup taken before its delete_data.
    Its restored rows are ciphertext nobody can open, but they take space and verify reports
    them; this makes the state converge without a human. A restored bot still in a meeting
    state waits until the reaper fails it (no worker runs it). Returns how many were purged."""
    destroyed = sorted(bot for bot, status in ctx.keys.status().items() if status == DESTROYED)
    states: dict[str, str] = {}
    with ctx.db.read() as conn:
        for start in range(0, len(destroyed), 500):
            states.update(bots.states_of(conn, destroyed[start : start + 500]))
    purged = 0
    for bot_id, state in sorted(states.items()):
        if state == BotState.DATA_DELETED:
            continue
        if state not in DELETABLE_STATES:
            log.info(
                "restored bot %s (key destroyed) is %s; purged once it has ended", bot_id, state
            )
            continue
        try:
            delete_bot_data(ctx, bot_id=bot_id, project_id=None)
        except (BotNotFound, RuleError):  # deleted, or moved on, meanwhile
            continue
        except StoragePending:  # its rows are gone; the journal finishes the blobs
            log.warning("restored bot %s purged; its blobs are still pending", bot_id)
        else:
            log.warning(
                "bot %s was restored from a backup taken before its data was deleted; its "
                "restored rows and blobs were purged",
                bot_id,
            )
        purged += 1
    return purged
