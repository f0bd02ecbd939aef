"""``sitin keys``: API keys (only their SHA-256 is stored; a key is shown once)."""

import click

from sitin.cli.options import data_dir_option, find_project, open_context, project_option
from sitin.core.timefmt import to_wire
from sitin.db import api_keys


@click.group("keys")
@data_dir_option
def group() -> None:
    """Manage API keys."""


@group.command("create")
@project_option(required=True)
@click.option("--name", default="cli", help="A label for the key.")
@data_dir_option
def create(project_name: str, name: str) -> None:
    """Create a key; it is printed once, alone on the last line."""
    with open_context() as ctx, ctx.db.write() as tx:
        project = find_project(tx.conn, project_name)
        key_id, key = api_keys.create(tx.conn, project_id=project["id"], name=name)
    click.echo(f"created key {key_id} for project {project_name}; it is shown only once:", err=True)
    click.echo(key)


@group.command("list")
@data_dir_option
def list_command() -> None:
    with open_context() as ctx, ctx.db.read() as conn:
        rows = api_keys.list_all(conn)
    for row in rows:
        status = f"revoked {to_wire(row['disabled_at'])}" if row["disabled_at"] else "active"
        click.echo(
            f"{row['id']}  project={row['project']}  name={row['name']}  "
            f"created {to_wire(row['created_at'])}  {status}"
        )


@group.command("revoke")
@click.argument("key_id")
@data_dir_option
def revoke(key_id: str) -> None:
    with open_context() as ctx, ctx.db.write() as tx:
        revoked = api_keys.revoke(tx.conn, key_id=key_id)
    if not revoked:
        raise click.ClickException(f"no active key with id {key_id}")
    click.echo(f"revoked {key_id}")
