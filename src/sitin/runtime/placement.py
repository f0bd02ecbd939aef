"""This worker's place among the workers: its row (capacity, heartbeats) and its claims on bots.

Whichever worker executes a bot's ``bot.run`` task places the bot (``db.workers.place``): on the
live worker with the most free room for the bot's cost (``core.capacity``), itself on a tie. A
bot placed here starts at once; a bot placed on another worker is started by that worker, which
looks for bots placed on it a few times a second. A worker heard from within three heartbeat
intervals counts as live; the reaper removes one silent for the heartbeat timeout (its bots fail
with heartbeat_timeout, as ever).
"""

import logging
import os
import socket
import threading
from datetime import timedelta
from typing import TYPE_CHECKING

from sitin.context import AppContext
from sitin.core.capacity import bot_cost
from sitin.core.ids import new_id
from sitin.core.timefmt import utcnow
from sitin.db import workers
from sitin.db.workers import Claim, WorkerLoad
from sitin.runtime import botstate

if TYPE_CHECKING:  # the host pulls in the media stack
    from sitin.runtime.host import BotHost

log = logging.getLogger(__name__)

LIVE_HEARTBEATS = 3  # a worker silent for this many heartbeat intervals gets no more bots
PLACED_POLL_SECONDS = 0.25  # how often a worker looks for bots another worker placed on it


class Placement:
    def __init__(self, ctx: AppContext, host: "BotHost", *, capacity: float):
        self.ctx = ctx
        self.host = host
        self.capacity = capacity
        self.worker_id = new_id("wkr")
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        self._stopped = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        with self.ctx.db.write() as tx:
            workers.register(
                tx.conn, worker_id=self.worker_id, name=self.name, capacity=self.capacity
            )
        for target, name in ((self._beat, "beat"), (self._start_placed, "placed")):
            thread = threading.Thread(target=target, name=f"sitin-worker-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
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

    def _start_placed(self) -> None:
        """Start the bots other workers placed on this one."""
        while not self._stopped.wait(PLACED_POLL_SECONDS):
            try:
                with self.ctx.db.read() as conn:
                    placed = workers.claims_to_start(conn, worker_id=self.worker_id)
                for bot_id in placed:
                    if not self.start_here(bot_id):
                        self.ctx.bots.launch(bot_id)  # placed again, where there is room
            except Exception:
                log.exception("could not start the bots placed on this worker; will retry")

    def start_here(self, bot_id: str) -> bool:
        """Run a bot placed on this worker (nothing to do if it runs already); False, with the
        claim released, when the host already runs SITIN_MAX_BOTS_PER_WORKER bots."""
        if self.host.try_submit(bot_id):
            return True
        self.release(bot_id)
        return False

    def stop(self) -> None:
        self._stopped.set()
        for thread in self._threads:
            thread.join(timeout=10)
        with self.ctx.db.write() as tx:
            workers.unregister(tx.conn, worker_id=self.worker_id)

    def place(self, bot_id: str) -> tuple[Claim, list[WorkerLoad]]:
        bot = botstate.load_bot(self.ctx, bot_id)
        if bot is None:
            return Claim.GONE, []
        live_since = utcnow() - timedelta(
            seconds=LIVE_HEARTBEATS * self.ctx.settings.heartbeat_interval
        )
        with self.ctx.db.write() as tx:
            return workers.place(
                tx.conn,
                worker_id=self.worker_id,
                bot_id=bot_id,
                cost=bot_cost(bot["settings"]),
                live_since=live_since,
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
