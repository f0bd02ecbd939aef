"""The key store: one data key per bot, wrapped by the master key, in its own small database.

Embedded default: its own SQLite file (``keys.db`` in the data directory) with ``secure_delete`` on
and its WAL checkpointed and truncated after every destruction, so a destroyed key leaves no bytes
behind in the file. Scale-out: any SQLAlchemy URL (``SITIN_KEYSTORE_URL``), typically a separate
PostgreSQL database the operator keeps out of ordinary backups.

A destroyed key leaves a tombstone (bot id and time, no key material), so a key is never created
again for a bot whose data was deleted, and an audit can tell "destroyed" from "never had one".
"""

import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Engine,
    LargeBinary,
    MetaData,
    String,
    Table,
    Transaction,
    bindparam,
    create_engine,
    event,
    inspect,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from sitin.core.timefmt import as_utc, utcnow
from sitin.encryption.aead import DataKey, MasterKeys

CACHE_SIZE = 4096
CACHE_SECONDS = 300.0  # another process's destruction is seen at the latest after this long

metadata = MetaData()
data_keys = Table(
    "sitin_data_keys",
    metadata,
    Column("bot_id", String(32), primary_key=True),
    Column("master_id", String(16), nullable=True),
    Column("wrapped", LargeBinary, nullable=True),  # null: destroyed
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("destroyed_at", DateTime(timezone=True), nullable=True),
)

LIVE = "live"
DESTROYED = "destroyed"


# one compiled statement for any number of ids (an expanding IN), not one built per call
_DESTROYED = select(data_keys.c.bot_id, data_keys.c.destroyed_at).where(
    data_keys.c.wrapped.is_(None), data_keys.c.bot_id.in_(bindparam("bot_ids", expanding=True))
)


def _destroying(insert):  # the dialect's insert(): its upsert differs
    """A destruction that also leaves a tombstone for a bot that never had a key."""
    return (
        insert(data_keys)
        .values(
            bot_id=bindparam("bot_id_"),
            master_id=None,
            wrapped=None,
            created_at=bindparam("now"),
            destroyed_at=bindparam("now"),
        )
        .on_conflict_do_update(
            index_elements=["bot_id"],
            set_={"master_id": None, "wrapped": None, "destroyed_at": bindparam("now")},
            where=data_keys.c.wrapped.is_not(None),
        )
    )


# built once, not per destruction (delete_data waits for it)
_DESTROY_ON_SQLITE = _destroying(sqlite.insert)
_DESTROY_ON_POSTGRESQL = _destroying(postgresql.insert)


class KeyDestroyed(RuntimeError):
    """The bot's data key was destroyed (its data deleted): nothing may be sealed for it."""


