"""Periodic jobs (heartbeat reaper, deletion journal, retention, scheduled launches).

A plain thread calls each registered job every ``interval`` seconds. Exactly one process in a
deployment runs it (``sitin serve``'s first worker process by default; ``sitin worker
--no-periodic`` elsewhere).
A failing job is logged and retried on the next tick; it never stops the others.
"""

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass
class Job:
    name: str
    fn: Callable[[], object]
    interval: float
    next_run: float = 0.0


class PeriodicRunner:
    def __init__(self, tick: float = 0.5):
        self._jobs: list[Job] = []
        self._tick = tick
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, name: str, fn: Callable[[], object], *, every: float) -> None:
        self._jobs.append(Job(name, fn, every))

    @property
    def job_names(self) -> list[str]:
        return [job.name for job in self._jobs]

    def run_all_now(self) -> None:
        for job in self._jobs:
            self._run(job)

    def _run(self, job: Job) -> None:
        try:
            job.fn()
        except Exception:
            log.exception("periodic job %s failed; will retry", job.name)
        job.next_run = time.monotonic() + job.interval

    def _loop(self) -> None:
        while not self._stop.is_set():
            now = time.monotonic()
            for job in self._jobs:
                if now >= job.next_run and not self._stop.is_set():
                    self._run(job)
            self._stop.wait(self._tick)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="sitin-periodic", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
