"""Sealing in place what was stored before content was encrypted (``sitin storage encrypt``).

Idempotent and resumable: only values that are not yet sealed are touched, a batch per
transaction, so it can be interrupted and run again. Every start runs the row pass (a quick
check when nothing is left); the blob pass runs on the first start with an empty key store (an
upgrade) and whenever the command is run.
"""

import io
import logging
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sitin.db import bots, sealing, unsealed
from sitin.encryption.aead import SEALED_PREFIX
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
    """Seal every captured value still in plaintext, and fill the participants' uuid hashes."""
    report = SealReport()
    for table_name in unsealed.sealed_tables():
        columns = [(c, p, k) for t, c, p, k in sealing.SEALED_COLUMNS if t == table_name]
        _seal_table(ctx, table_name, columns, report, progress)
    _seal_payloads(ctx, report, progress)
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
            for row in rows:
                try:
                    values = _sealed_values(ctx, row, table_name, columns)
                except KeyDestroyed:  # a restored backup of a deleted bot: reconciled elsewhere
                    continue
                if values:
                    unsealed.write_row(tx.conn, table_name, row["id"], values)
                    for name in values:
                        key = f"{table_name}.{name}"
                        report.values[key] = report.values.get(key, 0) + 1
        if progress is not None:
            progress(table_name, len(rows))


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


def _seal_payloads(ctx, report: SealReport, progress) -> None:
    after = None
    while True:
        with ctx.db.write() as tx:
            rows = unsealed.payloads_batch(tx.conn, after=after, limit=BATCH)
            for row in rows:
                try:
                    key = ctx.keys.key_for_writing(row.bot_id)
                except KeyDestroyed:
                    continue
                sealed = key.seal_json(row.payload, sealing.WEBHOOK_PAYLOAD)
                unsealed.write_payload(tx.conn, row.id, sealed)
        if not rows:
            return
        after = rows[-1].id
        report.values["webhook_delivery_attempts.payload"] = report.values.get(
            "webhook_delivery_attempts.payload", 0
        ) + len(rows)
        if progress is not None:
            progress("webhook_delivery_attempts", len(rows))


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
                progress(info.key, 1)
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


def seal_existing(ctx, *, blobs: bool, progress=None) -> SealReport:
    report = seal_existing_rows(ctx, progress)
    if blobs:
        report.blobs = seal_existing_blobs(ctx, progress)
    if report.total:
        log.info(
            "sealed %d value(s) and %d blob(s) stored before encryption",
            report.total - report.blobs,
            report.blobs,
        )
        scrub_old_plaintext(ctx)
    return report


def scrub_old_plaintext(ctx) -> None:
    """Drop the plaintext the sealed values replaced: it no longer belongs to any row but sits in
    free pages and the WAL (SQLite: VACUUM rewrites the file, then the WAL is truncated) or in
    dead tuples (PostgreSQL: VACUUM FULL rewrites the tables that were sealed). Runs once, after
    an upgrade sealed something; copies made before it (backups, replicas' WAL) are not reached."""
    unsealed.vacuum_sealed_tables(ctx.db)
    ctx.db.checkpoint()
