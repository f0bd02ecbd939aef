"""The ``sitin`` command: serve, worker, migrate, projects, keys, deletion, storage."""

import sys
from pathlib import Path

import click

from sitin.bootstrap import build_context, build_worker
from sitin.config import Settings, load_settings
from sitin.context import AppContext
from sitin.core.timefmt import to_wire
from sitin.db import api_keys, projects
from sitin.db.migrate import upgrade
from sitin.webhooks import cli as webhooks_cli

data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the embedded database, blobs and queue live (env SITIN_DATA_DIR).",
)


def _settings(data_dir: Path | None = None, **overrides) -> Settings:
    try:
        return load_settings(data_dir=data_dir, **overrides)
    except ValueError as exc:
        raise click.ClickException(f"invalid configuration: {exc}") from None


def _context(data_dir: Path | None = None, *, run_bots: bool = False, **overrides) -> AppContext:
    """The command's context (``sitin.bootstrap``); ``run_bots`` where this process runs bots."""
    settings = _settings(data_dir, **overrides)
    return build_context(settings, run_bots=run_bots and settings.run_worker)


@click.group()
@click.version_option(package_name="sitin")
def main() -> None:
    """sitin: self-hosted meeting bots (Attendee-compatible Bots API)."""


@main.command()
@click.option("--host", default=None, help="Interface to listen on (env SITIN_HOST; 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (env SITIN_PORT; 8000).")
@data_dir_option
@click.option("--no-worker", is_flag=True, help="API only; run `sitin worker` elsewhere.")
def serve(host: str | None, port: int | None, data_dir: Path | None, no_worker: bool) -> None:
    """Run the API, the meeting rooms and (unless --no-worker) the bot worker."""
    import uvicorn

    from sitin.api.app import create_app

    overrides = {"host": host, "port": port}
    if no_worker:
        overrides["run_worker"] = False
    ctx = _context(data_dir, run_bots=True, **overrides)
    _first_start(ctx)
    settings = ctx.settings
    worker = None
    if settings.run_worker:
        worker = build_worker(ctx, periodic=settings.run_periodic)
        worker.start()
    click.echo(f"sitin listening on http://{settings.host}:{settings.port}  (docs: /api/docs)")
    try:
        uvicorn.run(
            create_app(ctx),
            host=settings.host,
            port=settings.port,
            log_level="info",
            access_log=False,
        )
    finally:
        if worker is not None:
            worker.stop()
        ctx.close()


@main.command()
@data_dir_option
@click.option("--threads", type=int, default=8, show_default=True, help="Task threads.")
@click.option(
    "--no-periodic",
    is_flag=True,
    help="Do not run periodic jobs (exactly one worker in a deployment should run them).",
)
def worker(data_dir: Path | None, threads: int, no_periodic: bool) -> None:
    """Run a worker: bots, webhook deliveries and (unless --no-periodic) periodic jobs."""
    ctx = _context(data_dir, run_bots=True, run_worker=True)
    click.echo(f"sitin worker started ({threads} threads)")
    try:
        build_worker(ctx, threads=threads, periodic=not no_periodic).run_forever()
    finally:
        ctx.close()


def _first_start(ctx: AppContext) -> None:
    """On the very first start, create the default project and print its API key once."""
    with ctx.db.write() as tx:
        if projects.list_all(tx.conn):
            return
        project_id = projects.create(tx.conn, name=projects.DEFAULT_PROJECT)
        _key_id, key = api_keys.create(tx.conn, project_id=project_id, name="first start")
    click.echo(
        "Created project 'default'. Its API key is shown only this once; keep it:\n"
        f"  Authorization: Token {key}"
    )


@main.command()
@data_dir_option
def migrate(data_dir: Path | None) -> None:
    """Bring the database schema up to date (also done automatically on start)."""
    settings = _settings(data_dir)
    upgrade(settings.resolved_database_url)
    click.echo("database is up to date")


