"""Webhook subscriptions: a bot's own (created with it, ``bot_id`` set) and the project-level ones
(``bot_id`` null) that serve the project's bots without subscriptions of their own."""

from typing import Any

from sqlalchemy import Connection, Row, and_, bindparam, delete, insert, or_, select, update
from sqlalchemy.engine import RowMapping

from sitin.core.ids import new_id
from sitin.core.timefmt import utcnow
from sitin.db.pagination import Page, Position, keyset_page
from sitin.db.tables import webhook_subscriptions as subs

# The bot's own subscriptions and the project-wide ones, in one query. Read to write delivery
# attempts for them: FOR KEY SHARE (PostgreSQL; SQLite serialises writers anyway) makes a
# subscription deleted meanwhile wait for this transaction, instead of the attempt's insert
# failing its foreign key (seen under load: a bot's state change failed the bot).
_CANDIDATES = (
    select(subs)
    .where(
        or_(
            subs.c.bot_id == bindparam("bot_id"),
            and_(subs.c.project_id == bindparam("project_id"), subs.c.bot_id.is_(None)),
        )
    )
    .with_for_update(key_share=True)
)


def add(
    conn: Connection,
    *,
    project_id: str,
    bot_id: str | None,
    url: str,
    triggers: list[str],
    is_active: bool = True,
) -> str:
    """Insert a subscription (``bot_id`` None: project-level); returns its id."""
    webhook_id = new_id("webhook")
    conn.execute(
        insert(subs).values(
            id=webhook_id,
            project_id=project_id,
            bot_id=bot_id,
            url=url,
            triggers=list(triggers),
            is_active=is_active,
            created_at=utcnow(),
        )
    )
    return webhook_id


def get_project_level(conn: Connection, *, project_id: str, webhook_id: str) -> RowMapping | None:
    return (
        conn.execute(
            select(subs).where(
                subs.c.id == webhook_id, subs.c.project_id == project_id, subs.c.bot_id.is_(None)
            )
        )
        .mappings()
        .first()
    )


def project_level_page(
    conn: Connection, *, project_id: str, position: Position | None, limit: int
) -> Page:
    query = select(subs).where(subs.c.project_id == project_id, subs.c.bot_id.is_(None))
    return keyset_page(conn, query, subs.c.created_at, subs.c.id, position=position, limit=limit)


def project_url_taken(conn: Connection, *, project_id: str, url: str) -> bool:
    """Whether a project-level subscription of the project already posts to ``url``."""
    taken = conn.execute(
        select(subs.c.id).where(
            subs.c.project_id == project_id, subs.c.bot_id.is_(None), subs.c.url == url
        )
    ).first()
    return taken is not None


def update_fields(conn: Connection, *, webhook_id: str, **values: Any) -> None:
    conn.execute(update(subs).where(subs.c.id == webhook_id).values(**values))


def delete_subscription(conn: Connection, *, webhook_id: str) -> None:
    """Delete it; its delivery attempts go with it (ON DELETE CASCADE)."""
    conn.execute(delete(subs).where(subs.c.id == webhook_id))


def candidates_for_bot(conn: Connection, *, project_id: str, bot_id: str) -> list[Row]:
    """The bot's own subscriptions and its project's project-level ones."""
    return list(conn.execute(_CANDIDATES, {"bot_id": bot_id, "project_id": project_id}))
