"""What every ``sitin`` command shares: ``--data-dir`` (accepted before or after the command
name), the settings it leads to, and opening the service's data.

Commands that only use existing data refuse a data directory that does not exist, naming it and
how to point them at the right one; only ``serve``, ``migrate`` and explicit creation commands
(``projects create``) create one.
"""

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from sqlalchemy import Connection
from sqlalchemy.engine import make_url

from sitin.bootstrap import build_context
from sitin.config import Settings, load_settings
from sitin.context import AppContext
from sitin.db import projects
from sitin.logs import FORMATS, LEVELS

_DATA_DIR = "sitin.data_dir"


def _remember_data_dir(ctx: click.Context, _param: click.Parameter, value: Path | None) -> None:
    # Given on the group and on the command, the one nearer the command wins (parsed later).
    if value is not None:
        ctx.find_root().meta[_DATA_DIR] = value


data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    expose_value=False,
    callback=_remember_data_dir,
    help="Where the embedded database, blobs, queue and secret live "
    "(env SITIN_DATA_DIR; default ~/.local/share/sitin).",
)


def logging_options(command: Callable) -> Callable:
    """``--log-level`` and ``--log-format`` for the commands that run the service."""
    command = click.option(
        "--log-format",
        type=click.Choice(FORMATS),
        default=None,
        help="text, or one JSON object per line (env SITIN_LOG_FORMAT; text).",
    )(command)
    return click.option(
        "--log-level",
        type=click.Choice(LEVELS),
        default=None,
        help="Level of sitin's own log lines (env SITIN_LOG_LEVEL; info).",
    )(command)


def settings(**overrides) -> Settings:
    """The settings of this invocation: ``--data-dir`` and other flags over ``SITIN_*``."""
    data_dir = click.get_current_context().find_root().meta.get(_DATA_DIR)
    try:
        return load_settings(data_dir=data_dir, **overrides)
    except ValueError as exc:
        raise click.ClickException(f"invalid configuration: {exc}") from None


def _data_dir_source() -> str:
    if click.get_current_context().find_root().meta.get(_DATA_DIR) is not None:
        return "given by --data-dir"
    if os.environ.get("SITIN_DATA_DIR"):
        return "given by SITIN_DATA_DIR"
    return "the default, as neither --data-dir nor SITIN_DATA_DIR is set"


def require_existing_data(settings: Settings) -> None:
    """Refuse to run on data that does not exist rather than silently create an empty copy."""
    kept_in_data_dir = [
        what
        for what, configured in (
            ("database", settings.database_url),
            ("blob store", settings.storage_url),
            ("queue", settings.queue_url),
            ("secret key", settings.secret_key),
        )
        if not configured
    ]
    if kept_in_data_dir and not settings.data_dir.is_dir():
        raise click.ClickException(
            f"there is no sitin data directory at {settings.data_dir} ({_data_dir_source()}).\n"
            "Point the command at your server's data with --data-dir DIR (before or after the "
            "command name) or SITIN_DATA_DIR=DIR, the same as the server's; "
            "`sitin migrate` or `sitin projects create NAME` start a new one."
        )
    url = make_url(settings.resolved_database_url)
    file = url.database if url.get_backend_name() == "sqlite" else None
    if file and file != ":memory:" and not Path(file).is_file():
        origin = "SITIN_DATABASE_URL" if settings.database_url else "the data directory"
        raise click.ClickException(
            f"there is no sitin database at {file} (from {origin}).\n"
            "Point the command at your server's data with --data-dir DIR or "
            "SITIN_DATA_DIR=DIR; `sitin migrate` creates a new database."
        )


@contextmanager
def open_context(
    *, create: bool = False, run_bots: bool = False, **overrides
) -> Iterator[AppContext]:
    """The service's context for one command (``sitin.bootstrap``), closed afterwards. ``create``
    makes the data directory and database when missing, otherwise they must exist; ``run_bots``
    where this process runs bots (``sitin worker``, also as a child of ``sitin serve``)."""
    chosen = settings(**overrides)
    if not create:
        require_existing_data(chosen)
    ctx = build_context(chosen, run_bots=run_bots)
    try:
        yield ctx
    finally:
        ctx.close()


def project_option(*, required: bool) -> Callable:
    """``--project NAME``: required, or the project ``default`` that the first start creates."""
    if required:
        return click.option("--project", "project_name", required=True, help="Project name.")
    return click.option(
        "--project",
        "project_name",
        default=projects.DEFAULT_PROJECT,
        show_default=True,
        help="Project name.",
    )


def find_project(conn: Connection, name: str) -> dict:
    """The project named ``name``; a clear refusal naming the projects there are otherwise."""
    project = projects.get_by_name(conn, name=name)
    if project is None:
        names = [row["name"] for row in projects.list_all(conn)]
        there = f"projects here: {', '.join(names)}" if names else "there is no project yet"
        raise click.ClickException(
            f"no project named {name!r} ({there}); create it with `sitin projects create {name}`"
        )
    return project
