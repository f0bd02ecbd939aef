"""What one process's bots share of a transcription engine: a loaded model, and the window packer
that lays their segments onto it (see offline.py). Made on first use and kept while the process
runs; the process's context holds one, so every bot of a worker uses the same model."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")


class SharedModels:
    def __init__(self) -> None:
        # re-entrant: making a packer may ask for the model it decodes with
        self._lock = threading.RLock()
        self._made: dict[Hashable, Any] = {}

    def get(self, key: Hashable, make: Callable[[], T]) -> T:
        """The object kept under ``key``, made by ``make`` (blocking: a model loads for seconds;
        call from a thread) the first time it is asked for."""
        with self._lock:
            if key not in self._made:
                self._made[key] = make()
            return self._made[key]
