"""Fault injection for crash-safety tests: ``SITIN_FAULTS=deletion.after_commit`` (read into
``Settings.faults``) makes the process kill itself (SIGKILL, no clean-up) when it reaches that
checkpoint. Unset in production: a no-op."""

import os
import signal

from sitin.config import Settings


def checkpoint(settings: Settings, name: str) -> None:
    if name in settings.fault_points:
        os.kill(os.getpid(), signal.SIGKILL)
