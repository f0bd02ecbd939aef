"""Automatic deletion: a bot's data is deleted ``data_retention_seconds`` after it ends (the bot's
own setting, else its project's), through exactly the same path as the API call."""

import logging
from datetime import timedelta

from sitin.context import AppContext
from sitin.core.errors import StoragePending
from sitin.core.states import DELETABLE_STATES, EventSubType
from sitin.core.timefmt import as_utc, utcnow
from sitin.db import bots
from sitin.deletion.purge import delete_bot_data

log = logging.getLogger(__name__)


def expired_bots(ctx: AppContext, *, limit: int = 500) -> list[str]:
    now = utcnow()
    with ctx.db.read() as conn:
        rows = bots.ended_with_retention(conn, states=DELETABLE_STATES, limit=limit)
    return [
        row.id for row in rows if as_utc(row.ended_at) + timedelta(seconds=row.retention) <= now
    ]


def apply_retention(ctx: AppContext) -> int:
    """Delete the data of every bot past its retention; returns how many were fenced."""
    fenced = 0
    for bot_id in expired_bots(ctx):
        try:
            outcome = delete_bot_data(
                ctx, bot_id=bot_id, project_id=None, sub_type=EventSubType.RETENTION_EXPIRED
            )
            if outcome.fenced:
                fenced += 1
        except StoragePending:
            fenced += 1  # fenced; the journal finishes the blobs
        except Exception:
            log.exception("retention deletion of bot %s failed; will retry", bot_id)
    return fenced
