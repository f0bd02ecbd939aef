"""``sitin keystore``: the per-bot data keys captured content is sealed under."""

import click

from sitin.cli.options import data_dir_option, open_context


@click.group("keystore")
@data_dir_option
def group() -> None:
    """The per-bot data keys (wrapped by the master key)."""


@group.command("rewrap")
@data_dir_option
def rewrap() -> None:
    """Wrap every live data key with the current master key (SITIN_MASTER_KEY), after a rotation
    that moved the old one to SITIN_PREVIOUS_MASTER_KEYS; the old one can be dropped afterwards."""
    with open_context() as ctx:
        count = ctx.keys.rewrap()
    click.echo(f"rewrapped {count} data key(s) under the current master key")
