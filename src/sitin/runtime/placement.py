"""This worker's place among the workers: its row (capacity, heartbeats) and its claims on bots.

A bot is run by the worker that claims it (``db.workers.claim``): only with headroom for the
bot's cost (``core.capacity``), and preferring whichever live worker has the most room, so bots
spread over the workers instead of going to whichever polls first. A worker heard from within
three heartbeat intervals counts as live; the reaper removes one silent for the heartbeat
timeout (its bots fail with heartbeat_timeout, as ever).
"""

import logging
import os
import socket
import threading
from datetime import timedelta

from sitin.context import AppContext
from sitin.core.capacity import bot_cost
from sitin.core.ids import new_id
from sitin.core.timefmt import utcnow
from sitin.db import workers
from sitin.db.workers import Claim, WorkerLoad
from sitin.runtime import botstate

log = logging.getLogger(__name__)

LIVE_HEARTBEATS = 3  # a worker silent for this many heartbeat intervals gets no more deference


class Placement:
    def __init__(self, ctx: AppContext, *, capacity: float):
        self.ctx = ctx
        self.capacity = capacity
        self.worker_id = new_id("wkr")
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        with self.ctx.db.write() as tx:
            workers.register(
                tx.conn, worker_id=self.worker_id, name=self.name, capacity=self.capacity
            )
        self._thread = threading.Thread(target=self._beat, name="sitin-worker-beat", daemon=True)
        self._thread.start()
        log.info("worker %s carries %.1f load units", self.name, self.capacity)

    def _beat(self) -> None:
        while not self._stopped.wait(self.ctx.settings.heartbeat_interval):
            try:
                with self.ctx.db.write() as tx:
                    if not workers.heartbeat(tx.conn, worker_id=self.worker_id):
                        # presumed dead (silent too long) and removed: be counted again
                        workers.register(
                            tx.conn,
                            worker_id=self.worker_id,
                            name=self.name,
                            capacity=self.capacity,
                        )
            except Exception:
                log.exception("worker heartbeat failed; will retry")

    def stop(self) -> None:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        with self.ctx.db.write() as tx:
            workers.unregister(tx.conn, worker_id=self.worker_id)

    def claim(self, bot_id: str, *, defer_to_others: bool = True) -> tuple[Claim, list[WorkerLoad]]:
        bot = botstate.load_bot(self.ctx, bot_id)
        if bot is None:
            return Claim.GONE, []
        live_since = utcnow() - timedelta(
            seconds=LIVE_HEARTBEATS * self.ctx.settings.heartbeat_interval
        )
        with self.ctx.db.write() as tx:
            return workers.claim(
                tx.conn,
                worker_id=self.worker_id,
                bot_id=bot_id,
                cost=bot_cost(bot["settings"]),
                live_since=live_since,
                defer_to_others=defer_to_others,
            )

    def release(self, bot_id: str) -> None:
        with self.ctx.db.write() as tx:
            workers.release(tx.conn, worker_id=self.worker_id, bot_id=bot_id)


def describe_full(live: list[WorkerLoad], cost: float) -> str:
    """Why a bot waits: what it needs and what every live worker has (a bot log message)."""
    if not live:
        return f"waiting for a worker: none is running (this bot needs {cost:g} load units)"
    shown = ", ".join(f"{w.name} {w.load:g}/{w.capacity:g}" for w in live)
    return (
        f"waiting for a worker with room: this bot needs {cost:g} load units and every worker "
        f"is full ({shown}); it joins when one has room"
    )
