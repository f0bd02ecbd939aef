"""Webhook signing secrets per project, stored encrypted (``webhooks.signing`` encrypts them and
signs with them). A secret without ``expires_at`` is current; rotated ones expire after an
overlap."""

from datetime import datetime

from sqlalchemy import Connection, delete, insert, or_, select, update

from sitin.core.timefmt import utcnow
from sitin.db.tables import projects
from sitin.db.tables import webhook_secrets as secrets


def _of_valid(conn: Connection, column, *, project_id: str, now: datetime) -> list:
    """``column`` of the project's secrets still verifying at ``now``, newest first."""
    return list(
        conn.execute(
            select(column)
            .where(
                secrets.c.project_id == project_id,
                or_(secrets.c.expires_at.is_(None), secrets.c.expires_at > now),
            )
            .order_by(secrets.c.id.desc())
        ).scalars()
    )


def valid_tokens(conn: Connection, *, project_id: str, now: datetime) -> list[str]:
    """The encrypted secrets still verifying at ``now``, newest first."""
    return _of_valid(conn, secrets.c.secret_encrypted, project_id=project_id, now=now)


def valid_expiries(conn: Connection, *, project_id: str, now: datetime) -> list[datetime | None]:
    """When each secret still verifying at ``now`` expires, newest first (None: no expiry)."""
    return _of_valid(conn, secrets.c.expires_at, project_id=project_id, now=now)


def add(conn: Connection, *, project_id: str, token: str) -> None:
    """Store a new current secret (already encrypted)."""
    conn.execute(
        insert(secrets).values(
            project_id=project_id, secret_encrypted=token, created_at=utcnow(), expires_at=None
        )
    )


def lock_project(conn: Connection, *, project_id: str) -> None:
    """Lock the project row (PostgreSQL), so two transactions cannot both create a "first"
    secret or rotate at once (SQLite's writers are serialised already)."""
    conn.execute(select(projects.c.id).where(projects.c.id == project_id).with_for_update())


def expire_all(conn: Connection, *, project_id: str, now: datetime, expires: datetime) -> None:
    """Drop the secrets expired at ``now``; the others stop verifying at ``expires`` at the
    latest."""
    conn.execute(
        delete(secrets).where(secrets.c.project_id == project_id, secrets.c.expires_at <= now)
    )
    conn.execute(
        update(secrets)
        .where(
            secrets.c.project_id == project_id,
            or_(secrets.c.expires_at.is_(None), secrets.c.expires_at > expires),
        )
        .values(expires_at=expires)
    )
