"""Projects with an API key, made directly in the database (the CLI is tested on its own)."""

from dataclasses import dataclass

from sitin.context import AppContext
from sitin.db import api_keys, projects


@dataclass
class Project:
    id: str
    name: str
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Token {self.key}"}


def create_project(ctx: AppContext, name: str) -> Project:
    with ctx.db.write() as tx:
        project_id = projects.create(tx.conn, name=name)
        _key_id, key = api_keys.create(tx.conn, project_id=project_id)
    return Project(project_id, name, key)
