"""The deletion journal: one entry per bot whose data key and blob prefix delete_data has still
to destroy (written in the fence transaction, cleared once both are verifiably gone)."""

from sqlalchemy import Connection, delete, insert, select, update

from sitin.core.timefmt import utcnow
from sitin.db.tables import deletion_journal as journal

_ADD = insert(journal)


def add(conn: Connection, *, bot_id: str, prefix: str) -> None:
    conn.execute(_ADD, {"bot_id": bot_id, "prefix": prefix, "created_at": utcnow()})


def record_failure(conn: Connection, *, bot_id: str, error: str) -> None:
    """Count a failed attempt to finish and keep its error (truncated)."""
    conn.execute(
        update(journal)
        .where(journal.c.bot_id == bot_id)
        .values(attempts=journal.c.attempts + 1, last_error=error[:500])
    )


def remove(conn: Connection, *, bot_id: str, durable: bool = True) -> None:
    """Clear the bot's entry. ``durable=False``: on PostgreSQL this transaction's commit need
    not wait for the WAL flush (for a removal that is harmless to lose in a crash)."""
    if not durable and conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
    conn.execute(delete(journal).where(journal.c.bot_id == bot_id))


def pending(conn: Connection) -> list[tuple[str, str]]:
    """(bot_id, prefix) of every entry, oldest first."""
    rows = conn.execute(select(journal.c.bot_id, journal.c.prefix).order_by(journal.c.created_at))
    return [(row.bot_id, row.prefix) for row in rows]


def has_entry(conn: Connection, *, bot_id: str) -> bool:
    found = conn.execute(select(journal.c.bot_id).where(journal.c.bot_id == bot_id)).first()
    return found is not None
