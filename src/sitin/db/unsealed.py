"""Captured values stored before content was encrypted: found a batch at a time (by id, so a run
can stop and resume) and written back sealed (``encryption.existing``, for
``sitin storage encrypt``)."""

from typing import Any

from sqlalchemy import Connection, Row, Text, cast, select, text, update
from sqlalchemy.engine import RowMapping

from sitin.core.scrub import SAFE_EVENT_KEYS
from sitin.core.triggers import CONTENT_TRIGGERS, Trigger
from sitin.db.engine import Database
from sitin.db.sealing import SEALED_COLUMNS, SEALED_EVENT_KEY
from sitin.db.tables import bot_events, bot_output_requests, metadata, webhook_delivery_attempts
from sitin.encryption.aead import SEALED_PREFIX

attempts = webhook_delivery_attempts
# Event metadata keys that are never sealed: the allow-list, and the one holding the sealed rest.
_PLAIN_EVENT_KEYS = ", ".join(f"'{key}'" for key in sorted({*SAFE_EVENT_KEYS, SEALED_EVENT_KEY}))


def sealed_tables() -> list[str]:
    """The tables with sealed columns, in ``SEALED_COLUMNS`` order."""
    return list(dict.fromkeys(table for table, _c, _p, _k in SEALED_COLUMNS))


def rewritten_tables() -> list[str]:
    """Every table whose values the in-place sealing may replace (what is vacuumed after)."""
    return [*sealed_tables(), bot_events.name, attempts.name]


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


# --- values sealed inside a column (see ``db.sealing``) ---------------------------------------


def _has_private_keys(conn: Connection, column: str, *path: str):
    """True where the JSON object at ``path`` in ``column`` has a key that is neither
    allow-listed nor the sealed one: metadata an older version stored in plaintext."""
    if conn.dialect.name == "sqlite":
        at = f", '$.{'.'.join(path)}'" if path else ""
        return text(
            f"EXISTS (SELECT 1 FROM json_each({column}{at}) AS j "
            f"WHERE j.key NOT IN ({_PLAIN_EVENT_KEYS}))"
        )
    value = f"({column} #> '{{{','.join(path)}}}')" if path else column
    only_object = (
        f"CASE WHEN jsonb_typeof({value}) = 'object' THEN {value} ELSE CAST('{{}}' AS jsonb) END"
    )
    return text(
        f"EXISTS (SELECT 1 FROM jsonb_object_keys({only_object}) AS j(key) "
        f"WHERE j.key NOT IN ({_PLAIN_EVENT_KEYS}))"
    )


def _has_plain_excerpt(conn: Connection):
    """True where an entry of the attempt history holds a response excerpt not sealed yet."""
    history = f"{attempts.name}.attempts"
    if conn.dialect.name == "sqlite":
        return text(
            f"EXISTS (SELECT 1 FROM json_each({history}) AS e "
            "WHERE json_type(e.value, '$.response_excerpt') = 'text' "
            f"AND substr(json_extract(e.value, '$.response_excerpt'), 1, {len(SEALED_PREFIX)}) "
            f"<> '{SEALED_PREFIX}')"
        )
    only_array = (
        f"CASE WHEN jsonb_typeof({history}) = 'array' THEN {history} ELSE CAST('[]' AS jsonb) END"
    )
    return text(
        f"EXISTS (SELECT 1 FROM jsonb_array_elements({only_array}) AS e(value) "
        "WHERE jsonb_typeof(e.value -> 'response_excerpt') = 'string' "
        f"AND left(e.value ->> 'response_excerpt', {len(SEALED_PREFIX)}) <> '{SEALED_PREFIX}')"
    )


def _after(query, id_column, after: Any, limit: int):
    query = query.order_by(id_column).limit(limit)
    return query if after is None else query.where(id_column > after)


def events_batch(conn: Connection, *, after: Any, limit: int) -> list[Row]:
    """Events (``id``, ``bot_id``, ``metadata``) whose metadata holds keys beyond the allow-list
    in plaintext, ids above ``after``, in id order."""
    query = select(bot_events.c.id, bot_events.c.bot_id, bot_events.c.metadata).where(
        bot_events.c.metadata.is_not(None), _has_private_keys(conn, f"{bot_events.name}.metadata")
    )
    return conn.execute(_after(query, bot_events.c.id, after, limit)).all()


def state_payloads_batch(conn: Connection, *, after: str | None, limit: int) -> list[Row]:
    """bot.state_change attempts (``id``, ``bot_id``, ``payload``) whose payload is plain and
    carries event metadata beyond the allow-list, ids above ``after``, in id order."""
    query = select(attempts.c.id, attempts.c.bot_id, attempts.c.payload).where(
        attempts.c.trigger == Trigger.STATE_CHANGE.value,
        attempts.c.bot_id.is_not(None),
        _unsealed(attempts, "payload", "json"),
        _has_private_keys(conn, f"{attempts.name}.payload", "data", "event_metadata"),
    )
    return conn.execute(_after(query, attempts.c.id, after, limit)).all()


def excerpts_batch(conn: Connection, *, after: str | None, limit: int) -> list[Row]:
    """Attempts (``id``, ``bot_id``, ``attempts``) of a bot whose history holds a response
    excerpt in plaintext, ids above ``after``, in id order."""
    query = select(attempts.c.id, attempts.c.bot_id, attempts.c.attempts).where(
        attempts.c.bot_id.is_not(None), _has_plain_excerpt(conn)
    )
    return conn.execute(_after(query, attempts.c.id, after, limit)).all()


def output_audio_batch(conn: Connection, *, after: Any, limit: int) -> list[Row]:
    """Queued output audio (``id``, ``bot_id``, ``data``), ids above ``after``, in id order.
    Sealed bytes carry no mark, so every row is returned: the caller tries to open each."""
    requests = bot_output_requests
    query = select(requests.c.id, requests.c.bot_id, requests.c.data).where(
        requests.c.data.is_not(None)
    )
    return conn.execute(_after(query, requests.c.id, after, limit)).all()


def vacuum_sealed_tables(db: Database) -> None:
    """Rewrite what held the replaced plaintext: the whole file on SQLite (VACUUM), the sealed
    tables and the delivery attempts on PostgreSQL (VACUUM FULL). Outside any transaction."""
    # SQLite: the read engine opens no transaction around a statement (VACUUM refuses one)
    engine = db.read_engine if db.is_sqlite else db.write_engine
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        if db.is_sqlite:
            conn.exec_driver_sql("VACUUM")
        else:
            for name in rewritten_tables():
                conn.exec_driver_sql(f'VACUUM FULL "{name}"')
