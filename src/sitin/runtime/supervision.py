"""Periodic supervision of bots: stage scheduled bots shortly before ``join_at``, fail bots
whose worker stopped sending heartbeats (or that were never launched), and remove workers whose
heartbeats stopped (with their claims: the load they carried is free again)."""

import logging
from datetime import timedelta

from sitin.context import AppContext
from sitin.core.states import BotState, EventSubType, EventType
from sitin.core.timefmt import to_wire, utcnow
from sitin.db import bots, workers
from sitin.runtime import botstate

log = logging.getLogger(__name__)

# States in which a bot must be kept alive by a worker's heartbeats.
SUPERVISED = (
    BotState.JOINING,
    BotState.WAITING_ROOM,
    BotState.JOINED_NOT_RECORDING,
    BotState.JOINED_RECORDING,
    BotState.JOINED_RECORDING_PAUSED,
    BotState.JOINED_RECORDING_PERMISSION_DENIED,
    BotState.JOINING_BREAKOUT_ROOM,
    BotState.LEAVING_BREAKOUT_ROOM,
    BotState.LEAVING,
    BotState.POST_PROCESSING,
    BotState.STAGED,
)


POST_PROCESSING_LOST = (
    "the bot's worker stopped while it was post-processing: what was stored before stays (an "
    "accuracy pass in progress was abandoned; the realtime transcript is kept)"
)


def stage_due_bots(ctx: AppContext) -> list[str]:
    """Move scheduled bots whose join_at is near to staged and hand them to a worker."""
    horizon = utcnow() + timedelta(seconds=ctx.settings.stage_ahead_seconds)
    with ctx.db.read() as conn:
        due = bots.scheduled_by(conn, horizon=horizon)
    staged = []
    for row in due:
        metadata = {"join_at": to_wire(row.join_at)}
        if botstate.record(ctx, row.id, EventType.STAGED, metadata=metadata) == BotState.STAGED:
            ctx.bots.launch(row.id)
            staged.append(row.id)
    return staged


def reap_silent_bots(ctx: AppContext) -> list[str]:
    """Fail bots whose heartbeats stopped (heartbeat_timeout) or that never started
    (bot_not_launched); returns their ids."""
    now = utcnow()
    stale = now - timedelta(seconds=ctx.settings.heartbeat_timeout)
    never = now - timedelta(seconds=ctx.settings.launch_timeout)
    with ctx.db.read() as conn:
        rows = bots.silent(conn, states=SUPERVISED, heartbeat_before=stale, unlaunched_before=never)
    failed = []
    for row in rows:
        sub_type = (
            EventSubType.BOT_NOT_LAUNCHED
            if row.last_heartbeat_at is None
            else EventSubType.HEARTBEAT_TIMEOUT
        )
        if botstate.record(ctx, row.id, EventType.FATAL_ERROR, sub_type) == BotState.FATAL_ERROR:
            log.warning("bot %s failed: %s", row.id, sub_type.value)
            failed.append(row.id)
            if row.state == BotState.POST_PROCESSING:
                botstate.log(
                    ctx,
                    row.id,
                    level="warning",
                    entry_type="post_processing",
                    message=POST_PROCESSING_LOST,
                )
    return failed


def reap_silent_workers(ctx: AppContext) -> list[str]:
    """Remove the workers not heard from for the heartbeat timeout; returns their names."""
    heard_before = utcnow() - timedelta(seconds=ctx.settings.heartbeat_timeout)
    with ctx.db.write() as tx:
        gone = workers.remove_silent(tx.conn, heard_before=heard_before)
    for name in gone:
        log.warning("worker %s stopped sending heartbeats; removed", name)
    return gone
