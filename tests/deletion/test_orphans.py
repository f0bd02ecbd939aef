"""Blobs that arrive under a data-deleted bot's prefix after its delete_data answered (issue 11,
item 6: an upload that passed the fence, its worker killed before it could clean up) are removed
by the periodic jobs, at start-up and while running, on the local store and on S3; other prefixes
are left alone."""

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sitin.bootstrap import build_context, periodic_jobs
from sitin.context import AppContext
from sitin.db.capture import blob_prefix
from sitin.deletion import purge
from sitin.deletion.verify import audit_storage
from sitin.services import bots as bot_service
from support.captured import ended_bot_with_data
from support.launcher import StandInLauncher
from support.projects import create_project
from support.settings import ROOM_URL, make_settings


@pytest.fixture(params=["local", "s3"])
def orphan_ctx(tmp_path: Path, database_url: str, request) -> Iterator[AppContext]:
    overrides: dict = {"orphan_interval": 0.2}
    if request.param == "s3":
        s3 = request.getfixturevalue("s3")
        overrides |= {
            "storage_url": f"s3://{s3.bucket}/orphans-{tmp_path.name}",
            "s3_endpoint_url": s3.endpoint_url,
        }
    context = build_context(
        make_settings(tmp_path, database_url, **overrides),
        migrate=False,
        launcher=StandInLauncher(),
    )
    yield context
    context.close()


def _bot(ctx: AppContext, project_id: str) -> str:
    body = {"meeting_url": ROOM_URL, "bot_name": "N"}
    spec = bot_service.validate_new_bot(ctx, body)
    with ctx.db.write() as tx:
        return bot_service.create_bot(ctx, tx, project_id=project_id, spec=spec).row["id"]


def _wait_until(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_blobs_under_a_data_deleted_bot_are_removed_at_start_up_and_while_running(orphan_ctx):
    ctx = orphan_ctx
    project = create_project(ctx, "orphans")
    deleted, kept = _bot(ctx, project.id), _bot(ctx, project.id)
    for bot_id in (deleted, kept):
        ended_bot_with_data(ctx, bot_id, blobs=2)
    purge.delete_bot_data(ctx, bot_id=deleted, project_id=project.id)
    assert ctx.blobs.is_empty(blob_prefix(deleted))
    # What a worker killed between its upload and its row leaves behind. It sealed the blob before
    # delete_data destroyed the key, so it reaches the backend without the sealed store's key check.
    ctx.blobs.backend.put_bytes(f"{blob_prefix(deleted)}recording.mp3", b"sealed late upload")
    ctx.blobs.backend.put_bytes("bots/bot_unknown/recording.mp3", b"sealed, of no bot we know")
    assert {f.reason for f in audit_storage(ctx)} == {"data_deleted", "no bot"}

    kept_blobs = list(ctx.blobs.list(blob_prefix(kept)))
    assert kept_blobs
    runner = periodic_jobs(ctx, tick=0.05)
    assert "deletion.orphans" in runner.job_names
    runner.start()
    try:
        _wait_until(lambda: ctx.blobs.is_empty(blob_prefix(deleted)))  # the start-up pass
        ctx.blobs.backend.put_bytes(f"{blob_prefix(deleted)}audio/segment.wav", b"sealed, later")
        _wait_until(lambda: ctx.blobs.is_empty(blob_prefix(deleted)))  # a later pass
    finally:
        runner.stop()
    assert [f.reason for f in audit_storage(ctx)] == ["no bot"]  # reported, never guessed at
    assert list(ctx.blobs.list(blob_prefix(kept))) == kept_blobs  # an ended bot's blobs stay
