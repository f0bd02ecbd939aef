"""Keyset pagination on (created_at, id), oldest first, in both directions."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Column, Connection, Select, and_, or_
from sqlalchemy.engine import RowMapping


@dataclass(frozen=True)
class Position:
    """A point between two rows; ``reverse`` pages walk back from it."""

    created_at: datetime
    id: str
    reverse: bool = False


@dataclass(frozen=True)
class Page:
    rows: list[RowMapping]
    next: Position | None
    previous: Position | None


def keyset_page(
    conn: Connection,
    query: Select,
    created_col: Column,
    id_col: Column,
    *,
    position: Position | None,
    limit: int,
) -> Page:
    if position is None:
        rows = list(conn.execute(query.order_by(created_col, id_col).limit(limit + 1)).mappings())
        more = len(rows) > limit
        rows = rows[:limit]
        return Page(rows, _after(rows[-1], created_col, id_col) if more else None, None)

    key = (position.created_at, position.id)
    if not position.reverse:
        after = or_(created_col > key[0], and_(created_col == key[0], id_col > key[1]))
        rows = list(
            conn.execute(
                query.where(after).order_by(created_col, id_col).limit(limit + 1)
            ).mappings()
        )
        more = len(rows) > limit
        rows = rows[:limit]
        nxt = _after(rows[-1], created_col, id_col) if more else None
        prev = _before(rows[0], created_col, id_col) if rows else Position(*key, reverse=True)
        return Page(rows, nxt, prev)

    before = or_(created_col < key[0], and_(created_col == key[0], id_col < key[1]))
    rows = list(
        conn.execute(
            query.where(before).order_by(created_col.desc(), id_col.desc()).limit(limit + 1)
        ).mappings()
    )
    more = len(rows) > limit
    rows = list(reversed(rows[:limit]))
    prev = _before(rows[0], created_col, id_col) if more else None
    nxt = _after(rows[-1], created_col, id_col) if rows else Position(*key)
    return Page(rows, nxt, prev)


def _after(row: RowMapping, created_col: Column, id_col: Column) -> Position:
    return Position(row[created_col.key], row[id_col.key])


def _before(row: RowMapping, created_col: Column, id_col: Column) -> Position:
    return Position(row[created_col.key], row[id_col.key], reverse=True)
