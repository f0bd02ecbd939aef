"""``sitin workers``: the worker processes that run bots, what each carries and has in use."""

import click

from sitin.cli.options import data_dir_option, open_context
from sitin.core.timefmt import utcnow
from sitin.db import workers


@click.command("workers")
@data_dir_option
def workers_command() -> None:
    """List the bot workers: capacity and load in use (load units), bots, last heartbeat."""
    with open_context() as ctx, ctx.db.read() as conn:
        rows = workers.loads(conn)
        silent_after = ctx.settings.heartbeat_timeout
    if not rows:
        click.echo("no worker is running (`sitin serve` starts them; or run `sitin worker`)")
        return
    now = utcnow()
    click.echo(f"{'WORKER':<32} {'IN USE':>7} {'CAPACITY':>8} {'BOTS':>5}  HEARD FROM")
    for row in rows:
        age = (now - row.heartbeat_at).total_seconds()
        heard = f"{age:.0f} s ago" + ("  (silent: presumed dead)" if age > silent_after else "")
        click.echo(f"{row.name:<32} {row.load:>7g} {row.capacity:>8g} {row.bots:>5}  {heard}")
