"""What every part of a running sitin process shares: settings, database, key store, blob store,
queue, the bot launcher, the outbound guard and the rooms' passes.

Frozen: ``sitin.bootstrap.build_context`` builds it once per process, with everything already
wired (tasks registered, listeners attached); nothing assigns to it afterwards.
"""

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from sitin.config import Settings
from sitin.db.engine import Database
from sitin.encryption import KeyStore
from sitin.outbound import OutboundGuard
from sitin.queue import TaskQueue
from sitin.rooms.passes import RoomPasses
from sitin.storage import SealedBlobStore
from sitin.transcription.shared import SharedModels


class BotLauncher(Protocol):
    """How the API and the periodic jobs reach bots; called only after the commit that asked."""

    def launch(self, bot_id: str) -> None:
        """Start the bot (join_requested / staged) on some worker."""

    def wake(self, bot_id: str) -> None:
        """Tell a running bot a command is waiting (runners also poll, so this may do nothing)."""


class Resources:
    """Helper threads and closers owned by one context, released by ``AppContext.close``."""

    def __init__(self) -> None:
        self._closers: list[Callable[[], None]] = []
        self._helpers: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def in_background(self, work: Callable[..., Any], /, *args: Any) -> Future:
        with self._lock:
            if self._helpers is None:
                self._helpers = ThreadPoolExecutor(max_workers=4, thread_name_prefix="helper")
                self._closers.append(self._stop_helpers)
            return self._helpers.submit(work, *args)

    def _stop_helpers(self) -> None:
        with self._lock:
            helpers, self._helpers = self._helpers, None
        if helpers is not None:
            helpers.shutdown()

    def on_close(self, closer: Callable[[], None]) -> None:
        with self._lock:
            self._closers.append(closer)

    def close(self) -> None:
        while True:
            with self._lock:
                if not self._closers:
                    return
                closer = self._closers.pop()
            closer()


@dataclass(frozen=True)
class AppContext:
    settings: Settings
    db: Database
    keys: KeyStore  # per-bot data keys; captured content is sealed under them
    blobs: SealedBlobStore
    queue: TaskQueue
    bots: BotLauncher
    outbound: OutboundGuard  # every connection to a user-chosen destination asks it first
    room_passes: RoomPasses  # bot passes and invites of the local rooms (server secret)
    resources: Resources = field(default_factory=Resources)
    models: SharedModels = field(default_factory=SharedModels)  # the transcription model(s)

    def in_background(self, work: Callable[..., Any], /, *args: Any) -> Future:
        """Run blocking I/O (a storage walk, …) on the process's helper threads meanwhile."""
        return self.resources.in_background(work, *args)

    def on_close(self, closer: Callable[[], None]) -> None:
        """Release a resource (an HTTP client's pool, the bot host, …) when the context closes;
        the last registered is released first."""
        self.resources.on_close(closer)

    def close(self) -> None:
        self.resources.close()
        self.db.dispose()
        self.keys.dispose()
