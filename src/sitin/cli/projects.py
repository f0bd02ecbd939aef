"""``sitin projects``: the tenants of this server."""

import click

from sitin.cli.options import data_dir_option, find_project, open_context
from sitin.core.timefmt import to_wire
from sitin.db import projects


@click.group("projects")
@data_dir_option
def group() -> None:
    """Manage projects (tenants)."""


@group.command("create")
@click.argument("name")
@data_dir_option
def create(name: str) -> None:
    """Create a project (and the data directory, if this is the first use)."""
    with open_context(create=True) as ctx:
        try:
            with ctx.db.write() as tx:
                project_id = projects.create(tx.conn, name=name)
        except projects.ProjectExists as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"created project {name} ({project_id})")


@group.command("list")
@data_dir_option
def list_command() -> None:
    with open_context() as ctx, ctx.db.read() as conn:
        rows = projects.list_all(conn)
    for row in rows:
        retention = row["data_retention_seconds"]
        click.echo(
            f"{row['id']}  {row['name']}  created {to_wire(row['created_at'])}"
            + (f"  retention {retention}s" if retention else "")
        )


@group.command("set-retention")
@click.argument("name")
@click.argument("seconds", type=int)
@data_dir_option
def set_retention(name: str, seconds: int) -> None:
    """Delete bots' captured data SECONDS after they end (0 turns retention off)."""
    if seconds < 0:
        raise click.BadParameter("must be 0 (off) or a positive number of seconds")
    with open_context() as ctx, ctx.db.write() as tx:
        project = find_project(tx.conn, name)
        projects.set_retention(tx.conn, project_id=project["id"], seconds=seconds or None)
    click.echo(f"retention for {name}: {f'{seconds}s' if seconds else 'off'}")
