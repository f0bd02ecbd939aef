"""Finishing blob deletions that were committed but not verified (store down, process killed), and
removing blobs that arrived under a data-deleted bot's prefix afterwards (an upload that passed the
fence just before it closed, its worker killed before it could clean up)."""

import logging

from sitin.context import AppContext
from sitin.core.errors import StoragePending
from sitin.db import deletion_journal
from sitin.deletion.purge import finish_storage
from sitin.deletion.verify import audit_storage
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
