"""``sitin deletion verify`` and ``sitin storage audit``: proof that deleted data is gone;
``sitin storage encrypt``: seal what an older version stored in plaintext."""

import sys

import click

from sitin.cli.options import data_dir_option, open_context


@click.group("deletion")
@data_dir_option
def deletion_group() -> None:
    """Prove deletions."""


@deletion_group.command("verify")
@click.argument("bot_id")
@data_dir_option
def verify(bot_id: str) -> None:
    """Exit non-zero, listing what remains, if anything of a data-deleted bot survives."""
    from sitin.deletion.verify import NotDataDeleted, remaining_data

    with open_context() as ctx:
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


@click.group("storage")
@data_dir_option
def storage_group() -> None:
    """Inspect the blob store."""


@storage_group.command("audit")
@data_dir_option
def audit() -> None:
    """List blob prefixes of no bot, of a data-deleted bot or without a data key, and data keys
    of bots that are gone (exit 1 if any)."""
    from sitin.deletion.verify import audit_storage

    with open_context() as ctx:
        findings = audit_storage(ctx)
    for finding in findings:
        click.echo(f"{finding.prefix}  ({finding.reason})")
    if findings:
        sys.exit(1)
    click.echo("storage audit: no orphaned or deleted-bot prefixes")


@storage_group.command("encrypt")
@data_dir_option
def encrypt() -> None:
    """Encrypt in place every captured value and blob stored before content was encrypted
    (idempotent and resumable; `sitin serve` runs the row pass at every start)."""
    from sitin.encryption.existing import seal_existing

    totals: dict[str, int] = {}

    def progress(what: str, count: int) -> None:
        if not count:
            click.echo(f"  rewriting {what}", err=True)
            return
        totals[what] = totals.get(what, 0) + count
        click.echo(f"  {what}: {totals[what]} sealed so far", err=True)

    with open_context() as ctx:
        report = seal_existing(ctx, blobs=True, scrub=True, progress=progress)
    click.echo(
        f"encrypted {report.total - report.blobs} value(s) and {report.blobs} blob(s); "
        "nothing captured is stored in plaintext any more"
    )
