"""A database backup taken before delete_data and restored after it: the bot's rows come back,
but every content field is ciphertext under a key that no longer exists. The API shows the bot as
data-deleted with empty data (never a 500, never plaintext); another bot in the same backup reads
as before; a repeat delete_data purges the restored rows. SQLite: a copy made with SQLite's
online backup; PostgreSQL: pg_dump of the live database, pg_restore into a new one."""

import os
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from sitin.api.app import create_app
from sitin.bootstrap import build_context, periodic_jobs
from sitin.context import AppContext
from sitin.db.capture import blob_prefix
from sitin.db.sealing import SEALED_COLUMNS, Opener
from sitin.db.tables import CAPTURED_TABLES, metadata
from sitin.deletion.verify import remaining_data
from sitin.encryption.aead import is_sealed
from support.captured import ended_bot_with_data
from support.launcher import StandInLauncher
from support.plaintext import hits_in
from support.process import wait_for
from support.settings import make_settings

# What support.captured writes: a hit is a plaintext copy of that meeting.
NEEDLES = ("confidential sentence", "secret plan", "Person 0", "bot says hi", "Person 1")
READ_ROUTES = ("participants", "participant_events", "chat_messages")


@contextmanager
def backup_of(database_url: str, tmp_path: Path) -> Iterator[callable]:
    """Take a backup now; the yielded function restores it into a new database and returns
    that database's URL. PostgreSQL's restored database is dropped at the end."""
    url = sa.engine.make_url(database_url)
    if url.get_backend_name() == "sqlite":
        saved = tmp_path / "backup.db"
        with sqlite3.connect(url.database) as live, sqlite3.connect(saved) as copy:
            live.backup(copy)

        def restore() -> str:
            restored = tmp_path / "restored.db"
            restored.write_bytes(saved.read_bytes())
            return f"sqlite:///{restored}"

        yield restore
        return
    dump = tmp_path / "backup.dump"
    env = {**os.environ, "PGPASSWORD": url.password or ""}
    connection = ["-h", url.host, "-p", str(url.port or 5432), "-U", url.username]
    subprocess.run(
        ["pg_dump", "-Fc", *connection, "-d", url.database, "-f", str(dump)], check=True, env=env
    )
    name = f"{url.database}_restored"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)

    def restore() -> str:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        subprocess.run(
            ["pg_restore", "--no-owner", *connection, "-d", name, str(dump)], check=True, env=env
        )
        return url.set(database=name).render_as_string(hide_password=False)

    try:
        yield restore
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def raw_sealed_values(ctx: AppContext, bot_id: str) -> list[tuple[str, str]]:
    """(table.column, stored value) of every non-null sealed column of the bot, read raw."""
    found = []
    with ctx.db.read() as conn:
        for table_name, column, _purpose, _kind in SEALED_COLUMNS:
            table = metadata.tables[table_name]
            for (value,) in conn.execute(
                select(table.c[column]).where(
                    table.c.bot_id == bot_id, table.c[column].is_not(None)
                )
            ):
                found.append((f"{table_name}.{column}", value))
    return found


def database_bytes(ctx: AppContext, bot_id: str) -> bytes:
    """Every column of every row of the bot's captured tables, as SQL returns them."""
    chunks = []
    with ctx.db.read() as conn:
        for table in CAPTURED_TABLES:
            for row in conn.execute(select(table).where(table.c.bot_id == bot_id)):
                chunks.append(repr(tuple(row)).encode())
    return b"\n".join(chunks)


def test_a_backup_restored_after_delete_data_shows_the_bot_data_deleted_with_nothing_readable(
    ctx, client, project, new_bot, database_url, tmp_path
):
    deleted = new_bot()["id"]
    kept = new_bot()["id"]
    ended_bot_with_data(ctx, deleted, project_id=project.id)
    ended_bot_with_data(ctx, kept)
    headers = project.headers
    before = client.get(f"/api/v1/bots/{deleted}", headers=headers).json()
    kept_transcript = client.get(f"/api/v1/bots/{kept}/transcript", headers=headers).json()
    assert before["state"] == "ended" and kept_transcript

    with backup_of(database_url, tmp_path) as restore:
        response = client.post(f"/api/v1/bots/{deleted}/delete_data", headers=headers)
        assert response.status_code == 200, response.text
        after_deletion = response.json()
        restored_url = restore()
        restored = build_context(
            make_settings(tmp_path, restored_url), migrate=False, launcher=StandInLauncher()
        )
        try:
            with TestClient(create_app(restored)) as api:
                check_restored(restored, api, headers, deleted, kept, before, after_deletion)
                check_kept_bot_reads_as_before(api, headers, kept, kept_transcript)
                check_repeat_deletion_purges(restored, api, headers, deleted)
        finally:
            restored.close()


def test_the_periodic_job_purges_a_restored_bot_at_start_up(
    ctx, client, project, new_bot, database_url, tmp_path
):
    """Nobody repeats delete_data: the periodic jobs' start-up pass (as ``sitin serve`` and every
    worker run it) purges the restored rows and any blob restored under the bot's prefix."""
    deleted = new_bot()["id"]
    kept = new_bot()["id"]
    ended_bot_with_data(ctx, deleted, project_id=project.id)
    ended_bot_with_data(ctx, kept, blobs=1)
    kept_transcript = client.get(f"/api/v1/bots/{kept}/transcript", headers=project.headers)
    with backup_of(database_url, tmp_path) as restore:
        response = client.post(f"/api/v1/bots/{deleted}/delete_data", headers=project.headers)
        assert response.status_code == 200, response.text
        restored = build_context(
            make_settings(tmp_path, restore()), migrate=False, launcher=StandInLauncher()
        )
        try:
            check_purged_without_a_repeat(restored, project, deleted, kept, kept_transcript)
        finally:
            restored.close()


