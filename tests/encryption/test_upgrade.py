"""Upgrading an install that stored content in plaintext (before sealing existed): what
``sitin storage encrypt`` runs leaves no plaintext in any file — the database and its WAL, the
blobs, the key store — and every API read answers exactly as before.

The old install is built directly: a meeting's rows and blobs are written, then every sealed
part is put back in plaintext (each column ``db.sealing`` lists, the event metadata beyond the
allow-list, state-change and content payloads, receivers' response excerpts, queued output
audio), the participants' uuid hashes dropped, the blobs rewritten unsealed and the key store
emptied — what a version without encryption left behind."""

import os
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from sqlalchemy import select, update

from sitin.cli import main
from sitin.core.states import EventSubType, EventType
from sitin.db import capture, sealing
from sitin.db.bot_events import record_event
from sitin.db.tables import bot_events, bot_output_requests, metadata, webhook_delivery_attempts
from sitin.encryption import existing
from sitin.encryption.aead import is_sealed
from sitin.encryption.existing import seal_existing
from sitin.encryption.keystore import data_keys
from support.captured import JOIN_PATH, advance, capture_meeting
from support.plaintext import hits_in, plaintext_hits

REMOVED_BY = {"remover_name": "Person 1", "remover_uuid": "uuid-1", "remover_is_host": False}
FAILURE = "Person 1 is not in the chat"
NEEDLES = (
    "confidential sentence",
    "secret plan",
    "Person 0",
    "Person 1",
    "uuid-1",
    "bot says hi",
    "echo: secret",
    "not in the chat",
    "confidential words",
    "confidential audio",
)
READS = ("transcript", "participants", "participant_events", "chat_messages", "webhook_deliveries")


def api_reads(client, headers, bot_id: str) -> dict:
    return {
        path: client.get(f"/api/v1/bots/{bot_id}/{path}", headers=headers).json() for path in READS
    }


def meeting(ctx, bot_id: str, project_id: str) -> None:
    """A meeting with every kind of sealed part: rows, blobs, a failed chat message, a leave
    requested by a named participant, deliveries with response excerpts, queued output."""
    advance(ctx, bot_id, *JOIN_PATH)
    capture_meeting(ctx, bot_id, project_id=project_id)
    with ctx.db.write() as tx:
        request = capture.add_chat_message_request(
            tx, bot_id=bot_id, to="specific_user", to_user_uuid="uuid-1", message="bot says hi"
        )
        capture.mark_chat_message_request(
            tx, bot_id=bot_id, request_id=request, sent=False, failure=FAILURE
        )
    with ctx.db.write() as tx:
        record_event(
            tx,
            bot_id=bot_id,
            event=EventType.LEAVE_REQUESTED,
            sub_type=EventSubType.USER_REQUESTED,
            metadata=REMOVED_BY,
        )
    advance(ctx, bot_id, EventType.LEFT_MEETING, EventType.POST_PROCESSING_COMPLETED)


def make_it_an_old_install(ctx, bot_id: str) -> list[str]:
    """Rewrite the bot's content as a version without encryption stored it; returns its blobs."""
    opener = sealing.Opener(bot_id, ctx.keys.key_for_reading(bot_id))
    key = ctx.keys.key_for_reading(bot_id)
    with ctx.db.write() as tx:
        for table_name, column, purpose, kind in sealing.SEALED_COLUMNS:
            table = metadata.tables[table_name]
            rows = tx.conn.execute(
                select(table.c.id, table.c[column]).where(
                    table.c.bot_id == bot_id, table.c[column].is_not(None)
                )
            ).all()
            for row_id, value in rows:
                plain = (
                    opener.text(value, purpose) if kind == "text" else opener.json(value, purpose)
                )
                assert plain not in ("", None), (table_name, column)
                tx.conn.execute(update(table).where(table.c.id == row_id).values({column: plain}))
        tx.conn.execute(
            update(metadata.tables["participants"])
            .where(metadata.tables["participants"].c.bot_id == bot_id)
            .values(uuid_hash=None)
        )
        events = tx.conn.execute(
            select(bot_events.c.id, bot_events.c.metadata).where(bot_events.c.bot_id == bot_id)
        ).all()
        for row_id, stored in events:
            if sealing.SEALED_EVENT_KEY in (stored or {}):
                plain = dict(stored)
                plain.update(
                    opener.json(plain.pop(sealing.SEALED_EVENT_KEY), sealing.EVENT_METADATA)
                )
                tx.conn.execute(
                    update(bot_events).where(bot_events.c.id == row_id).values(metadata=plain)
                )
        attempts = webhook_delivery_attempts
        for row_id, payload, history in tx.conn.execute(
            select(attempts.c.id, attempts.c.payload, attempts.c.attempts).where(
                attempts.c.bot_id == bot_id
            )
        ).all():
            if is_sealed(payload):
                payload = opener.json(payload, sealing.WEBHOOK_PAYLOAD)
            history = [
                {
                    **entry,
                    "response_excerpt": opener.text(
                        entry["response_excerpt"], sealing.WEBHOOK_RESPONSE
                    ),
                }
                if is_sealed(entry.get("response_excerpt"))
                else entry
                for entry in history
            ]
            tx.conn.execute(
                update(attempts)
                .where(attempts.c.id == row_id)
                .values(payload=payload, attempts=history)
            )
        output = bot_output_requests
        for row_id, data in tx.conn.execute(
            select(output.c.id, output.c.data).where(
                output.c.bot_id == bot_id, output.c.data.is_not(None)
            )
        ).all():
            plain = key.open(bytes(data), sealing.OUTPUT_AUDIO.encode())
            tx.conn.execute(update(output).where(output.c.id == row_id).values(data=plain))
    blobs = [info.key for info in ctx.blobs.list(f"bots/{bot_id}/")]
    for blob in blobs:
        ctx.blobs.backend.put_bytes(blob, ctx.blobs.get_bytes(blob))
    with ctx.keys.engine.begin() as conn:
        conn.execute(data_keys.delete())
    ctx.keys.forget_cached()
    return blobs