@main.group("projects")
def projects_group() -> None:
    """Manage projects (tenants)."""


@projects_group.command("create")
@click.argument("name")
@data_dir_option
def projects_create(name: str, data_dir: Path | None) -> None:
    ctx = _context(data_dir)
    try:
        with ctx.db.write() as tx:
            project_id = projects.create(tx.conn, name=name)
    except projects.ProjectExists as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"created project {name} ({project_id})")


@projects_group.command("list")
@data_dir_option
def projects_list(data_dir: Path | None) -> None:
    ctx = _context(data_dir)
    with ctx.db.read() as conn:
        for row in projects.list_all(conn):
            retention = row["data_retention_seconds"]
            click.echo(
                f"{row['id']}  {row['name']}  created {to_wire(row['created_at'])}"
                + (f"  retention {retention}s" if retention else "")
            )


@projects_group.command("set-retention")
@click.argument("name")
@click.argument("seconds", type=int)
@data_dir_option
def projects_set_retention(name: str, seconds: int, data_dir: Path | None) -> None:
    """Delete bots' captured data SECONDS after they end (0 turns retention off)."""
    if seconds < 0:
        raise click.BadParameter("must be 0 (off) or a positive number of seconds")
    ctx = _context(data_dir)
    with ctx.db.write() as tx:
        project = projects.get_by_name(tx.conn, name=name)
        if project is None:
            raise click.ClickException(f"no project named {name!r}")
        projects.set_retention(tx.conn, project_id=project["id"], seconds=seconds or None)
    click.echo(f"retention for {name}: {f'{seconds}s' if seconds else 'off'}")


@main.group("keys")
def keys_group() -> None:
    """Manage API keys."""


@keys_group.command("create")
@click.option("--project", "project_name", required=True, help="Project the key belongs to.")
@click.option("--name", default="cli", help="A label for the key.")
@data_dir_option
def keys_create(project_name: str, name: str, data_dir: Path | None) -> None:
    """Create a key; it is printed once, alone on the last line."""
    ctx = _context(data_dir)
    with ctx.db.write() as tx:
        project = projects.get_by_name(tx.conn, name=project_name)
        if project is None:
            raise click.ClickException(
                f"no project named {project_name!r}; create it with `sitin projects create`"
            )
        key_id, key = api_keys.create(tx.conn, project_id=project["id"], name=name)
    click.echo(f"created key {key_id} for project {project_name}; it is shown only once:", err=True)
    click.echo(key)


@keys_group.command("list")
@data_dir_option
def keys_list(data_dir: Path | None) -> None:
    ctx = _context(data_dir)
    with ctx.db.read() as conn:
        for row in api_keys.list_all(conn):
            status = f"revoked {to_wire(row['disabled_at'])}" if row["disabled_at"] else "active"
            click.echo(
                f"{row['id']}  project={row['project']}  name={row['name']}  "
                f"created {to_wire(row['created_at'])}  {status}"
            )


@keys_group.command("revoke")
@click.argument("key_id")
@data_dir_option
def keys_revoke(key_id: str, data_dir: Path | None) -> None:
    ctx = _context(data_dir)
    with ctx.db.write() as tx:
        revoked = api_keys.revoke(tx.conn, key_id=key_id)
    if not revoked:
        raise click.ClickException(f"no active key with id {key_id}")
    click.echo(f"revoked {key_id}")


@main.group("credentials")
def credentials_group() -> None:
    """Transcription provider accounts of a project: API key (stored encrypted) and endpoint."""


