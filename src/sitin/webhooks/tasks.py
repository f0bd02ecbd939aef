"""The webhooks package's task (``webhook.deliver``) and periodic sweep. Its bot-event listener
(``dispatch.on_bot_event``) is attached to the database by ``sitin.bootstrap``."""

import logging
from datetime import timedelta

from sitin.context import AppContext
from sitin.core.timefmt import utcnow
from sitin.db import webhook_deliveries
from sitin.queue import PeriodicRunner
from sitin.webhooks.delivery import Deliverer
from sitin.webhooks.dispatch import DELIVER_TASK, enqueue_all

log = logging.getLogger(__name__)

SWEEP_EVERY = 15.0  # seconds
SWEEP_GRACE = timedelta(seconds=60)  # a due attempt untouched this long lost its queued task
SWEEP_BATCH = 500


def register(ctx: AppContext) -> None:
    """Register ``webhook.deliver`` on the context's queue; the deliverer closes with it."""
    deliverer = Deliverer(ctx)
    ctx.on_close(deliverer.close)
    ctx.queue.register(DELIVER_TASK, deliverer.deliver)


def register_periodic(ctx: AppContext, runner: PeriodicRunner) -> None:
    runner.add("webhook.sweep", lambda: requeue_lost_deliveries(ctx), every=SWEEP_EVERY)


def requeue_lost_deliveries(ctx: AppContext) -> int:
    """Queue again the pending attempts whose task was lost (a crash between commit and enqueue,
    a worker dying mid-delivery). Running a delivery twice is safe: the claim checks the row."""
    with ctx.db.read() as conn:
        ids = webhook_deliveries.lost_pending(
            conn, due_before=utcnow() - SWEEP_GRACE, limit=SWEEP_BATCH
        )
    if ids:
        log.info("re-queueing %d webhook deliveries whose task was lost", len(ids))
        enqueue_all(ctx.queue, ids)
    return len(ids)