def check_purged_without_a_repeat(restored, project, deleted, kept, kept_transcript) -> None:
    # A restored copy of the blob store brings back a (sealed) blob of the deleted bot.
    restored.blobs.backend.put_bytes(f"{blob_prefix(deleted)}recording.mp3", b"sealed bytes")
    assert any("row(s) in utterances" in line for line in remaining_data(restored, deleted))
    kept_blobs = list(restored.blobs.list(blob_prefix(kept)))
    assert kept_blobs

    runner = periodic_jobs(restored, tick=0.05)
    runner.start()
    try:
        wait_for(lambda: remaining_data(restored, deleted) == [], "the restored data purged", 30)
    finally:
        runner.stop()
    with restored.db.read() as conn:
        for table in CAPTURED_TABLES:
            count = conn.execute(
                select(func.count()).select_from(table).where(table.c.bot_id == deleted)
            ).scalar_one()
            assert count == 0, table.name
    assert restored.blobs.is_empty(blob_prefix(deleted))
    with TestClient(create_app(restored)) as api:
        shown = api.get(f"/api/v1/bots/{deleted}", headers=project.headers).json()
        assert shown["state"] == "data_deleted"
        # the other bot of the backup is untouched
        again = api.get(f"/api/v1/bots/{kept}/transcript", headers=project.headers)
        assert again.json() == kept_transcript.json()
    assert list(restored.blobs.list(blob_prefix(kept))) == kept_blobs


def check_restored(ctx, api, headers, bot_id, kept, before, after_deletion) -> None:
    # The restored rows are all there, and every content field is ciphertext that does not open.
    values = raw_sealed_values(ctx, bot_id)
    assert {column for column, _ in values} >= {
        "participants.name",
        "utterances.transcription",
        "chat_messages.text",
        "bot_log_entries.message",
    }
    assert all(is_sealed(value) for _, value in values), values
    assert ctx.keys.key_for_reading(bot_id) is None
    opener = Opener(bot_id, ctx.keys.key_for_reading(bot_id))
    assert {opener.text(value, column) for column, value in values} == {""}
    assert hits_in(database_bytes(ctx, bot_id), NEEDLES) == []
    assert hits_in(database_bytes(ctx, kept), NEEDLES) == []  # sealed too, but its key exists

    # The API shows it as delete_data left it.
    bot = api.get(f"/api/v1/bots/{bot_id}", headers=headers)
    assert bot.status_code == 200
    shown = bot.json()
    assert shown["state"] == "data_deleted"
    assert shown["events"][:-1] == before["events"]
    assert shown["events"][-1]["type"] == "data_deleted"
    assert shown["recording_state"] == shown["transcription_state"] == "not_started"
    for field in ("id", "metadata", "meeting_url", "join_at", "deduplication_key"):
        assert shown[field] == after_deletion[field]
    listed = api.get("/api/v1/bots", headers=headers).json()["results"]
    assert {b["id"]: b["state"] for b in listed} == {bot_id: "data_deleted", kept: "ended"}

    assert api.get(f"/api/v1/bots/{bot_id}/transcript", headers=headers).json() == []
    for route in READ_ROUTES:
        page = api.get(f"/api/v1/bots/{bot_id}/{route}", headers=headers)
        assert page.status_code == 200, route
        assert page.json() == {"next": None, "previous": None, "results": []}, route
    recording = api.get(f"/api/v1/bots/{bot_id}/recording", headers=headers)
    assert recording.status_code == 404
    assert recording.json() == {"error": "No recording file found for bot"}


def check_kept_bot_reads_as_before(api, headers, bot_id, transcript) -> None:
    assert api.get(f"/api/v1/bots/{bot_id}", headers=headers).json()["state"] == "ended"
    assert api.get(f"/api/v1/bots/{bot_id}/transcript", headers=headers).json() == transcript
    chat = api.get(f"/api/v1/bots/{bot_id}/chat_messages", headers=headers).json()["results"]
    assert {m["text"] for m in chat} == {"secret plan 0", "secret plan 1"}


def check_repeat_deletion_purges(ctx, api, headers, bot_id) -> None:
    remains = remaining_data(ctx, bot_id)  # the restored rows are there, unreadable: it says so
    assert any("data key is destroyed" in line for line in remains)
    assert any("row(s) in utterances" in line for line in remains)
    again = api.post(f"/api/v1/bots/{bot_id}/delete_data", headers=headers)
    assert again.status_code == 200, again.text
    assert again.json()["state"] == "data_deleted"
    with ctx.db.read() as conn:
        for table in CAPTURED_TABLES:
            count = conn.execute(
                select(func.count()).select_from(table).where(table.c.bot_id == bot_id)
            ).scalar_one()
            assert count == 0, table.name
    assert remaining_data(ctx, bot_id) == []
