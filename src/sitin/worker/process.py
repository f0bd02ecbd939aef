"""Running the worker: ``sitin worker``, alone or as one of ``sitin serve``'s worker processes
(``sitin.worker.supervisor``)."""

import logging
import os
import signal
import threading

from huey.consumer import Consumer

from sitin.queue import PeriodicRunner, TaskQueue

log = logging.getLogger(__name__)

PARENT_CHECK_S = 1.0


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

    def run_forever(self, *, parent_pid: int | None = None) -> None:
        """Standalone mode: run until SIGINT/SIGTERM, or until process ``parent_pid`` (the
        ``sitin serve`` that started this worker) is gone."""
        stopped = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stopped.set())
        self.start()
        while not stopped.wait(PARENT_CHECK_S):
            if parent_pid is not None and os.getppid() != parent_pid:
                log.warning("the server that started this worker is gone; stopping")
                break
        self.stop()