class KeyStore:
    def __init__(self, url: str, masters: MasterKeys):
        self.url = url
        self.masters = masters
        self.is_sqlite = make_url(url).get_backend_name() == "sqlite"
        self.engine = self._engine(url)
        self._table_ready = False  # made on first use: an unreachable store fails its requests
        self._cache: OrderedDict[str, tuple[DataKey | None, float]] = OrderedDict()
        # Bots looked up by destroyed_at and found with no destroyed key, until when that answer
        # stands: every API read asks, and most bots never had a key loaded in this process.
        self._not_destroyed: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()
        # A destruction whose old bytes may still be in the store's files: True at start, since a
        # process killed between a destruction and its scrub leaves them.
        self._scrub_due = True

    def _engine(self, url: str) -> Engine:
        if not self.is_sqlite:
            return create_engine(url, pool_size=5, max_overflow=10, pool_pre_ping=True)
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, pool_size=5, max_overflow=10)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn, _record):
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA secure_delete=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine

    def _ready(self) -> Engine:
        if not self._table_ready:
            with self._lock:
                if not self._table_ready:
                    try:
                        metadata.create_all(self.engine)
                    except SQLAlchemyError:  # another process made it between check and create
                        if not inspect(self.engine).has_table(data_keys.name):
                            raise
                    self._table_ready = True
        return self.engine

    # --- lookups ----------------------------------------------------------------------------

    def key_for_writing(self, bot_id: str) -> DataKey:
        """The bot's key, created on first use. Raises KeyDestroyed once it was destroyed.

        Call it inside the deletion fence (after ``ensure_capturable``): delete_data commits the
        bot as data_deleted before it destroys the key, so no key is created after destruction."""
        cached = self._cached(bot_id)
        if cached is not None:
            if cached is _TOMBSTONE:
                raise KeyDestroyed(bot_id)
            return cached
        key = self._load(bot_id)
        if key is None:
            key = self._create(bot_id)
        if key is _TOMBSTONE:
            raise KeyDestroyed(bot_id)
        return key

    def key_for_reading(self, bot_id: str) -> DataKey | None:
        """The bot's key, or None when it has none (destroyed, or nothing was ever sealed)."""
        cached = self._cached(bot_id)
        if cached is None:
            cached = self._load(bot_id)
            if cached is None:
                return None
        return None if cached is _TOMBSTONE else cached

    def destroyed_at(self, bot_ids: Iterable[str]) -> dict[str, datetime]:
        """When each of ``bot_ids`` had its key destroyed, for those whose key is destroyed (a
        bot restored from a backup taken before its delete_data reads as data-deleted).

        A bot found not destroyed is not asked again for ``CACHE_SECONDS``, as a cached live key
        is not: another process's destruction is seen at the latest after that long."""
        wanted = self._not_known_live(bot_ids)
        found: dict[str, datetime] = {}
        if not wanted:
            return found
        with self._ready().connect() as conn:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                for row in conn.execute(_DESTROYED, {"bot_ids": chunk}):
                    found[row.bot_id] = as_utc(row.destroyed_at)
        self._remember_not_destroyed([bot_id for bot_id in wanted if bot_id not in found])
        return found

    def status(self, bot_ids: Iterable[str] | None = None) -> dict[str, str]:
        """``live`` or ``destroyed`` per bot id the store knows (all of them when ``None``)."""
        query = select(data_keys.c.bot_id, data_keys.c.wrapped.is_(None).label("gone"))
        found: dict[str, str] = {}
        with self._ready().connect() as conn:
            if bot_ids is None:
                rows = list(conn.execute(query))
            else:
                ids, rows = list(bot_ids), []
                for start in range(0, len(ids), 500):
                    chunk = ids[start : start + 500]
                    rows.extend(conn.execute(query.where(data_keys.c.bot_id.in_(chunk))))
        for row in rows:
            found[row.bot_id] = DESTROYED if row.gone else LIVE
        return found

    def _cached(self, bot_id: str) -> "DataKey | _Tombstone | None":
        with self._lock:
            entry = self._cache.get(bot_id)
            if entry is None:
                return None
            if entry[1] < time.monotonic():
                del self._cache[bot_id]
                return None
            self._cache.move_to_end(bot_id)
            return entry[0]

    def _not_known_live(self, bot_ids: Iterable[str]) -> list[str]:
        """Those of ``bot_ids`` neither holding a cached live key nor found not destroyed
        lately; under one acquisition of the lock (a page of bots asks for 25 at once)."""
        now = time.monotonic()
        unknown = []
        with self._lock:
            for bot_id in bot_ids:
                entry = self._cache.get(bot_id)
                if entry is not None:
                    if entry[1] >= now:
                        self._cache.move_to_end(bot_id)
                        if entry[0] is not _TOMBSTONE:
                            continue  # a live cached key: not destroyed
                        unknown.append(bot_id)
                        continue
                    del self._cache[bot_id]
                until = self._not_destroyed.get(bot_id)
                if until is not None and until >= now:
                    continue
                if until is not None:
                    del self._not_destroyed[bot_id]
                unknown.append(bot_id)
        return unknown

    def _remember_not_destroyed(self, bot_ids: list[str]) -> None:
        until = time.monotonic() + CACHE_SECONDS
        with self._lock:
            for bot_id in bot_ids:
                self._not_destroyed[bot_id] = until
                self._not_destroyed.move_to_end(bot_id)
            while len(self._not_destroyed) > CACHE_SIZE:
                self._not_destroyed.popitem(last=False)

    def _remember(self, bot_id: str, key: "DataKey | _Tombstone") -> None:
        with self._lock:
            self._cache[bot_id] = (key, time.monotonic() + CACHE_SECONDS)
            self._cache.move_to_end(bot_id)
            if key is _TOMBSTONE:
                self._not_destroyed.pop(bot_id, None)
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)

    def _load(self, bot_id: str) -> "DataKey | _Tombstone | None":
        with self._ready().connect() as conn:
            row = conn.execute(
                select(data_keys.c.master_id, data_keys.c.wrapped).where(
                    data_keys.c.bot_id == bot_id
                )
            ).first()
        if row is None:
            return None
        key = (
            _TOMBSTONE
            if row.wrapped is None
            else self.masters.unwrap(row.master_id, row.wrapped, bot_id)
        )
        self._remember(bot_id, key)
        return key

    def _create(self, bot_id: str) -> "DataKey | _Tombstone":
        master_id, wrapped = self.masters.wrap(DataKey.generate(), bot_id)
        insert = postgresql.insert if not self.is_sqlite else sqlite.insert
        with self._ready().begin() as conn:
            conn.execute(
                insert(data_keys)
                .values(bot_id=bot_id, master_id=master_id, wrapped=wrapped, created_at=utcnow())
                .on_conflict_do_nothing(index_elements=["bot_id"])
            )
        loaded = self._load(bot_id)  # whichever writer won the race
        assert loaded is not None
        return loaded

    def is_empty(self) -> bool:
        """True when no key was ever made (a new deployment, or one upgraded from plaintext)."""
        with self._ready().connect() as conn:
            return conn.execute(select(data_keys.c.bot_id).limit(1)).first() is None

    def check(self) -> None:
        """Raise unless the key store answers (health checks)."""
        with self._ready().connect() as conn:
            conn.execute(select(data_keys.c.bot_id).limit(1))

    # --- destruction and rotation -----------------------------------------------------------

    def destroy(self, bot_id: str, *, scrub: bool = True) -> None:
        """Destroy the bot's key (idempotent; committed when this returns) and, unless ``scrub``
        is False, scrub the freed bytes from the store's files. delete_data scrubs after its 200
        (the checkpoint is half the cost of destroying the key); until then the old bytes sit
        only in the store's own file, wrapped by the master key, and no read of the store can
        return them."""
        self.begin_destroying(bot_id).commit()
        if scrub:
            self.scrub()

    def begin_destroying(self, bot_id: str) -> "KeyDestruction":
        """Destroy the bot's key in a transaction left open: nothing is final until the returned
        destruction's ``commit()`` (``abandon()`` rolls it back). delete_data begins it while its
        fence transaction runs and commits it once the fence has committed, so that the key
        store's work mostly overlaps the fence's instead of following it."""
        statement = _DESTROY_ON_SQLITE if self.is_sqlite else _DESTROY_ON_POSTGRESQL
        conn = self._ready().connect()
        try:
            transaction = conn.begin()
            conn.execute(statement, {"bot_id_": bot_id, "now": utcnow()})
        except BaseException:
            conn.close()  # rolls back
            raise
        return KeyDestruction(self, bot_id, conn, transaction)

    def _destroyed(self, bot_id: str) -> None:
        self._remember(bot_id, _TOMBSTONE)
        self._scrub_due = True

    def scrub(self) -> bool:
        """Physically drop destroyed keys' old bytes: SQLite's WAL is checkpointed and truncated
        (secure_delete zeroes the freed pages); PostgreSQL's dead tuples are vacuumed. False when
        readers kept SQLite's checkpoint from completing: the scrub stays due, and the periodic
        journal job tries again."""
        self._scrub_due = False  # before: a destruction meanwhile sets it again
        try:
            if self.is_sqlite:
                with self._ready().connect() as conn:
                    busy = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").scalar()
                if busy:
                    self._scrub_due = True
                    return False
            else:
                with (
                    self._ready().connect().execution_options(isolation_level="AUTOCOMMIT") as conn
                ):
                    conn.exec_driver_sql(f"VACUUM {data_keys.name}")
        except BaseException:
            self._scrub_due = True
            raise
        return True

    def scrub_if_due(self) -> bool:
        """Scrub if a destruction (in this process, or before it started) may have left bytes;
        whether it scrubbed."""
        if not self._scrub_due:
            return False
        self.scrub()
        return True

    def rewrap(self) -> int:
        """Wrap every live key with the current master key (after a rotation); returns how many
        were rewrapped. Old master keys can be dropped from the configuration afterwards."""
        count = 0
        with self._ready().begin() as conn:
            rows = list(
                conn.execute(
                    select(data_keys.c.bot_id, data_keys.c.master_id, data_keys.c.wrapped).where(
                        data_keys.c.wrapped.is_not(None),
                        data_keys.c.master_id != self.masters.current_id,
                    )
                )
            )
            for row in rows:
                key = self.masters.unwrap(row.master_id, row.wrapped, row.bot_id)
                master_id, wrapped = self.masters.wrap(key, row.bot_id)
                conn.execute(
                    update(data_keys)
                    .where(data_keys.c.bot_id == row.bot_id)
                    .values(master_id=master_id, wrapped=wrapped)
                )
                count += 1
        if count:
            self.scrub()
        return count

    def forget_cached(self) -> None:
        with self._lock:
            self._cache.clear()
            self._not_destroyed.clear()

    def dispose(self) -> None:
        self.engine.dispose()


class _Tombstone:
    """Cache marker: the key was destroyed."""


_TOMBSTONE = _Tombstone()


class KeyDestruction:
    """A key's destruction executed in an open key-store transaction (from
    ``KeyStore.begin_destroying``); committed or abandoned once, from any thread."""

    def __init__(self, store: KeyStore, bot_id: str, conn: Connection, transaction: Transaction):
        self._store, self.bot_id = store, bot_id
        self._conn, self._transaction = conn, transaction

    def commit(self) -> None:
        """Make the destruction durable: from here on the bot's key is gone."""
        try:
            self._transaction.commit()
        finally:
            self._conn.close()
        self._store._destroyed(self.bot_id)

    def abandon(self) -> None:
        """Roll it back: the key stays (the fence it belonged to did not commit)."""
        self._conn.close()
