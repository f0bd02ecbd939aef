"""Projects: the tenant every bot, key and webhook belongs to."""

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.engine import RowMapping

from sitin.core.ids import new_id
from sitin.core.timefmt import utcnow
from sitin.db.tables import projects

DEFAULT_PROJECT = "default"


class ProjectExists(ValueError):
    pass


def create(conn: Connection, *, name: str) -> str:
    if get_by_name(conn, name=name) is not None:
        raise ProjectExists(f"A project named {name!r} already exists")
    project_id = new_id("proj")
    conn.execute(
        insert(projects).values(id=project_id, name=name, settings={}, created_at=utcnow())
    )
    return project_id


def get(conn: Connection, *, project_id: str) -> RowMapping | None:
    return conn.execute(select(projects).where(projects.c.id == project_id)).mappings().first()


def get_by_name(conn: Connection, *, name: str) -> RowMapping | None:
    return conn.execute(select(projects).where(projects.c.name == name)).mappings().first()


def list_all(conn: Connection) -> list[RowMapping]:
    return list(conn.execute(select(projects).order_by(projects.c.created_at)).mappings())


def set_retention(conn: Connection, *, project_id: str, seconds: int | None) -> None:
    conn.execute(
        update(projects).where(projects.c.id == project_id).values(data_retention_seconds=seconds)
    )
