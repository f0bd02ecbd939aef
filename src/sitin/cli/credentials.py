"""``sitin credentials``: a project's transcription provider accounts (key stored encrypted,
optional endpoint)."""

import click

from sitin.cli.options import data_dir_option, find_project, open_context, project_option
from sitin.db import credentials


@click.group("credentials")
@data_dir_option
def group() -> None:
    """Transcription provider accounts of a project: API key (stored encrypted) and endpoint."""


def _base_url_option(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    from sitin.core.transcription_settings import normalise_base_url

    if value is None:
        return None
    try:
        return normalise_base_url(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@group.command("set")
@project_option(required=True)
@click.option(
    "--base-url",
    default=None,
    callback=_base_url_option,
    help="Endpoint of an OpenAI-compatible (or Deepgram-compatible) server to use instead of the "
    "provider's own, e.g. http://10.0.0.5:8000/v1. Bots cannot choose it.",
)
@click.argument("provider", type=click.Choice(["openai", "deepgram"]))
@data_dir_option
def set_command(project_name: str, base_url: str | None, provider: str) -> None:
    """Store PROVIDER's API key, read from standard input (never from the command line)."""
    with open_context() as ctx:
        api_key = click.prompt(f"{provider} API key", hide_input=True).strip()
        if not api_key:
            raise click.ClickException("the API key is empty")
        with ctx.db.write() as tx:
            project = find_project(tx.conn, project_name)
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


@group.command("list")
@project_option(required=True)
@data_dir_option
def list_command(project_name: str) -> None:
    """Providers that have a key (the keys themselves are never shown)."""
    with open_context() as ctx, ctx.db.read() as conn:
        project = find_project(conn, project_name)
        providers = credentials.providers_with_keys(conn, project_id=project["id"])
    for provider in providers:
        click.echo(provider)


@group.command("remove")
@project_option(required=True)
@click.argument("provider")
@data_dir_option
def remove(project_name: str, provider: str) -> None:
    with open_context() as ctx, ctx.db.write() as tx:
        project = find_project(tx.conn, project_name)
        if not credentials.remove_key(tx.conn, project_id=project["id"], provider=provider):
            raise click.ClickException(f"project {project_name} has no {provider} key")
    click.echo(f"removed the {provider} key of project {project_name}")
