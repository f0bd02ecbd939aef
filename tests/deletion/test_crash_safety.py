"""Crash safety of delete_data (issue 3, guarantee 4).

For each checkpoint a real ``sitin serve`` subprocess is started with ``SITIN_FAULTS`` naming it;
the fault hook SIGKILLs the server there in the middle of a delete_data call (one bot per
checkpoint). One restart without faults follows, and afterwards each bot is either untouched
(killed before the commit; a new call then succeeds) or fully deleted by the restart alone: no
captured row, no blob, state ``data_deleted``, and ``sitin deletion verify`` agrees. Run with the
local blob folder and with S3 (a moto_server on 127.0.0.1).
"""

import signal
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from sitin.bootstrap import build_context
from sitin.cli import main as sitin_cli
from sitin.config import Settings
from sitin.context import AppContext
from sitin.db.capture import blob_prefix
from sitin.db.tables import CAPTURED_TABLES, bots, deletion_journal
from sitin.encryption.keystore import DESTROYED, LIVE
from support.captured import ended_bot_with_data
from support.process import running_server, start_server, wait_for
from support.projects import create_project
from support.settings import ROOM_URL, make_settings

# Blobs of the bot killed midway through storage: more than one delete batch (local: 100 files,
# S3: 1,000 keys per DeleteObjects), so mid_storage fires with blobs on both sides.
MIDWAY_BLOBS = {"local": 260, "s3": 1100}
BLOBS = 5  # the other bots


@dataclass(frozen=True)
class Snapshot:
    state: str
    rows: int
    blobs: int
    journaled: bool
    key: str = DESTROYED  # the bot's data key: live, destroyed, or "none" (never made)


def snapshot(ctx: AppContext, bot_id: str) -> Snapshot:
    with ctx.db.read() as conn:
        state = conn.execute(select(bots.c.state).where(bots.c.id == bot_id)).scalar_one()
        rows = sum(
            conn.execute(
                select(func.count()).select_from(table).where(table.c.bot_id == bot_id)
            ).scalar_one()
            for table in CAPTURED_TABLES
        )
        journaled = (
            conn.execute(
                select(deletion_journal.c.bot_id).where(deletion_journal.c.bot_id == bot_id)
            ).first()
            is not None
        )
    blobs = sum(1 for _ in ctx.blobs.list(blob_prefix(bot_id)))
    key = ctx.keys.status([bot_id]).get(bot_id, "none")
    return Snapshot(state, rows, blobs, journaled, key)


def server_env(settings: Settings) -> dict[str, str]:
    env = {
        "SITIN_DATA_DIR": str(settings.data_dir),
        "SITIN_DATABASE_URL": settings.resolved_database_url,
        "SITIN_SECRET_KEY": settings.secret_key or "",
        "SITIN_QUEUE_URL": "memory://",  # bot launches die with the process; nothing carries over
        # the bots' ROOM_URL names port 8000, not this server's own (they never join anyway)
        "SITIN_OUTBOUND_HOSTS": "127.0.0.1:8000",
    }
    if settings.storage_url:
        env["SITIN_STORAGE_URL"] = settings.storage_url
    if settings.s3_endpoint_url:
        env["SITIN_S3_ENDPOINT_URL"] = settings.s3_endpoint_url
    return env


def verify_cli(env: dict[str, str], bot_id: str):
    return CliRunner().invoke(sitin_cli, ["deletion", "verify", bot_id], env=env)


@pytest.fixture(params=["local", "s3"])
def store(request) -> str:
    return request.param


@pytest.fixture
def crash_ctx(tmp_path: Path, database_url: str, store: str, request):
    overrides = {}
    if store == "s3":
        s3 = request.getfixturevalue("s3")
        overrides = {
            "storage_url": f"s3://{s3.bucket}/crash-{tmp_path.name}",
            "s3_endpoint_url": s3.endpoint_url,
        }
    context = build_context(make_settings(tmp_path, database_url, **overrides), migrate=False)
    yield context
    context.close()