def _base_url_option(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    from sitin.core.transcription_settings import normalise_base_url

    if value is None:
        return None
    try:
        return normalise_base_url(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@credentials_group.command("set")
@click.option("--project", "project_name", required=True)
@click.option(
    "--base-url",
    default=None,
    callback=_base_url_option,
    help="Endpoint of an OpenAI-compatible (or Deepgram-compatible) server to use instead of the "
    "provider's own, e.g. http://10.0.0.5:8000/v1. Bots cannot choose it.",
)
@click.argument("provider", type=click.Choice(["openai", "deepgram"]))
@data_dir_option
def credentials_set(
    project_name: str, base_url: str | None, provider: str, data_dir: Path | None
) -> None:
    """Store PROVIDER's API key, read from standard input (never from the command line)."""
    from sitin.db import credentials

    api_key = click.prompt(f"{provider} API key", hide_input=True).strip()
    if not api_key:
        raise click.ClickException("the API key is empty")
    ctx = _context(data_dir)
    with ctx.db.write() as tx:
        project = projects.get_by_name(tx.conn, name=project_name)
        if project is None:
            raise click.ClickException(f"no project named {project_name!r}")
        credentials.set_key(
            tx.conn,
            server_key=ctx.settings.resolved_secret_key,
            project_id=project["id"],
            provider=provider,
            api_key=api_key,
            base_url=base_url,
        )
    stored = "key and endpoint" if base_url else "key"
    click.echo(f"stored the {provider} {stored} for project {project_name}")


@credentials_group.command("list")
@click.option("--project", "project_name", required=True)
@data_dir_option
def credentials_list(project_name: str, data_dir: Path | None) -> None:
    """Providers that have a key (the keys themselves are never shown)."""
    from sitin.db import credentials

    ctx = _context(data_dir)
    with ctx.db.read() as conn:
        project = projects.get_by_name(conn, name=project_name)
        if project is None:
            raise click.ClickException(f"no project named {project_name!r}")
        for provider in credentials.providers_with_keys(conn, project_id=project["id"]):
            click.echo(provider)


@credentials_group.command("remove")
@click.option("--project", "project_name", required=True)
@click.argument("provider")
@data_dir_option
def credentials_remove(project_name: str, provider: str, data_dir: Path | None) -> None:
    from sitin.db import credentials

    ctx = _context(data_dir)
    with ctx.db.write() as tx:
        project = projects.get_by_name(tx.conn, name=project_name)
        if project is None:
            raise click.ClickException(f"no project named {project_name!r}")
        if not credentials.remove_key(tx.conn, project_id=project["id"], provider=provider):
            raise click.ClickException(f"project {project_name} has no {provider} key")
    click.echo(f"removed the {provider} key of project {project_name}")


@main.group("deletion")
def deletion_group() -> None:
    """Prove deletions."""


@deletion_group.command("verify")
@click.argument("bot_id")
@data_dir_option
def deletion_verify(bot_id: str, data_dir: Path | None) -> None:
    """Exit non-zero, listing what remains, if anything of a data-deleted bot survives."""
    from sitin.deletion.verify import NotDataDeleted, remaining_data

    ctx = _context(data_dir)
    try:
        remains = remaining_data(ctx, bot_id)
    except (LookupError, NotDataDeleted) as exc:
        raise click.ClickException(str(exc)) from None
    if remains:
        click.echo(f"bot {bot_id}: data REMAINS after deletion:")
        for line in remains:
            click.echo(f"  {line}")
        sys.exit(1)
    click.echo(f"bot {bot_id}: verified, nothing remains")


@main.group("storage")
def storage_group() -> None:
    """Inspect the blob store."""


@storage_group.command("audit")
@data_dir_option
def storage_audit(data_dir: Path | None) -> None:
    """List blob prefixes that belong to no bot or to a data-deleted bot (exit 1 if any)."""
    from sitin.deletion.verify import audit_storage

    findings = audit_storage(_context(data_dir))
    for finding in findings:
        click.echo(f"{finding.prefix}  ({finding.reason})")
    if findings:
        sys.exit(1)
    click.echo("storage audit: no orphaned or deleted-bot prefixes")


main.add_command(webhooks_cli.webhooks)

if __name__ == "__main__":
    sys.exit(main())
