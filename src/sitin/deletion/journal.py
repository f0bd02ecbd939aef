"""Finishing blob deletions that were committed but not verified (store down, process killed)."""

import logging

from sqlalchemy import select

from sitin.context import AppContext
from sitin.core.errors import StoragePending
from sitin.db.tables import deletion_journal
from sitin.deletion.purge import finish_storage

log = logging.getLogger(__name__)


def pending_entries(ctx: AppContext) -> list[tuple[str, str]]:
    with ctx.db.read() as conn:
        rows = conn.execute(
            select(deletion_journal.c.bot_id, deletion_journal.c.prefix).order_by(
                deletion_journal.c.created_at
            )
        ).all()
    return [(row.bot_id, row.prefix) for row in rows]


def process_journal(ctx: AppContext) -> int:
    """Retry every pending prefix; returns how many are still pending."""
    still_pending = 0
    for bot_id, prefix in pending_entries(ctx):
        try:
            finish_storage(ctx, bot_id=bot_id, prefix=prefix)
        except StoragePending:
            still_pending += 1
            log.warning("blob deletion for bot %s still pending; will retry", bot_id)
    return still_pending
