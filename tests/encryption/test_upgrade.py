"""Upgrading an install that stored content in plaintext (before sealing existed): what
``sitin storage encrypt`` runs leaves no plaintext in any file — the database and its WAL, the
blobs, the key store — and every API read answers exactly as before.

The old install is built directly: a meeting's rows and blobs are written, then every sealed
column is put back in plaintext, the participants' uuid hashes dropped, the blobs rewritten
unsealed and the key store emptied — what a version without encryption left behind."""

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import select, update

from sitin.core.triggers import CONTENT_TRIGGERS
from sitin.db import sealing
from sitin.db.tables import metadata, webhook_delivery_attempts
from sitin.encryption.aead import is_sealed
from sitin.encryption.existing import seal_existing
from sitin.encryption.keystore import data_keys
from support.captured import ended_bot_with_data
from support.plaintext import hits_in, plaintext_hits

NEEDLES = ("confidential sentence", "secret plan", "Person 0", "bot says hi", "Person 1")
READS = ("transcript", "participants", "participant_events", "chat_messages")


def api_reads(client, headers, bot_id: str) -> dict:
    return {
        path: client.get(f"/api/v1/bots/{bot_id}/{path}", headers=headers).json() for path in READS
    }


def make_it_an_old_install(ctx, bot_id: str) -> list[str]:
    """Rewrite the bot's content as a version without encryption stored it; returns its blobs."""
    opener = sealing.Opener(bot_id, ctx.keys.key_for_reading(bot_id))
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
        attempts = webhook_delivery_attempts
        for row_id, payload in tx.conn.execute(
            select(attempts.c.id, attempts.c.payload).where(
                attempts.c.bot_id == bot_id, attempts.c.trigger.in_(sorted(CONTENT_TRIGGERS))
            )
        ).all():
            if not is_sealed(payload):
                continue
            plain = opener.json(payload, sealing.WEBHOOK_PAYLOAD)
            tx.conn.execute(update(attempts).where(attempts.c.id == row_id).values(payload=plain))
    blobs = [info.key for info in ctx.blobs.list(f"bots/{bot_id}/")]
    for key in blobs:
        ctx.blobs.backend.put_bytes(key, ctx.blobs.get_bytes(key))
    with ctx.keys.engine.begin() as conn:
        conn.execute(data_keys.delete())
    ctx.keys.forget_cached()
    return blobs


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
    ended_bot_with_data(ctx, bot_id, project_id=project.id)
    expected = api_reads(client, project.headers, bot_id)
    assert expected["transcript"] and expected["chat_messages"]["results"]
    blob_contents = {
        info.key: ctx.blobs.get_bytes(info.key) for info in ctx.blobs.list(f"bots/{bot_id}/")
    }

    # bot.state_change payloads are stored in plaintext by design (scrubbed on deletion); the
    # fixture's names a participant (remover_name), which this scan would rightly report
    with ctx.db.write() as tx:
        tx.conn.execute(
            webhook_delivery_attempts.delete().where(webhook_delivery_attempts.c.id == "att-state")
        )
    blobs = make_it_an_old_install(ctx, bot_id)
    ctx.db.checkpoint()
    before = stored_hits(ctx, tmp_path)
    assert any("confidential sentence" in hit for hit in before)  # the scan sees plaintext

    report = seal_existing(ctx, blobs=True)  # what `sitin storage encrypt` runs

    assert report.blobs == len(blobs) >= 1
    assert report.values["utterances.transcription"] == len(expected["transcript"])
    assert report.values["webhook_delivery_attempts.payload"] >= 1
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
    # Idempotent: a second run finds nothing left to seal.
    assert seal_existing(ctx, blobs=True).total == 0
