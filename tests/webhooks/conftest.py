"""Webhook test fixtures: a context that may deliver to 127.0.0.1 over http, with a short timeout
and short retry delays, a running worker, and a signature-verifying receiver."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from sitin.bootstrap import build_context, build_worker
from sitin.context import AppContext
from sitin.webhooks import signing
from sitin.worker.process import Worker
from support.launcher import StandInLauncher
from webhooks.helpers import webhook_settings
from webhooks.receiver import Receiver, run_receiver


@pytest.fixture
def ctx(tmp_path: Path, database_url: str) -> Iterator[AppContext]:
    """Overrides the suite's ``ctx`` (so ``client``, ``project`` and ``new_bot`` use it). Bots
    are not launched: each test moves its bots through ``record_event`` as the runtime would."""
    context = build_context(
        webhook_settings(tmp_path, database_url), migrate=False, launcher=StandInLauncher()
    )
    yield context
    context.close()


@pytest.fixture
def worker(ctx: AppContext) -> Iterator[Worker]:
    running = build_worker(ctx, threads=4, periodic=False)
    running.start()
    yield running
    running.stop()


@pytest.fixture
def receiver(ctx: AppContext, project) -> Iterator[Receiver]:
    """A receiver that knows the project's current secret (as a customer configured it)."""
    with ctx.db.write() as tx:
        secret = signing.current_secret(tx.conn, ctx.settings, project_id=project.id)
    with run_receiver() as running:
        running.secrets.append(secret)
        yield running
