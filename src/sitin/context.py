"""What every part of a running sitin process shares: settings, database, blob store, queue.

Built once per process (``build_context``) and passed explicitly; no other module-level state.
"""

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from sitin.config import Settings
from sitin.db.engine import Database
from sitin.db.migrate import upgrade
from sitin.storage import BlobStore, open_blob_store
from sitin.worker.queue import TaskQueue

# Called after a bot is committed as join_requested / scheduled; the runtime registers the queue.
BotLauncher = Callable[[str], None]


@dataclass
class AppContext:
    settings: Settings
    db: Database
    blobs: BlobStore
    queue: TaskQueue
    launch_bot: BotLauncher = field(default=lambda bot_id: None)
    notify_bot: Callable[[str], None] = field(default=lambda bot_id: None)
    bot_host: Any = None  # the worker's BotHost, in processes that run bots
    _closers: list[Callable[[], None]] = field(default_factory=list)
    _helpers: ThreadPoolExecutor | None = None
    _helpers_lock: threading.Lock = field(default_factory=threading.Lock)

    def in_background(self, work: Callable[..., Any], /, *args: Any) -> Future:
        """Run blocking I/O (a storage walk, …) on the process's helper threads meanwhile."""
        with self._helpers_lock:
            if self._helpers is None:
                self._helpers = ThreadPoolExecutor(max_workers=4, thread_name_prefix="helper")
                self.on_close(self._stop_helpers)
        return self._helpers.submit(work, *args)

    def _stop_helpers(self) -> None:
        with self._helpers_lock:
            helpers, self._helpers = self._helpers, None
        if helpers is not None:
            helpers.shutdown()

    def on_close(self, closer: Callable[[], None]) -> None:
        """Release a resource (an HTTP client's pool, …) when the context is closed."""
        self._closers.append(closer)

    def close(self) -> None:
        for closer in reversed(self._closers):
            closer()
        self._closers.clear()
        self.db.dispose()


def build_context(settings: Settings, *, migrate: bool = True) -> AppContext:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if migrate:
        upgrade(settings.resolved_database_url)
    db = Database(settings.resolved_database_url)
    blobs = open_blob_store(
        settings.resolved_storage_url,
        secret_key=settings.resolved_secret_key,
        public_url=settings.resolved_public_url,
        s3_endpoint_url=settings.s3_endpoint_url,
    )
    ctx = AppContext(
        settings=settings,
        db=db,
        blobs=blobs,
        queue=TaskQueue(settings.resolved_queue_url, settings.queue_name),
    )
    db.queue = ctx.queue
    from sitin.worker.tasks import register_tasks

    register_tasks(ctx)
    return ctx
