"""Retention: a bot's data is deleted ``data_retention_seconds`` after it ends (the bot's own
setting from the create body, else its project's from ``sitin projects set-retention``), by the
periodic job, through the same path as delete_data, with the event sub-type retention_expired.

``ended_at`` is moved into the past directly in the database: it is the input, not the subject.
"""

import time
from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import update

from sitin.bootstrap import build_context, build_worker
from sitin.cli import main as sitin_cli
from sitin.core.timefmt import utcnow
from sitin.db.capture import blob_prefix
from sitin.db.tables import bots
from sitin.deletion.retention import apply_retention
from sitin.deletion.verify import remaining_data
from support.captured import JOIN_PATH, advance, ended_bot_with_data
from support.projects import create_project
from support.settings import ROOM_URL, make_settings


def set_project_retention(ctx, name: str, seconds: int) -> None:
    settings = ctx.settings
    env = {
        "SITIN_DATA_DIR": str(settings.data_dir),
        "SITIN_DATABASE_URL": settings.resolved_database_url,
        "SITIN_SECRET_KEY": settings.secret_key or "",
    }
    done = CliRunner().invoke(sitin_cli, ["projects", "set-retention", name, str(seconds)], env=env)
    assert done.exit_code == 0, done.output


def create_bot(client, project, **fields) -> str:
    body = {"meeting_url": ROOM_URL, "bot_name": "Notetaker", **fields}
    response = client.post("/api/v1/bots", json=body, headers=project.headers)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def ended_ago(ctx, bot_id: str, seconds: float) -> None:
    with ctx.db.write() as tx:
        tx.conn.execute(
            update(bots)
            .where(bots.c.id == bot_id)
            .values(ended_at=utcnow() - timedelta(seconds=seconds))
        )


def bot_view(client, project, bot_id: str) -> dict:
    return client.get(f"/api/v1/bots/{bot_id}", headers=project.headers).json()


def has_data(ctx, client, project, bot_id: str) -> bool:
    transcript = client.get(f"/api/v1/bots/{bot_id}/transcript", headers=project.headers)
    blobs = list(ctx.blobs.list(blob_prefix(bot_id)))
    return transcript.status_code == 200 and len(transcript.json()) > 0 and len(blobs) > 0


def assert_deleted_by_retention(ctx, client, project, bot_id: str) -> None:
    bot = bot_view(client, project, bot_id)
    assert bot["state"] == "data_deleted"
    last = bot["events"][-1]
    assert (last["type"], last["sub_type"]) == ("data_deleted", "retention_expired")
    assert remaining_data(ctx, bot_id) == []


def test_apply_retention_deletes_exactly_the_expired_bots(ctx, client, project):
    set_project_retention(ctx, project.name, 3600)
    unlimited = create_project(ctx, "no-retention")
    hour = 3600

    by_project = create_bot(client, project)  # project's 1 h, ended 2 h ago
    by_bot = create_bot(client, project, data_retention_seconds=60)  # ended 5 min ago
    bot_keeps_longer = create_bot(client, project, data_retention_seconds=24 * hour)
    recent = create_bot(client, project)  # project's 1 h, ended 10 min ago
    other = create_bot(client, unlimited)  # no retention anywhere, ended long ago
    in_meeting = create_bot(client, project, data_retention_seconds=1)

    for bot_id, ended in (
        (by_project, 2 * hour),
        (by_bot, 300),
        (bot_keeps_longer, 2 * hour),
        (recent, 600),
        (other, 100 * hour),
    ):
        ended_bot_with_data(ctx, bot_id, blobs=2)
        ended_ago(ctx, bot_id, ended)
    advance(ctx, in_meeting, *JOIN_PATH)

    assert apply_retention(ctx) == 2

    assert_deleted_by_retention(ctx, client, project, by_project)
    assert_deleted_by_retention(ctx, client, project, by_bot)
    for bot_id, owner in (
        (bot_keeps_longer, project),
        (recent, project),
        (other, unlimited),
    ):
        assert bot_view(client, owner, bot_id)["state"] == "ended"
        assert has_data(ctx, client, owner, bot_id)
    assert bot_view(client, project, in_meeting)["state"] == "joined_recording"
    assert apply_retention(ctx) == 0  # nothing more is due; deleted bots are not touched again
    events = bot_view(client, project, by_bot)["events"]
    assert [e["type"] for e in events].count("data_deleted") == 1


def test_turning_project_retention_off_stops_it(ctx, client, project):
    set_project_retention(ctx, project.name, 60)
    bot_id = create_bot(client, project)
    ended_bot_with_data(ctx, bot_id, blobs=1)
    ended_ago(ctx, bot_id, 3600)
    set_project_retention(ctx, project.name, 0)

    assert apply_retention(ctx) == 0
    assert bot_view(client, project, bot_id)["state"] == "ended"


@pytest.fixture
def fast_ctx(tmp_path, database_url):
    """The same database and blobs as ``ctx``, with a retention sweep every 0.2 s and a queue of
    its own (its worker must not pick up the test bots' launches)."""
    settings = make_settings(tmp_path, database_url, retention_interval=0.2, queue_url="memory://")
    context = build_context(settings, migrate=False)
    yield context
    context.close()


def test_a_running_worker_applies_retention_on_its_own(ctx, fast_ctx, client, project):
    bot_id = create_bot(client, project, data_retention_seconds=3600)
    ended_bot_with_data(ctx, bot_id, blobs=2)
    worker = build_worker(fast_ctx, threads=1)
    worker.start()
    try:
        assert bot_view(client, project, bot_id)["state"] == "ended"  # not due at start
        ended_ago(ctx, bot_id, 7200)  # now it is: only the periodic sweep can notice
        deadline = time.monotonic() + 30
        while bot_view(client, project, bot_id)["state"] != "data_deleted":
            assert time.monotonic() < deadline, "the periodic retention sweep never ran"
            time.sleep(0.1)
    finally:
        worker.stop()
    assert_deleted_by_retention(ctx, client, project, bot_id)
