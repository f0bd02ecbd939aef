"""Engines and transactions for SQLite (embedded) and PostgreSQL (scale-out).

Use ``db.read()`` for queries and ``db.write()`` for anything that changes rows. On SQLite a write
transaction starts with ``BEGIN IMMEDIATE`` so writers serialise up front (a check-then-write, like
the deletion fence, can never interleave with another writer); reads run in autocommit mode,
concurrently under WAL, each statement on its own snapshot.
On PostgreSQL reads run in autocommit mode too and writes are ordinary transactions; the fence
locks the bot row instead.
"""

import errno
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError

from sitin.core import json_text
from sitin.core.states import RecordedEvent
from sitin.encryption import KeyStore
from sitin.queue import TaskQueue


@dataclass
class Tx:
    """A write transaction: the connection, the task queue follow-up work goes to, the listeners
    every recorded bot event is handed to, and work to run only if it commits (enqueue after
    commit, never before)."""

    conn: Connection
    queue: TaskQueue | None = None
    event_listeners: Sequence["EventListener"] = ()
    keys: KeyStore | None = None  # captured content is sealed under the bot's data key from here
    _after_commit: list[Callable[[], None]] = field(default_factory=list)

    def after_commit(self, fn: Callable[[], None]) -> None:
        self._after_commit.append(fn)


def is_out_of_space(error: BaseException) -> bool:
    """Whether a failed statement or commit ran out of disk (SQLite's SQLITE_FULL, PostgreSQL's
    disk_full, ENOSPC): the transaction rolled back, so the request changed nothing."""
    cause = getattr(error, "orig", None) or error
    if isinstance(cause, sqlite3.Error):
        return (getattr(cause, "sqlite_errorcode", 0) & 0xFF) == sqlite3.SQLITE_FULL
    if getattr(cause, "sqlstate", None) == "53100":  # psycopg: disk_full
        return True
    return isinstance(cause, OSError) and cause.errno == errno.ENOSPC


def ping(conn: Connection) -> None:
    """The cheapest statement: raises if the database does not answer (the health check)."""
    conn.execute(text("SELECT 1"))


# Called inside the transaction for every event ``db.bot_events.record_event`` records.
EventListener = Callable[[Tx, RecordedEvent], None]


# A pooled PostgreSQL connection idle this long is pinged before use (one dropped by a server
# restart or a firewall is replaced); a busy pool pays no round trip per request for it.
IDLE_PING_SECONDS = 5.0


def _postgres_sessions(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _in_utc(dbapi_conn, _record):
        # Timestamps come back in UTC whatever the server's TimeZone: the API writes them as
        # they come (api.responses)
        with dbapi_conn.cursor() as cursor:
            cursor.execute("SET TIME ZONE 'UTC'")
        dbapi_conn.commit()

    @event.listens_for(engine, "checkin")
    def _idle_from(_dbapi_conn, record):
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_conn, record, _proxy):
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < IDLE_PING_SECONDS:
            return
        try:
            with dbapi_conn.cursor() as cursor:
                cursor.execute("SELECT 1")
            dbapi_conn.rollback()
        except dbapi_conn.__class__.Error as exc:  # gone: the pool opens a new one instead
            raise DisconnectionError("a pooled connection did not answer") from exc


class Database:
    """Given at construction (by ``sitin.bootstrap``) and handed to every write transaction:
    ``queue`` for work queued after commit, ``event_listeners`` for every recorded bot event,
    ``keys`` for the per-bot data keys captured content is sealed under."""

    def __init__(
        self,
        url: str,
        *,
        queue: TaskQueue | None = None,
        event_listeners: Sequence[EventListener] = (),
        keys: KeyStore | None = None,
        pool_size: int = 10,
    ):
        self.url = url
        self.is_sqlite = make_url(url).get_backend_name() == "sqlite"
        self.queue = queue
        self.event_listeners = tuple(event_listeners)
        self.keys = keys
        if self.is_sqlite:
            self._prepare_sqlite_file(url)
            # Reads run in SQLite's autocommit mode: each statement sees a consistent snapshot,
            # and skipping BEGIN/COMMIT roughly halves the cost of a one-statement read.
            self.read_engine = self._sqlite_engine(url, begin=None)
            self.write_engine = self._sqlite_engine(url, begin="BEGIN IMMEDIATE")
        else:
            # No overflow: a connection handed back is kept (an overflow one would be closed,
            # and a new PostgreSQL connection starts a backend process, dearer than the query).
            self.write_engine = create_engine(
                url,
                pool_size=pool_size,
                max_overflow=0,
                pool_timeout=60,
                json_deserializer=json_text.loads,
            )
            _postgres_sessions(self.write_engine)
            # Reads in autocommit, on the same pool: no BEGIN and COMMIT round trips around
            # them (as on SQLite, each statement sees its own snapshot).
            self.read_engine = self.write_engine.execution_options(isolation_level="AUTOCOMMIT")

    @staticmethod
    def _prepare_sqlite_file(url: str) -> None:
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)

    @staticmethod
    def _sqlite_engine(url: str, *, begin: str | None) -> Engine:
        engine = create_engine(
            url, pool_size=20, max_overflow=20, json_deserializer=json_text.loads
        )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn, _record):
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA secure_delete=ON")  # deleted rows are zeroed, not left behind
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        if begin is not None:

            @event.listens_for(engine, "begin")
            def _on_begin(conn):
                conn.exec_driver_sql(begin)

        return engine

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.read_engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def write(self) -> Iterator[Tx]:
        """Commit on success (then run after-commit hooks), roll back on error."""
        with self.write_engine.connect() as conn:
            tx = Tx(conn, queue=self.queue, event_listeners=self.event_listeners, keys=self.keys)
            with conn.begin():
                yield tx
        for fn in tx._after_commit:
            fn()

    def checkpoint(self) -> None:
        """SQLite: copy the WAL into the database and truncate it, so pages that held deleted
        rows do not linger in the ``-wal`` file (a no-op on PostgreSQL)."""
        if self.is_sqlite:
            with self.read_engine.connect() as conn:  # autocommit: no transaction around it
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")

    def dispose(self) -> None:
        self.write_engine.dispose()
        if self.is_sqlite:  # an engine of its own (on PostgreSQL a view of the write engine's pool)
            self.read_engine.dispose()