def crash_during_delete_data(
    ctx, project, env, log: Path, checkpoint: str, blobs: int = BLOBS, **capture
) -> tuple:
    """Start a server that dies at ``checkpoint``, give it an ended bot with data, call
    delete_data; returns (bot id, snapshot before the call)."""
    # The crashing server runs the API only: no worker may launch the bot or move it meanwhile.
    # one API process, serve's own: the fault kills the process answering delete_data, and
    # with API worker processes the supervisor would restart that one instead of serve ending
    crashing = {"SITIN_FAULTS": checkpoint, "SITIN_RUN_WORKER": "false", "SITIN_API_WORKERS": "1"}
    server = start_server({**env, **crashing}, log)
    try:
        with server.client(headers=project.headers, timeout=30) as api:
            created = api.post("/api/v1/bots", json={"meeting_url": ROOM_URL, "bot_name": "N"})
            assert created.status_code == 201, created.text
            bot_id = created.json()["id"]
            ended_bot_with_data(ctx, bot_id, blobs=blobs, **capture)
            before = snapshot(ctx, bot_id)
            with pytest.raises(httpx.TransportError):  # the connection drops: no response
                api.post(f"/api/v1/bots/{bot_id}/delete_data")
        assert server.wait_for_exit() == -signal.SIGKILL, f"{checkpoint}:\n{server.log()}"
    finally:
        server.stop()
    return bot_id, before


def test_deletions_killed_at_each_step_are_untouched_or_finished_after_a_restart(
    crash_ctx: AppContext, store: str, tmp_path: Path
):
    ctx = crash_ctx
    project = create_project(ctx, "crash")
    env = server_env(ctx.settings)
    log = tmp_path / "server.log"

    untouched, untouched_before = crash_during_delete_data(
        ctx, project, env, log, "deletion.before_commit"
    )
    assert untouched_before.key == LIVE
    assert snapshot(ctx, untouched) == untouched_before  # rolled back: nothing changed

    committed, committed_before = crash_during_delete_data(
        ctx, project, env, log, "deletion.after_commit"
    )
    assert snapshot(ctx, committed) == Snapshot(
        "data_deleted", 0, committed_before.blobs, journaled=True, key=LIVE
    )

    # The key is destroyed while the blobs are being deleted: killed as its destruction is
    # committed, any number of the blobs may be gone already.
    keyless, keyless_before = crash_during_delete_data(ctx, project, env, log, "deletion.after_key")
    killed_keyless = snapshot(ctx, keyless)
    assert killed_keyless.blobs <= keyless_before.blobs
    assert killed_keyless == Snapshot(
        "data_deleted", 0, killed_keyless.blobs, journaled=True, key=DESTROYED
    )

    midway, midway_before = crash_during_delete_data(
        ctx,
        project,
        env,
        log,
        "deletion.mid_storage",
        blobs=MIDWAY_BLOBS[store],
        project_id=project.id,
    )
    killed = snapshot(ctx, midway)
    assert (killed.state, killed.rows, killed.journaled, killed.key) == (
        "data_deleted",
        0,
        True,
        DESTROYED,
    )
    assert 0 < killed.blobs < midway_before.blobs  # really killed midway through the blobs
    # (storage reports a batch only once the key is gone: DESTROYED above)

    # Restarted as deployed (embedded worker): its start-up pass must finish the journal.
    with running_server(env, log) as server, server.client(headers=project.headers) as api:
        assert snapshot(ctx, untouched) == untouched_before
        for bot_id in (committed, keyless, midway):
            assert snapshot(ctx, bot_id) == Snapshot("data_deleted", 0, 0, journaled=False)
        response = api.post(f"/api/v1/bots/{untouched}/delete_data")
        assert response.status_code == 200, response.text
        # answered once the key is gone and the prefix empty; the entry is cleared just after
        answered = snapshot(ctx, untouched)
        assert (answered.state, answered.rows, answered.blobs, answered.key) == (
            "data_deleted",
            0,
            0,
            DESTROYED,
        )
        wait_for(
            lambda: snapshot(ctx, untouched) == Snapshot("data_deleted", 0, 0, journaled=False),
            "the journal entry to be cleared after the answer",
            explain=lambda: snapshot(ctx, untouched),
        )
        for bot_id in (untouched, committed, keyless, midway):
            events = api.get(f"/api/v1/bots/{bot_id}").json()["events"]
            assert [e["type"] for e in events].count("data_deleted") == 1

    for bot_id in (untouched, committed, keyless, midway):
        verified = verify_cli(env, bot_id)
        assert verified.exit_code == 0, verified.output
        assert "nothing remains" in verified.output
