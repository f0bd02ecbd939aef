"""Captured values stored before content was encrypted: found a batch at a time (by id, so a run
can stop and resume) and written back sealed (``encryption.existing``, for
``sitin storage encrypt``)."""

from typing import Any

from sqlalchemy import Connection, Row, Text, cast, select, update
from sqlalchemy.engine import RowMapping

from sitin.core.triggers import CONTENT_TRIGGERS
from sitin.db.engine import Database
from sitin.db.sealing import SEALED_COLUMNS
from sitin.db.tables import metadata, webhook_delivery_attempts
from sitin.encryption.aead import SEALED_PREFIX

attempts = webhook_delivery_attempts


def sealed_tables() -> list[str]:
    """The tables with sealed columns, in ``SEALED_COLUMNS`` order."""
    return list(dict.fromkeys(table for table, _c, _p, _k in SEALED_COLUMNS))


def _unsealed(table, column_name: str, kind: str):
    column = table.c[column_name]
    if kind == "text":
        return column.is_not(None) & column.not_like(f"{SEALED_PREFIX}%")
    # JSON: a sealed value is a JSON string, '"enc1:…"' in its text form (SQLite and JSONB).
    return column.is_not(None) & cast(column, Text).not_like(f'"{SEALED_PREFIX}%')


def rows_batch(
    conn: Connection, table_name: str, columns: list[tuple[str, str]], *, after: Any, limit: int
) -> list[RowMapping]:
    """Rows of ``table_name`` with a value of ``columns`` (name, kind) not sealed yet (or, for
    participants, no uuid hash yet), with ids above ``after``, in id order."""
    table = metadata.tables[table_name]
    pending = None
    for column, kind in columns:
        clause = _unsealed(table, column, kind)
        pending = clause if pending is None else pending | clause
    if table_name == "participants":
        pending = pending | table.c.uuid_hash.is_(None)
    query = select(table).where(pending).order_by(table.c.id).limit(limit)
    if after is not None:
        query = query.where(table.c.id > after)
    return conn.execute(query).mappings().all()


def write_row(conn: Connection, table_name: str, row_id: Any, values: dict[str, Any]) -> None:
    table = metadata.tables[table_name]
    conn.execute(update(table).where(table.c.id == row_id).values(**values))


def payloads_batch(conn: Connection, *, after: str | None, limit: int) -> list[Row]:
    """Delivery attempts of content triggers whose payload is not sealed yet (``id``,
    ``bot_id``, ``payload``), ids above ``after``, in id order."""
    pending = (
        attempts.c.trigger.in_(sorted(CONTENT_TRIGGERS))
        & attempts.c.bot_id.is_not(None)
        & _unsealed(attempts, "payload", "json")
    )
    query = (
        select(attempts.c.id, attempts.c.bot_id, attempts.c.payload)
        .where(pending)
        .order_by(attempts.c.id)
        .limit(limit)
    )
    if after is not None:
        query = query.where(attempts.c.id > after)
    return conn.execute(query).all()


def write_payload(conn: Connection, attempt_id: str, sealed: str) -> None:
    conn.execute(update(attempts).where(attempts.c.id == attempt_id).values(payload=sealed))


def vacuum_sealed_tables(db: Database) -> None:
    """Rewrite what held the replaced plaintext: the whole file on SQLite (VACUUM), the sealed
    tables and the delivery attempts on PostgreSQL (VACUUM FULL). Outside any transaction."""
    # SQLite: the read engine opens no transaction around a statement (VACUUM refuses one)
    engine = db.read_engine if db.is_sqlite else db.write_engine
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        if db.is_sqlite:
            conn.exec_driver_sql("VACUUM")
        else:
            for name in [*sealed_tables(), attempts.name]:
                conn.exec_driver_sql(f'VACUUM FULL "{name}"')
