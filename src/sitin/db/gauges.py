"""Counts an operator watches, across every project (``/metrics``): bots by state, webhook
deliveries waiting to be sent, blob deletions waiting in the journal."""

from sqlalchemy import Connection, func, select

from sitin.db.tables import bots, deletion_journal, webhook_delivery_attempts


def bots_by_state(conn: Connection) -> dict[str, int]:
    rows = conn.execute(select(bots.c.state, func.count()).group_by(bots.c.state))
    return {state: count for state, count in rows}


def webhook_backlog(conn: Connection) -> int:
    """Deliveries not yet sent or still to be retried."""
    query = select(func.count()).where(webhook_delivery_attempts.c.status == "pending")
    return conn.execute(query).scalar_one()


def deletion_journal_length(conn: Connection) -> int:
    return conn.execute(select(func.count()).select_from(deletion_journal)).scalar_one()
