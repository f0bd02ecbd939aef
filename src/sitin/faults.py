"""Fault injection for crash-safety tests: ``SITIN_FAULTS=deletion.after_commit`` makes the process
kill itself (SIGKILL, no clean-up) when it reaches that checkpoint. Unset in production: a no-op."""

import os
import signal


def checkpoint(name: str) -> None:
    faults = os.environ.get("SITIN_FAULTS")
    if faults and name in faults.split(","):
        os.kill(os.getpid(), signal.SIGKILL)
