"""Running the worker: embedded in ``sitin serve`` or standalone with ``sitin worker``."""

import logging
import threading

from huey.consumer import Consumer

from sitin.context import AppContext
from sitin.runtime.host import BotHost
from sitin.worker.periodic import PeriodicRunner
from sitin.worker.tasks import register_periodic

log = logging.getLogger(__name__)


class _EmbeddedConsumer(Consumer):
    """A huey consumer that leaves signal handling to its host (uvicorn or our CLI)."""

    def _set_signal_handlers(self) -> None:
        pass


class Worker:
    """Executes queued tasks with a pool of threads and (optionally) runs the periodic jobs."""

    def __init__(self, ctx: AppContext, *, threads: int = 8, periodic: bool = True):
        self.ctx = ctx
        self.consumer = _EmbeddedConsumer(
            ctx.queue.huey,
            workers=threads,
            worker_type="thread",
            periodic=False,
            initial_delay=0.01,
            max_delay=0.2,
            scheduler_interval=1,
            check_worker_health=True,
        )
        self.host = BotHost(ctx, max_bots=ctx.settings.max_bots_per_worker)
        ctx.bot_host = self.host
        ctx.notify_bot = self.host.wake
        self.periodic: PeriodicRunner | None = None
        if periodic:
            self.periodic = PeriodicRunner()
            register_periodic(ctx, self.periodic)

    def start(self) -> None:
        if self.periodic is not None:
            self.periodic.run_all_now()  # finish work left by a crash before taking new work
            self.periodic.start()
        self.consumer.start()
        log.info("worker started (%s threads)", self.consumer.workers)

    def stop(self) -> None:
        if self.periodic is not None:
            self.periodic.stop()
        self.consumer.stop(graceful=True)
        self.host.stop()

    def run_forever(self) -> None:
        """Standalone mode: run until SIGINT/SIGTERM."""
        import signal

        stopped = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stopped.set())
        self.start()
        stopped.wait()
        self.stop()
