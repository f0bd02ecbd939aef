"""``sitin serve``'s child processes: bot workers (``sitin worker``) and, with
``--api-workers N`` above 1, API processes; kept running and stopped with the server.

Each bot worker is a full worker (its own bot host, queue consumer and GIL), so bots use every
core; the first one also runs the periodic jobs (exactly one process in a deployment does). A
child that exits while the server runs is started again after a pause that doubles with every
quick crash (0.5 s up to 30 s; back to 0.5 s once it has run a minute). A dead worker's bots are
handled as a dead worker's always are: their heartbeats stop and the reaper fails them.

Children run in a session of their own, so a terminal's Ctrl-C reaches only the server, which
then stops them in order (SIGTERM: bots leave and keep what they captured; SIGKILL after
``stop_timeout``). A child whose server died without stopping it (SIGKILL) notices that its
parent is gone and stops itself: no orphan keeps running bots.
"""

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

FIRST_RESTART_DELAY_S = 0.5
MAX_RESTART_DELAY_S = 30.0
STABLE_AFTER_S = 60.0  # a child that ran this long before exiting gets the first delay again
POLL_S = 0.2


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exited with code {returncode}"


def sitin_command(*args: str) -> list[str]:
    """``sitin ARGS`` run by this interpreter, told who its parent is."""
    return [sys.executable, "-m", "sitin", *args, "--parent-pid", str(os.getpid())]


@dataclass
class Child:
    """One supervised process: ``label`` names it in log lines."""

    label: str
    command: list[str]
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    restart_at: float | None = None
    quick_crashes: int = 0
    pids: list[int] = field(default_factory=list)  # every pid it had, oldest first


def _named(child: Child) -> tuple[str, int]:
    return child.label, child.process.pid


def bot_workers(count: int, *, periodic: bool = True) -> list[Child]:
    """``count`` bot workers; the first runs the periodic jobs when ``periodic``."""
    return [
        Child(
            f"bot worker {index}",
            sitin_command("worker", *([] if periodic and index == 0 else ["--no-periodic"])),
        )
        for index in range(count)
    ]


class Supervisor:
    """Starts ``children`` with ``env`` and keeps them running until ``stop``."""

    def __init__(
        self, children: Sequence[Child], *, env: Mapping[str, str], stop_timeout: float = 50.0
    ):
        self._children = list(children)
        self._env = dict(env)
        self._stop_timeout = stop_timeout
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def pids(self) -> list[int]:
        """The pids of the children running now."""
        with self._lock:
            return [c.process.pid for c in self._children if c.process and c.process.poll() is None]

    def start(self) -> None:
        if not self._children:
            return
        with self._lock:
            for child in self._children:
                self._spawn(child)
        self._thread = threading.Thread(target=self._watch, name="sitin-supervisor", daemon=True)
        self._thread.start()
        log.info("started %s", ", ".join(child.label for child in self._children))

    def _spawn(self, child: Child) -> None:
        child.process = subprocess.Popen(child.command, env=self._env, start_new_session=True)
        child.started_at = time.monotonic()
        child.restart_at = None
        child.pids.append(child.process.pid)

    def _watch(self) -> None:
        while not self._stopping.wait(POLL_S):
            with self._lock:
                if self._stopping.is_set():
                    return
                now = time.monotonic()
                for child in self._children:
                    self._look_after(child, now)

    def _look_after(self, child: Child, now: float) -> None:
        if child.restart_at is not None:
            if now >= child.restart_at:
                self._spawn(child)
                log.info("%s restarted (pid %s)", child.label, child.process.pid)
            return
        returncode = child.process.poll()
        if returncode is None:
            return
        ran_s = now - child.started_at
        child.quick_crashes = 0 if ran_s >= STABLE_AFTER_S else child.quick_crashes + 1
        doubled = FIRST_RESTART_DELAY_S * 2 ** max(child.quick_crashes - 1, 0)
        delay = min(doubled, MAX_RESTART_DELAY_S)
        child.restart_at = now + delay
        log.warning(
            "%s (pid %s) %s after %.1f s; restarting it in %.1f s",
            child.label,
            child.process.pid,
            describe_exit(returncode),
            ran_s,
            delay,
        )

    def stop(self) -> None:
        """Stop every child (SIGTERM, then SIGKILL after the timeout); no restarts from now."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
        with self._lock:
            running = [c for c in self._children if c.process and c.process.poll() is None]
        for child in running:
            child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self._stop_timeout
        for child in running:
            try:
                child.process.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                log.warning(
                    "%s (pid %s) did not stop in time; killing it", child.label, child.process.pid
                )
                child.process.kill()
                child.process.wait()
        if running:
            log.info("stopped %s", ", ".join(child.label for child in running))
