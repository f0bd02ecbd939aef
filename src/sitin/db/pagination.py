"""Keyset pagination on (created_at, id), oldest first, in both directions."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Column, Connection, Select, and_, bindparam, or_
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
    params: Mapping[str, Any] | None = None,
) -> Page:
    """One page of ``query`` (whose bound parameters are ``params``) from ``position``.

    A caller that passes the same ``query`` object each time (built once, values as bound
    parameters) has the page's statement built once too: building a statement and its cache key
    costs more than SQLite takes to run it."""
    values = dict(params or {})
    if position is not None:
        values[_CREATED] = position.created_at
        values[_ID] = position.id
    direction = None if position is None else ("back" if position.reverse else "forward")
    statement = _page_statement(query, created_col, id_col, direction, limit)
    rows = conn.execute(statement, values).mappings().all()
    more = len(rows) > limit
    if position is None:
        rows = rows[:limit]
        return Page(rows, _after(rows[-1], created_col, id_col) if more else None, None)
    key = (position.created_at, position.id)
    if not position.reverse:
        rows = rows[:limit]
        nxt = _after(rows[-1], created_col, id_col) if more else None
        prev = _before(rows[0], created_col, id_col) if rows else Position(*key, reverse=True)
        return Page(rows, nxt, prev)
    rows = list(reversed(rows[:limit]))
    prev = _before(rows[0], created_col, id_col) if more else None
    nxt = _after(rows[-1], created_col, id_col) if rows else Position(*key)
    return Page(rows, nxt, prev)


_CREATED = "page_created_at"
_ID = "page_id"


@lru_cache(maxsize=256)
def _page_statement(
    query: Select, created_col: Column, id_col: Column, direction: str | None, limit: int
) -> Select:
    """The statement of a page: rows after the position (or before it, walking back), ordered,
    one more than ``limit`` (to tell whether there is another page)."""
    if direction is None:
        return query.order_by(created_col, id_col).limit(limit + 1)
    created, row_id = bindparam(_CREATED, type_=created_col.type), bindparam(_ID)
    if direction == "forward":
        after = or_(created_col > created, and_(created_col == created, id_col > row_id))
        return query.where(after).order_by(created_col, id_col).limit(limit + 1)
    before = or_(created_col < created, and_(created_col == created, id_col < row_id))
    return query.where(before).order_by(created_col.desc(), id_col.desc()).limit(limit + 1)


def _after(row: RowMapping, created_col: Column, id_col: Column) -> Position:
    return Position(row[created_col.key], row[id_col.key])


def _before(row: RowMapping, created_col: Column, id_col: Column) -> Position:
    return Position(row[created_col.key], row[id_col.key], reverse=True)
