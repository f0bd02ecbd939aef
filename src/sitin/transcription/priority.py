"""Engine threads that yield the CPU to the rest of the process.

A worker's event loop receives every bot's audio in real time; a decode can wait. When both want
the CPU, the loop must win, or packets queue past their deadline and audio is lost, while the
transcripts only fall a little further behind (and, being packed, catch up more cheaply: a decode
that starts later finds more segments waiting for its window). Linux gives each thread its own
nice value and a new thread inherits its creator's, so an engine made in a thread whose priority
was lowered runs its own worker threads at that priority. With the CPU idle they still use all of
it."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

log = logging.getLogger(__name__)


def made_at_lower_priority(make: Callable[[], T], niceness: int) -> T:
    """``make()`` run in a thread of its own whose nice value is raised by ``niceness`` (0: run
    here, unchanged), so that every thread it starts inherits the lower priority."""
    if niceness <= 0:
        return make()
    outcome: list[T] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            try:
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), _raised(niceness))
            except OSError as error:  # not Linux's per-thread nice: slower to yield, never broken
                log.warning("could not lower the engine threads' priority: %s", error)
            outcome.append(make())
        except BaseException as error:  # handed to the caller's thread
            failure.append(error)

    thread = threading.Thread(target=run, name="lower-priority-maker")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return outcome[0]


def _raised(niceness: int) -> int:
    current = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    return min(19, current + niceness)
