"""The ``sitin`` command: one module per command group; the options every command shares
(``--data-dir``, ``--project``) and opening the service's data are in ``options``."""

import click

from sitin.cli import (
    credentials,
    deletion,
    keys,
    keystore,
    projects,
    rooms,
    server,
    webhooks,
    workers,
)
from sitin.cli.options import data_dir_option


@click.group()
@click.version_option(package_name="sitin")
@data_dir_option
def main() -> None:
    """sitin: self-hosted meeting bots (Attendee-compatible Bots API).

    --data-dir may be given before the command name or after it."""


for command in (
    server.serve,
    server.worker,
    server.migrate,
    server.api_process,
    workers.workers_command,
    projects.group,
    keys.group,
    keystore.group,
    credentials.group,
    webhooks.group,
    deletion.deletion_group,
    deletion.storage_group,
    rooms.group,
):
    main.add_command(command)
