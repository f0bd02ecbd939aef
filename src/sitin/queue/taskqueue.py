"""The task queue: huey on a SQLite file (embedded) or Redis (scale-out), tasks named by owner.

Tasks are registered by name (``bot.run``, ``webhook.deliver``, ``deletion.purge``) on a queue built
from the configuration, so the API process (which only enqueues) and any worker process (which also
executes) agree on names without import-time globals. Tasks take ids, reload what they need, and
must be safe to run twice (delivery is at least once).
"""

import heapq
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from huey import Huey, MemoryHuey, RedisHuey, SqliteHuey
from huey.storage import MemoryStorage, RedisStorage, SqliteStorage


class PrivateSqliteStorage(SqliteStorage):
    """huey's SQLite storage with ``secure_delete``: a finished task's bytes are zeroed."""

    def _create_connection(self):
        conn = super()._create_connection()
        conn.execute("pragma secure_delete=on")
        return conn


def make_huey(url: str, name: str = "sitin") -> Huey:
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        path = Path(parsed.path)
        path.parent.mkdir(parents=True, exist_ok=True)
        return SqliteHuey(
            name,
            filename=str(path),
            results=False,
            timeout=30,
            storage_class=PrivateSqliteStorage,
        )
    if parsed.scheme == "redis":
        return RedisHuey(name, url=url, results=False, blocking=True)
    if parsed.scheme == "memory":
        return MemoryHuey(name, results=False)
    raise ValueError(f"unsupported queue URL {url!r}: use sqlite:///path or redis://host:port/db")


@dataclass(frozen=True)
class WaitingTask:
    name: str
    args: tuple[Any, ...]
    raw: bytes  # as stored: what removing it matches on
    where: str  # "queue" or "schedule"


class TaskQueue:
    def __init__(self, url: str, name: str = "sitin"):
        self.url = url
        self.huey = make_huey(url, name)
        self._tasks: dict[str, Any] = {}

    def register(
        self, name: str, fn: Callable[..., Any], *, retries: int = 0, retry_delay: float = 0
    ) -> None:
        """Make ``fn`` runnable as task ``name`` (idempotent per name)."""
        if name not in self._tasks:
            self._tasks[name] = self.huey.task(name=name, retries=retries, retry_delay=retry_delay)(
                fn
            )

    @property
    def task_names(self) -> list[str]:
        return sorted(self._tasks)

    def enqueue(self, name: str, *args: Any, delay: float | None = None) -> None:
        task = self._tasks[name]
        if delay:
            task.schedule(args=args, delay=timedelta(seconds=delay).total_seconds())
        else:
            task(*args)

    def pending_count(self) -> int:
        return self.huey.pending_count()

    # --- what is waiting (deletion: no queued task may outlive a bot's data) ------------------

    def waiting(self, mentioning: Iterable[str] | None = None) -> list["WaitingTask"]:
        """Every task waiting in the queue or the schedule, read in one pass; with
        ``mentioning``, only those named so or with one of these strings among their arguments
        (only tasks whose stored bytes hold one are unpickled: huey's uncompressed pickle keeps
        every string as UTF-8)."""
        wanted = None if mentioning is None else set(mentioning)
        needles = [] if wanted is None else [text.encode() for text in wanted]
        found = []
        for raw, where in self._raw_items():
            if wanted is not None and not any(needle in raw for needle in needles):
                continue
            task = self.huey.deserialize_task(raw)
            waiting = WaitingTask(task.name, tuple(task.args or ()), raw, where)
            if wanted is None or waiting.name in wanted or wanted.intersection(waiting.args):
                found.append(waiting)
        return found

    def queued(self) -> Iterator[tuple[str, tuple[Any, ...]]]:
        """(task name, args) of every task waiting in the queue or the schedule."""
        for task in self.waiting():
            yield task.name, task.args

    def discard(self, tasks: Iterable["WaitingTask"]) -> int:
        """Remove these waiting tasks (from ``waiting()``); returns how many. (A worker may
        take one meanwhile: tasks reload what they need and find nothing.)"""
        removed = 0
        for task in tasks:
            self._remove_raw(task.raw, task.where)
            removed += 1
        return removed

    def _raw_items(self) -> list[tuple[bytes, str]]:
        storage = self.huey.storage
        return [(raw, "queue") for raw in storage.enqueued_items()] + [
            (raw, "schedule") for raw in storage.scheduled_items()
        ]

    def _remove_raw(self, raw: bytes, where: str) -> None:
        storage = self.huey.storage
        if isinstance(storage, SqliteStorage):
            table = "task" if where == "queue" else "schedule"
            storage.sql(
                f"delete from {table} where queue=? and data=?", (storage.name, raw), commit=True
            )
        elif isinstance(storage, RedisStorage):
            if where == "queue":
                storage.conn.lrem(storage.queue_key, 0, raw)
            else:
                storage.conn.zrem(storage.schedule_key, raw)
        elif isinstance(storage, MemoryStorage):
            with storage._lock:
                if where == "queue":
                    storage._queue = [item for item in storage._queue if item[2] != raw]
                    heapq.heapify(storage._queue)
                else:
                    storage._schedule = [item for item in storage._schedule if item[1] != raw]
                    heapq.heapify(storage._schedule)
        else:
            raise TypeError(f"cannot remove tasks from {type(storage).__name__}")
