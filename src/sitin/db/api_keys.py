"""API keys: 32 random alphanumerics shown once; only the SHA-256 is stored."""

import hashlib

from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.engine import RowMapping

from sitin.core.ids import new_api_key, new_id
from sitin.core.timefmt import utcnow
from sitin.db.tables import api_keys, projects


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create(conn: Connection, *, project_id: str, name: str = "default") -> tuple[str, str]:
    """Returns (key id, plaintext key). The plaintext is not kept anywhere."""
    key = new_api_key()
    key_id = new_id("key")
    conn.execute(
        insert(api_keys).values(
            id=key_id, project_id=project_id, name=name, key_hash=hash_key(key), created_at=utcnow()
        )
    )
    return key_id, key


def list_all(conn: Connection) -> list[RowMapping]:
    query = (
        select(
            api_keys.c.id,
            api_keys.c.name,
            api_keys.c.created_at,
            api_keys.c.disabled_at,
            projects.c.name.label("project"),
        )
        .join(projects, projects.c.id == api_keys.c.project_id)
        .order_by(api_keys.c.created_at)
    )
    return list(conn.execute(query).mappings())


def revoke(conn: Connection, *, key_id: str) -> bool:
    result = conn.execute(
        update(api_keys)
        .where(api_keys.c.id == key_id, api_keys.c.disabled_at.is_(None))
        .values(disabled_at=utcnow())
    )
    return result.rowcount == 1


# Built once: every API request runs it (see db/bots.py on prebuilt statements).
_PROJECT_OF_ACTIVE_KEY = select(api_keys.c.project_id).where(
    api_keys.c.key_hash == bindparam("key_hash"), api_keys.c.disabled_at.is_(None)
)


def project_for_key(conn: Connection, *, key: str) -> str | None:
    """The project an active key belongs to, or None."""
    params = {"key_hash": hash_key(key)}
    return conn.execute(_PROJECT_OF_ACTIVE_KEY, params).scalar_one_or_none()
