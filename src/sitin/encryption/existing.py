"""Sealing in place what was stored before content was encrypted (``sitin storage encrypt``).

Covers every part ``db.sealing`` lists: the columns sealed whole, and the parts sealed inside
a column (event metadata beyond the allow-list, state-change payloads naming a participant,
receivers' response excerpts, queued output audio). Idempotent and resumable: only values that
are not yet sealed are touched, a batch per transaction, so it can be interrupted and run again.
Every start runs the row pass (a quick check when nothing is left); the blob pass runs on the
first start with an empty key store (an upgrade) and whenever the command is run.
"""

import io
import logging
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sitin.core.scrub import safe_event_metadata, split_event_metadata
from sitin.db import bots, sealing, unsealed
from sitin.encryption.aead import SEALED_PREFIX, ContentUnreadable, DataKey, is_sealed
from sitin.encryption.blobs import seal_file
from sitin.encryption.keystore import KeyDestroyed

log = logging.getLogger(__name__)

BATCH = 500
BOTS_PARENT = "bots/"


@dataclass
class SealReport:
    values: dict[str, int] = field(default_factory=dict)  # "table.column" → values sealed
    blobs: int = 0

    @property
    def total(self) -> int:
        return sum(self.values.values()) + self.blobs


def seal_existing_rows(ctx, progress: Callable[[str, int], None] | None = None) -> SealReport:
    """Seal every captured value still in plaintext (every part ``db.sealing`` lists), and fill
    the participants' uuid hashes."""
    report = SealReport()
    for table_name in unsealed.sealed_tables():
        columns = [(c, p, k) for t, c, p, k in sealing.SEALED_COLUMNS if t == table_name]
        _seal_table(ctx, table_name, columns, report, progress)
    _run_pass(
        ctx,
        "webhook_delivery_attempts.payload",
        unsealed.payloads_batch,
        _content_payload,
        report,
        progress,
    )
    _run_pass(
        ctx,
        "webhook_delivery_attempts.payload",
        unsealed.state_payloads_batch,
        _state_payload,
        report,
        progress,
    )
    _run_pass(
        ctx,
        "webhook_delivery_attempts.response_excerpt",
        unsealed.excerpts_batch,
        _excerpts,
        report,
        progress,
    )
    _run_pass(ctx, "bot_events.metadata", unsealed.events_batch, _event_metadata, report, progress)
    _run_pass(
        ctx,
        "bot_output_requests.data",
        unsealed.output_audio_batch,
        _output_audio,
        report,
        progress,
    )
    return report


def _seal_table(ctx, table_name: str, columns, report: SealReport, progress) -> None:
    kinds = [(column, kind) for column, _purpose, kind in columns]
    after = None
    while True:
        with ctx.db.write() as tx:
            rows = unsealed.rows_batch(tx.conn, table_name, kinds, after=after, limit=BATCH)
            if not rows:
                return
            after = rows[-1]["id"]
            sealed = 0
            for row in rows:
                try:
                    values = _sealed_values(ctx, row, table_name, columns)
                except KeyDestroyed:  # a restored backup of a deleted bot: reconciled elsewhere
                    continue
                if values:
                    unsealed.write_row(tx.conn, table_name, row["id"], values)
                    sealed += 1
                    for name in values:
                        key = f"{table_name}.{name}"
                        report.values[key] = report.values.get(key, 0) + 1
        if progress is not None and sealed:
            progress(table_name, sealed)


def _sealed_values(ctx, row, table_name: str, columns) -> dict:
    key = ctx.keys.key_for_writing(row["bot_id"])
    values = {}
    for column, purpose, kind in columns:
        value = row[column]
        if value is None or (isinstance(value, str) and value.startswith(SEALED_PREFIX)):
            continue
        values[column] = (
            key.seal_text(value, purpose) if kind == "text" else key.seal_json(value, purpose)
        )
    if table_name == "participants" and row["uuid_hash"] is None:
        plain_uuid = row["uuid"]
        if plain_uuid.startswith(SEALED_PREFIX):
            plain_uuid = key.open_text(plain_uuid, sealing.PARTICIPANT_UUID)
        values["uuid_hash"] = key.lookup_hash(plain_uuid)
    return values


# A pass over one part sealed inside a column: (rows of a batch) → the new values of one row,
# or None when it needs none. ``key`` is the bot's data key, None once it was destroyed.
Resealer = Callable[[Any, DataKey | None], dict[str, Any] | None]


def _run_pass(ctx, what: str, batch, reseal: Resealer, report: SealReport, progress) -> None:
    """Rewrite, a batch per transaction, the rows ``batch`` finds (``id``, ``bot_id`` and the
    value): interrupted, the next run finds only what is still plain."""
    table_name = what.split(".")[0]
    after = None
    while True:
        with ctx.db.write() as tx:
            rows = batch(tx.conn, after=after, limit=BATCH)
            if not rows:
                return
            after = rows[-1].id
            sealed = 0
            for row in rows:
                values = reseal(row, _writing_key(ctx, row.bot_id))
                if values is not None:
                    unsealed.write_row(tx.conn, table_name, row.id, values)
                    sealed += 1
        if sealed:
            report.values[what] = report.values.get(what, 0) + sealed
            if progress is not None:
                progress(what, sealed)


def _writing_key(ctx, bot_id: str) -> DataKey | None:
    try:
        return ctx.keys.key_for_writing(bot_id)
    except KeyDestroyed:
        return None


