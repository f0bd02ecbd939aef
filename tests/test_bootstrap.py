"""The composition root: what every process built by ``sitin.bootstrap`` has, whichever path
(serve, worker, CLI, tests) built it."""

import dataclasses
import subprocess
import sys

import pytest
from sqlalchemy import func, select

from sitin.bootstrap import build_context, build_worker, periodic_jobs
from sitin.config import Settings
from sitin.core.states import BotState, EventType
from sitin.db import bots
from sitin.db.bot_events import record_event
from sitin.db.engine import Database
from sitin.db.tables import webhook_delivery_attempts
from sitin.services import webhooks as webhook_service
from support.projects import create_project
from support.settings import ROOM_URL, make_settings


def _joining_bot_with_state_webhook(ctx) -> str:
    project = create_project(ctx, "acme")
    with ctx.db.write() as tx:
        webhook_service.create_subscription(
            tx,
            ctx.outbound,
            project_id=project.id,
            body={"url": "https://hooks.example.com/in", "triggers": ["bot.state_change"]},
        )
        return bots.insert_bot(
            tx.conn,
            project_id=project.id,
            name="Notetaker",
            meeting_url=ROOM_URL,
            platform="room",
            state=BotState.JOINING,
            join_at=None,
            deduplication_key=None,
            metadata=None,
            settings={"recording_settings": {"format": "none"}},
            data_retention_seconds=None,
        )


def _attempts(db: Database) -> int:
    with db.read() as conn:
        return conn.execute(select(func.count()).select_from(webhook_delivery_attempts)).scalar()


def test_the_context_is_frozen(ctx):
    with pytest.raises(dataclasses.FrozenInstanceError):
        ctx.bots = None  # type: ignore[misc]


def test_every_task_is_registered(ctx):
    assert ctx.queue.task_names == ["bot.run", "webhook.deliver"]


def test_every_periodic_job_is_registered(ctx):
    assert sorted(periodic_jobs(ctx).job_names) == [
        "bot.reap",
        "bot.stage",
        "deletion.journal",
        "deletion.orphans",
        "deletion.restored",
        "deletion.retention",
        "webhook.sweep",
        "worker.reap",
    ]


def test_a_worker_without_periodic_jobs(ctx):
    assert build_worker(ctx, threads=1, periodic=False).periodic is None


def test_state_change_webhooks_come_from_the_database_the_bootstrap_built(ctx):
    """The listener belongs to the database object, not to whichever module happened to run:
    the bootstrap's database fires bot.state_change, a bare Database on the same file does not."""
    bot_id = _joining_bot_with_state_webhook(ctx)
    bare = Database(ctx.db.url)
    try:
        with bare.write() as tx:
            record_event(tx, bot_id=bot_id, event=EventType.JOINED_MEETING)
        assert _attempts(ctx.db) == 0
        with ctx.db.write() as tx:
            record_event(tx, bot_id=bot_id, event=EventType.RECORDING_PERMISSION_GRANTED)
        assert _attempts(ctx.db) == 1
    finally:
        bare.dispose()


def test_closing_releases_what_was_registered_last_first(tmp_path, sqlite_url):
    context = build_context(make_settings(tmp_path, sqlite_url))
    closed: list[str] = []
    context.on_close(lambda: closed.append("first"))
    context.on_close(lambda: closed.append("second"))
    assert context.in_background(lambda: 42).result() == 42
    context.close()
    assert closed == ["second", "first"]


def test_a_new_data_directory_is_private_to_the_service(tmp_path):
    data_dir = tmp_path / "fresh" / "data"
    context = build_context(Settings(data_dir=data_dir, secret_key="s"))
    try:
        assert data_dir.stat().st_mode & 0o777 == 0o700
    finally:
        context.close()


def test_an_idle_worker_has_not_loaded_the_media_stack(tmp_path):
    # The bot runtime and what it pulls in (PyAV, aiortc with its ICE, DNS, SRTP and OpenSSL
    # bindings, faster-whisper, numpy) are ~40 MB of every worker's memory: they are loaded when
    # the first bot joins a meeting, not when a worker starts and waits; the realtime websocket
    # client only for a bot that streams
    build = (
        "import sys; from pathlib import Path; from sitin.bootstrap import build_context; "
        "from sitin.config import Settings; "
        f"ctx = build_context(Settings(data_dir=Path({str(tmp_path)!r}), secret_key='s'), "
        "run_bots=True); "
        "media = {'aiortc', 'aioice', 'pylibsrtp', 'websockets', 'python_socks', 'av', "
        "'faster_whisper', 'ctranslate2', 'numpy'}; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & media)); "
        "print('sitin.runtime.runner' in sys.modules); "
        "ctx.close()"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", build], capture_output=True, text=True, check=True, timeout=120
    )
    assert loaded.stdout.strip().splitlines()[-2:] == ["[]", "False"]
