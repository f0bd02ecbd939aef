"""The blob-deletion journal on the local store: a real filesystem refusal, then completion.

Tests run as root, where permission bits do not stop ``unlink``; the immutable attribute
(``chattr +i``) does, so that is the failure used here (plain ``chmod`` for non-root users).
Where neither can be set (a filesystem without attributes), the tests skip; the same 503 path is
covered against S3 in test_s3_store.py.
"""

import math
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import func, select

from sitin.bootstrap import build_context, build_worker
from sitin.context import AppContext
from sitin.datadir import bot_work_dir
from sitin.db.capture import blob_prefix
from sitin.db.tables import CAPTURED_TABLES, deletion_journal
from sitin.deletion import purge
from sitin.deletion.journal import pending_entries, process_journal
from sitin.deletion.verify import remaining_data
from sitin.encryption.keystore import DESTROYED
from support.captured import ended_bot_with_data
from support.settings import make_settings


@contextmanager
def undeletable(directory: Path) -> Iterator[None]:
    """Make the files in ``directory`` impossible to delete until the block ends."""
    if os.geteuid() == 0:
        lock, unlock = ["chattr", "+i", str(directory)], ["chattr", "-i", str(directory)]
        done = subprocess.run(lock, capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot make {directory} immutable here: {done.stderr.strip()}")
        try:
            yield
        finally:
            subprocess.run(unlock, check=True)
    else:
        mode = directory.stat().st_mode
        directory.chmod(0o555)
        try:
            yield
        finally:
            directory.chmod(mode)


def local_dir(ctx: AppContext, key_prefix: str) -> Path:
    return Path(ctx.settings.data_dir) / "blobs" / key_prefix


def journal_row(ctx: AppContext, bot_id: str):
    with ctx.db.read() as conn:
        return conn.execute(
            select(deletion_journal).where(deletion_journal.c.bot_id == bot_id)
        ).first()


def rows_left(ctx: AppContext, bot_id: str) -> int:
    with ctx.db.read() as conn:
        return sum(
            conn.execute(
                select(func.count()).select_from(t).where(t.c.bot_id == bot_id)
            ).scalar_one()
            for t in CAPTURED_TABLES
        )


def delete_data(client, project, bot_id):
    return client.post(f"/api/v1/bots/{bot_id}/delete_data", headers=project.headers)


@pytest.fixture
def ended_bot(ctx, new_bot) -> str:
    bot_id = new_bot()["id"]
    ended_bot_with_data(ctx, bot_id, blobs=5)
    return bot_id


def test_a_refusing_filesystem_gives_503_fenced_and_a_repeat_call_finishes(
    ctx, client, project, ended_bot
):
    bot_id = ended_bot
    audio = local_dir(ctx, blob_prefix(ended_bot)) / "audio"
    with undeletable(audio):
        response = delete_data(client, project, bot_id)
        assert response.status_code == 503, response.text
        # the journal job retries within its interval: the client is told to come back then
        assert response.headers["Retry-After"] == str(math.ceil(ctx.settings.journal_interval))
        assert "fenced" in response.json()["error"]
        assert delete_data(client, project, bot_id).status_code == 503  # still refused

        bot = client.get(f"/api/v1/bots/{bot_id}", headers=project.headers).json()
        assert bot["state"] == "data_deleted"
        assert rows_left(ctx, bot_id) == 0
        entry = journal_row(ctx, bot_id)
        assert entry.prefix == blob_prefix(bot_id)
        assert entry.attempts >= 2 and entry.last_error
        assert len(list(ctx.blobs.list(blob_prefix(bot_id)))) == 5
        assert "deletion of its data key or blobs still pending in the journal" in remaining_data(
            ctx, bot_id
        )

    response = delete_data(client, project, bot_id)

    assert response.status_code == 200, response.text
    assert response.json() == client.get(f"/api/v1/bots/{bot_id}", headers=project.headers).json()
    assert journal_row(ctx, bot_id) is None
    assert ctx.blobs.is_empty(blob_prefix(bot_id))
    assert remaining_data(ctx, bot_id) == []


def test_the_periodic_job_finishes_a_pending_deletion_and_leaves_other_bots_alone(
    ctx, client, project, new_bot, ended_bot
):
    bystander = new_bot()["id"]
    ended_bot_with_data(ctx, bystander, blobs=2)
    audio = local_dir(ctx, blob_prefix(ended_bot)) / "audio"
    with undeletable(audio):
        assert delete_data(client, project, ended_bot).status_code == 503
        assert process_journal(ctx) == 1
    assert pending_entries(ctx) == [(ended_bot, blob_prefix(ended_bot))]

    assert process_journal(ctx) == 0

    assert pending_entries(ctx) == []
    assert remaining_data(ctx, ended_bot) == []
    assert len(list(ctx.blobs.list(blob_prefix(bystander)))) == 3
    state = client.get(f"/api/v1/bots/{bystander}", headers=project.headers).json()["state"]
    assert state == "ended"


def test_a_starting_worker_finishes_pending_deletions_before_taking_work(
    ctx, client, project, ended_bot, tmp_path, database_url
):
    audio = local_dir(ctx, blob_prefix(ended_bot)) / "audio"
    with undeletable(audio):
        assert delete_data(client, project, ended_bot).status_code == 503

    # A queue of its own: the worker must not pick up the test bots' launches.
    worker_ctx = build_context(
        make_settings(tmp_path, database_url, queue_url="memory://"), migrate=False
    )
    worker = build_worker(worker_ctx, threads=1)
    worker.start()
    try:
        assert pending_entries(ctx) == []
        assert remaining_data(ctx, ended_bot) == []
    finally:
        worker.stop()
        worker_ctx.close()


def test_an_entry_left_by_a_crash_after_the_answer_verifies_clean_and_the_job_clears_it(
    ctx, project, ended_bot
):
    # The API answers once the key is gone and the prefix is verified empty, and clears the
    # journal entry just after: a process that dies in between leaves only the entry.
    outcome = purge.delete_bot_data(ctx, bot_id=ended_bot, project_id=project.id, close=False)
    assert outcome.fenced
    assert journal_row(ctx, ended_bot) is not None
    assert ctx.keys.status([ended_bot])[ended_bot] == DESTROYED
    assert ctx.blobs.is_empty(blob_prefix(ended_bot))

    assert remaining_data(ctx, ended_bot) == []  # bookkeeping only: nothing of the bot remains

    assert process_journal(ctx) == 0
    assert journal_row(ctx, ended_bot) is None


def test_verify_names_temporary_files_left_under_the_bot_and_a_repeat_call_removes_them(
    ctx, client, project, ended_bot
):
    assert delete_data(client, project, ended_bot).status_code == 200
    # a worker killed mid-meeting on this machine left its spilled backlog behind
    work_dir = bot_work_dir(ctx.settings.data_dir, ended_bot)
    work_dir.mkdir(parents=True)
    (work_dir / "backlog.bin").write_bytes(b"\x00" * 64)

    assert remaining_data(ctx, ended_bot) == [f"temporary files of the bot remain in {work_dir}"]

    assert delete_data(client, project, ended_bot).status_code == 200
    assert not work_dir.exists()
    assert remaining_data(ctx, ended_bot) == []