def _content_payload(row, key: DataKey | None) -> dict | None:
    if key is None:  # a restored backup of a deleted bot: reconciled elsewhere
        return None
    return {"payload": key.seal_json(row.payload, sealing.WEBHOOK_PAYLOAD)}


def _state_payload(row, key: DataKey | None) -> dict | None:
    """A state change naming a participant is sealed whole, as ``webhooks.dispatch`` seals it;
    for a bot whose key is gone its metadata is cut to the allow-list, as delete_data does."""
    if key is not None:
        return {"payload": key.seal_json(row.payload, sealing.WEBHOOK_PAYLOAD)}
    data = dict(row.payload.get("data") or {})
    data["event_metadata"] = safe_event_metadata(data.get("event_metadata"))
    return {"payload": {**row.payload, "data": data}}


def _excerpts(row, key: DataKey | None) -> dict | None:
    """Each plain response excerpt sealed (dropped for a bot whose key is gone)."""
    history = []
    for entry in row.attempts:
        excerpt = entry.get("response_excerpt") if isinstance(entry, dict) else None
        if isinstance(excerpt, str) and not is_sealed(excerpt):
            entry = {k: v for k, v in entry.items() if k != "response_excerpt"}
            if key is not None:
                entry["response_excerpt"] = key.seal_text(excerpt, sealing.WEBHOOK_RESPONSE)
        history.append(entry)
    return {"attempts": history}


def _event_metadata(row, key: DataKey | None) -> dict | None:
    """The keys beyond the allow-list moved into the sealed one, as ``db.capture`` stores them
    (merged with what it already holds); dropped for a bot whose key is gone."""
    safe, private = split_event_metadata(row.metadata)
    already = private.pop(sealing.SEALED_EVENT_KEY, None)
    if not private:
        return None
    if key is None:
        return {
            "metadata": safe if already is None else {**safe, sealing.SEALED_EVENT_KEY: already}
        }
    if already is not None:
        try:
            private = {**key.open_json(already, sealing.EVENT_METADATA), **private}
        except (ContentUnreadable, ValueError, TypeError):
            log.error("bot %s: sealed event metadata does not open; replaced", row.bot_id)
    return {
        "metadata": {
            **safe,
            sealing.SEALED_EVENT_KEY: key.seal_json(private, sealing.EVENT_METADATA),
        }
    }


def _output_audio(row, key: DataKey | None) -> dict | None:
    """Output audio that does not open under the bot's key is plaintext: sealed."""
    if key is None:
        return None
    purpose = sealing.OUTPUT_AUDIO.encode()
    data = bytes(row.data)
    try:
        key.open(data, purpose)
        return None
    except ContentUnreadable:
        return {"data": key.seal(data, purpose)}


def seal_existing_blobs(ctx, progress: Callable[[str, int], None] | None = None) -> int:
    """Seal every blob of a bot (not data-deleted) that is still stored in plaintext."""
    sealed = 0
    with ctx.db.read() as conn:
        live = bots.ids_not_data_deleted(conn)
    for prefix in ctx.blobs.top_level_prefixes(BOTS_PARENT):
        bot_id = prefix[len(BOTS_PARENT) :].rstrip("/")
        if bot_id not in live:
            continue  # data-deleted or unknown: the deletion journal and audit deal with it
        key = ctx.keys.key_for_writing(bot_id)
        for info in list(ctx.blobs.list(prefix)):
            if ctx.blobs.is_sealed(info.key):
                continue
            with tempfile.TemporaryDirectory(dir=ctx.settings.data_dir) as scratch:
                out = Path(scratch) / "sealed"  # the plaintext streams through, never on disk
                pieces = ctx.blobs.backend.read_range(info.key, 0, info.size)
                seal_file(key, info.key, _Reader(pieces), out)
                ctx.blobs.backend.put_file(info.key, out)
            sealed += 1
            if progress is not None:
                progress("blobs", 1)
    return sealed


class _Reader(io.RawIOBase):
    """A binary reader over an iterator of byte pieces."""

    def __init__(self, pieces: Iterator[bytes]):
        super().__init__()
        self._pieces = pieces
        self._left = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        while not self._left:
            piece = next(self._pieces, None)
            if piece is None:
                return 0
            self._left = piece
        count = min(len(buffer), len(self._left))
        buffer[:count] = self._left[:count]
        self._left = self._left[count:]
        return count


def seal_existing(ctx, *, blobs: bool, scrub: bool = False, progress=None) -> SealReport:
    """Seal what is still plain; then, if anything was (or ``scrub``: the explicit command, which
    also finishes a run that was interrupted after its last batch), rewrite the database files
    so the replaced plaintext goes too."""
    report = seal_existing_rows(ctx, progress)
    if blobs:
        report.blobs = seal_existing_blobs(ctx, progress)
    if report.total:
        log.info(
            "sealed %d value(s) and %d blob(s) stored before encryption",
            report.total - report.blobs,
            report.blobs,
        )
    if report.total or scrub:
        if progress is not None:
            progress("the database files (rewritten without the replaced plaintext)", 0)
        scrub_old_plaintext(ctx)
    return report


def scrub_old_plaintext(ctx) -> None:
    """Drop the plaintext the sealed values replaced: it no longer belongs to any row but sits in
    free pages and the WAL (SQLite: VACUUM rewrites the file, then the WAL is truncated) or in
    dead tuples (PostgreSQL: VACUUM FULL rewrites the tables that were sealed). Runs after an
    upgrade sealed something; copies made before it (backups, replicas' WAL) are not reached."""
    unsealed.vacuum_sealed_tables(ctx.db)
    ctx.db.checkpoint()
