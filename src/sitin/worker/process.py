"""Running the worker: embedded in ``sitin serve`` or standalone with ``sitin worker``."""

import logging
import signal
import threading

from huey.consumer import Consumer

from sitin.queue import PeriodicRunner, TaskQueue

log = logging.getLogger(__name__)


class _EmbeddedConsumer(Consumer):
    """A huey consumer that leaves signal handling to its host (uvicorn or our CLI)."""

    def _set_signal_handlers(self) -> None:
        pass


class Worker:
    """Executes queued tasks with a pool of threads and (optionally) runs the periodic jobs.

    The bots themselves run in the context's bot host, which closes with the context."""

    def __init__(self, queue: TaskQueue, *, threads: int = 8, periodic: PeriodicRunner | None):
        self.consumer = _EmbeddedConsumer(
            queue.huey,
            workers=threads,
            worker_type="thread",
            periodic=False,
            initial_delay=0.01,
            max_delay=0.2,
            scheduler_interval=1,
            check_worker_health=True,
        )
        self.periodic = periodic

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

    def run_forever(self) -> None:
        """Standalone mode: run until SIGINT/SIGTERM."""
        stopped = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stopped.set())
        self.start()
        stopped.wait()
        self.stop()
