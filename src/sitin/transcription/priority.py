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
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

log = logging.getLogger(__name__)


def made_at_lower_priority(make: Callable[[], T], niceness: int) -> T:
    """``make()`` run in a thread of its own whose nice value is raised by ``niceness`` (0: run
    here, unchanged), so that every thread it starts inherits the lower priority."""
    if niceness <= 0:
        return make()
    with ThreadPoolExecutor(
        max_workers=1,
        thread_name_prefix="lower-priority-maker",
        initializer=_lower,
        initargs=(niceness,),
    ) as maker:
        return maker.submit(make).result()


def _lower(niceness: int) -> None:
    """Raise this thread's nice value by ``niceness`` (at most 19)."""
    me = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, me, min(19, os.getpriority(os.PRIO_PROCESS, me) + niceness))
    except OSError as error:  # not Linux's per-thread nice: slower to yield, never broken
        log.warning("could not lower the engine threads' priority: %s", error)
