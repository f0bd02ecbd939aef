"""Deletion's periodic jobs (each also runs once as soon as the runner starts): finish journaled
blob deletions, remove blobs left under data-deleted bots, purge bots restored from a backup after
their key was destroyed, apply retention."""

from sitin.context import AppContext
from sitin.deletion.journal import process_journal, purge_restored, sweep_orphans
from sitin.deletion.retention import apply_retention
from sitin.queue import PeriodicRunner


def register_periodic(ctx: AppContext, runner: PeriodicRunner) -> None:
    settings = ctx.settings
    runner.add("deletion.journal", lambda: process_journal(ctx), every=settings.journal_interval)
    runner.add("deletion.orphans", lambda: sweep_orphans(ctx), every=settings.orphan_interval)
    runner.add("deletion.restored", lambda: purge_restored(ctx), every=settings.orphan_interval)
    runner.add(
        "deletion.retention", lambda: apply_retention(ctx), every=settings.retention_interval
    )
