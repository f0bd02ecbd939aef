"""``sitin deletion verify BOT_ID`` and ``sitin storage audit``: the proof tools, run as the CLI
(click's runner in-process, configured through the same SITIN_* environment as a deployment)."""

import pytest
from click.testing import CliRunner
from sqlalchemy import insert
from sqlalchemy.exc import OperationalError

from sitin.cli import main as sitin_cli
from sitin.context import AppContext
from sitin.core.timefmt import utcnow
from sitin.db.capture import blob_prefix
from sitin.db.tables import participants
from support.captured import ended_bot_with_data


def cli_env(ctx: AppContext) -> dict[str, str]:
    settings = ctx.settings
    return {
        "SITIN_DATA_DIR": str(settings.data_dir),
        "SITIN_DATABASE_URL": settings.resolved_database_url,
        "SITIN_SECRET_KEY": settings.secret_key or "",
    }


def sitin(ctx: AppContext, *args: str):
    return CliRunner().invoke(sitin_cli, list(args), env=cli_env(ctx))


def delete_data(client, project, bot_id):
    return client.post(f"/api/v1/bots/{bot_id}/delete_data", headers=project.headers)


@pytest.fixture
def deleted_bot(ctx, client, project, new_bot) -> str:
    bot_id = new_bot()["id"]
    ended_bot_with_data(ctx, bot_id, blobs=4, project_id=project.id)
    assert delete_data(client, project, bot_id).status_code == 200
    return bot_id


def test_verify_passes_after_deletion_and_catches_a_late_blob_until_a_repeat_call(
    ctx, client, project, deleted_bot
):
    verified = sitin(ctx, "deletion", "verify", deleted_bot)
    assert verified.exit_code == 0, verified.output
    assert "nothing remains" in verified.output

    late_key = f"{blob_prefix(deleted_bot)}audio/late-segment.pcm"
    # An uploader that sealed its file before the key was destroyed and finished after the fence.
    ctx.blobs.backend.put_bytes(late_key, b"late sealed audio")

    found = sitin(ctx, "deletion", "verify", deleted_bot)
    assert found.exit_code == 1
    assert "REMAINS" in found.output
    assert late_key in found.output

    assert delete_data(client, project, deleted_bot).status_code == 200
    again = sitin(ctx, "deletion", "verify", deleted_bot)
    assert again.exit_code == 0, again.output


def test_verify_reports_surviving_rows_and_unfinished_uploads(ctx, deleted_bot):
    with ctx.db.write() as tx:  # a row that escaped the fence (written behind its back)
        tx.conn.execute(
            insert(participants).values(
                id="par_escaped000000000",
                bot_id=deleted_bot,
                uuid="u",
                name="Escaped",
                is_host=False,
                created_at=utcnow(),
            )
        )
    partial = ctx.settings.data_dir / "blobs" / blob_prefix(deleted_bot) / "rec.mp4.partial"
    partial.parent.mkdir(parents=True, exist_ok=True)
    partial.write_bytes(b"half an upload")

    found = sitin(ctx, "deletion", "verify", deleted_bot)

    assert found.exit_code == 1
    assert "1 row(s) in participants" in found.output
    assert "unfinished upload" in found.output
    assert "Escaped" not in found.output  # names what remains, never its content


def test_verify_refuses_bots_that_are_not_data_deleted(ctx, new_bot):
    bot_id = new_bot()["id"]
    ended_bot_with_data(ctx, bot_id, blobs=1)
    refused = sitin(ctx, "deletion", "verify", bot_id)
    assert refused.exit_code != 0
    assert "not data_deleted" in refused.output
    unknown = sitin(ctx, "deletion", "verify", "bot_doesnotexist0000")
    assert unknown.exit_code != 0
    assert "no bot" in unknown.output


def test_storage_audit_lists_orphaned_and_deleted_bot_prefixes(
    ctx, client, project, new_bot, deleted_bot
):
    live = new_bot()["id"]
    ended_bot_with_data(ctx, live, blobs=2)
    clean = sitin(ctx, "storage", "audit")
    assert clean.exit_code == 0, clean.output
    assert "no orphaned" in clean.output

    ctx.blobs.put_bytes("bots/bot_neverexisted0000/audio/x.pcm", b"orphan")  # makes a key
    ctx.blobs.backend.put_bytes(f"{blob_prefix(deleted_bot)}late.bin", b"late")
    ctx.keys.destroy(live)  # a live bot whose key is lost: its files cannot be read

    audit = sitin(ctx, "storage", "audit")

    assert audit.exit_code == 1
    lines = audit.output.strip().splitlines()
    assert sorted(lines) == sorted(
        [
            "bots/bot_neverexisted0000/  (no bot)",
            "bots/bot_neverexisted0000/  (data key of no bot)",
            f"{blob_prefix(deleted_bot)}  (data_deleted)",
            f"{blob_prefix(live)}  (no data key: its files cannot be read)",
        ]
    )
    assert delete_data(client, project, deleted_bot).status_code == 200
    ctx.blobs.delete_prefix("bots/bot_neverexisted0000/")
    ctx.keys.destroy("bot_neverexisted0000")
    ctx.blobs.delete_prefix(blob_prefix(live))
    assert sitin(ctx, "storage", "audit").exit_code == 0


def test_a_key_store_outage_answers_503_and_verify_names_the_surviving_key(
    ctx, client, project, new_bot, monkeypatch
):
    bot_id = new_bot()["id"]
    ended_bot_with_data(ctx, bot_id, blobs=2)

    def key_store_down(_bot_id: str, **_options) -> None:
        raise OperationalError("DELETE", {}, Exception("key store unreachable"))

    with monkeypatch.context() as down:
        # the fence begins the destruction; a repeat call (the bot is fenced) destroys it anew
        down.setattr(ctx.keys, "begin_destroying", key_store_down)
        down.setattr(ctx.keys, "destroy", key_store_down)
        refused = delete_data(client, project, bot_id)
        assert refused.status_code == 503, refused.text
        assert "key" in refused.json()["error"]
        assert delete_data(client, project, bot_id).status_code == 503

    found = sitin(ctx, "deletion", "verify", bot_id)
    assert found.exit_code == 1
    assert "data key still exists" in found.output
    assert "pending in the journal" in found.output

    assert delete_data(client, project, bot_id).status_code == 200
    again = sitin(ctx, "deletion", "verify", bot_id)
    assert again.exit_code == 0, again.output