def storage_encrypt(ctx) -> str:
    """``sitin storage encrypt`` run as an operator runs it, on the test's deployment."""
    env = {name: None for name in os.environ if name.startswith("SITIN_")}
    env.update(
        SITIN_DATA_DIR=str(ctx.settings.data_dir),
        SITIN_DATABASE_URL=ctx.settings.database_url,
        SITIN_SECRET_KEY=ctx.settings.secret_key,
    )
    result = CliRunner().invoke(main, ["storage", "encrypt"], env=env)
    assert result.exit_code == 0, result.output
    ctx.keys.forget_cached()  # the command created the data keys
    return result.output


def stored_hits(ctx, tmp_path: Path) -> list[str]:
    """Plaintext of the meeting anywhere: every file sitin owns (SQLite) or every column of every
    row through SQL (PostgreSQL), and the data directory (blobs, key store)."""
    hits = plaintext_hits(tmp_path / "data", NEEDLES)
    if ctx.db.is_sqlite:
        database = Path(sa.engine.make_url(ctx.settings.database_url).database)
        for path in database.parent.glob(database.name + "*"):
            hits += [f"{path.name}: {hit}" for hit in hits_in(path.read_bytes(), NEEDLES)]
    else:
        with ctx.db.read() as conn:
            for table in metadata.sorted_tables:
                rows = b"\n".join(repr(tuple(r)).encode() for r in conn.execute(select(table)))
                hits += [f"{table.name}: {hit}" for hit in hits_in(rows, NEEDLES)]
    return hits


def test_storage_encrypt_leaves_no_plaintext_and_reads_answer_as_before(
    ctx, client, project, new_bot, tmp_path
):
    bot_id = new_bot()["id"]
    meeting(ctx, bot_id, project.id)
    expected = api_reads(client, project.headers, bot_id)
    assert expected["transcript"] and expected["chat_messages"]["results"]
    assert expected["webhook_deliveries"]["results"]
    blob_contents = {
        info.key: ctx.blobs.get_bytes(info.key) for info in ctx.blobs.list(f"bots/{bot_id}/")
    }
    blobs = make_it_an_old_install(ctx, bot_id)
    ctx.db.checkpoint()
    before = stored_hits(ctx, tmp_path)
    for needle in NEEDLES:  # the scan sees plaintext of every part
        assert any(needle in hit for hit in before), needle

    output = storage_encrypt(ctx)

    for part in (
        "utterances",
        "chat_messages",
        "bot_chat_message_requests",
        "bot_output_requests",
        "bot_output_requests.data",
        "bot_events.metadata",
        "webhook_delivery_attempts.payload",
        "webhook_delivery_attempts.response_excerpt",
        "blobs",
    ):
        assert f"{part}: " in output, (part, output)  # progress per part
    assert f"and {len(blobs)} blob(s)" in output
    assert stored_hits(ctx, tmp_path) == []
    assert api_reads(client, project.headers, bot_id) == expected
    for key, content in blob_contents.items():
        assert ctx.blobs.is_sealed(key)
        assert ctx.blobs.get_bytes(key) == content
    with ctx.db.read() as conn:
        for table_name, column, _purpose, kind in sealing.SEALED_COLUMNS:
            table = metadata.tables[table_name]
            for (value,) in conn.execute(
                select(table.c[column]).where(table.c[column].is_not(None))
            ):
                assert is_sealed(value), (table_name, column, kind)
    # Idempotent: a second run finds nothing left to seal, and changes nothing.
    assert "encrypted 0 value(s) and 0 blob(s)" in storage_encrypt(ctx)
    assert api_reads(client, project.headers, bot_id) == expected


def test_an_interrupted_run_is_finished_by_the_next(
    ctx, client, project, new_bot, tmp_path, monkeypatch
):
    bot_id = new_bot()["id"]
    meeting(ctx, bot_id, project.id)
    expected = api_reads(client, project.headers, bot_id)
    make_it_an_old_install(ctx, bot_id)
    monkeypatch.setattr(existing, "BATCH", 2)  # several committed batches per part

    class Interrupted(Exception):
        pass

    batches = []

    def stop_after_three(what: str, count: int) -> None:
        batches.append(what)
        if len(batches) == 3:
            raise Interrupted

    with pytest.raises(Interrupted):
        seal_existing(ctx, blobs=True, progress=stop_after_three)
    ctx.keys.forget_cached()
    assert stored_hits(ctx, tmp_path) != []  # part of it is still plain

    storage_encrypt(ctx)

    assert stored_hits(ctx, tmp_path) == []
    assert api_reads(client, project.headers, bot_id) == expected
