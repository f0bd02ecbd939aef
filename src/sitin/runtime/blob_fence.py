"""Take one captured blob through the deletion fence: check, upload, fenced row, clean up.

The upload happens outside any write transaction (an SQLite writer never waits for storage): the
fence is checked first, so nothing is written for a bot whose data is already deleted; the row is
then written through ``sitin.db.capture`` in its own transaction, which checks the fence again. If
delete_data came in between, the row is refused and everything under the bot's prefix is removed,
so the blob does not outlive the deletion.
"""

from collections.abc import Callable
from pathlib import Path

from sitin.db import capture
from sitin.db.capture import DataDeleted
from sitin.db.engine import Database, Tx
from sitin.encryption import KeyDestroyed
from sitin.encryption.scratch import SealedScratchFile
from sitin.storage.sealed import SealedBlobStore

# Writes the blob's row(s) in the fenced transaction, given the stored size in bytes.
RecordBlob = Callable[[Tx, int], None]


def store_blob(
    db: Database,
    blobs: SealedBlobStore,
    *,
    bot_id: str,
    key: str,
    content: bytes | Path | SealedScratchFile,
    record: RecordBlob,
) -> int:
    """Store `content` under `key` (inside the bot's prefix) and its row; returns the size.

    A scratch file (reopened for reading) is read from where it stands.

    Raises DataDeleted, with nothing of the bot left in storage, once its data was deleted.
    """
    if not key.startswith(capture.blob_prefix(bot_id)) or ".." in key.split("/"):
        raise ValueError(f"blob key {key!r} is outside {capture.blob_prefix(bot_id)}")
    try:
        with db.read() as conn:
            capture.ensure_capturable(conn, bot_id)  # before anything is written
        try:
            if isinstance(content, SealedScratchFile):
                size = blobs.put_stream(key, content, spool=content.path)
            elif isinstance(content, Path):
                size = blobs.put_file(key, content)
            else:
                size = blobs.put_bytes(key, content)
        except KeyDestroyed:  # the store seals under the bot's key, destroyed by delete_data
            raise DataDeleted(f"bot {bot_id}: its data key was destroyed; blob refused") from None
        with db.write() as tx:
            record(tx, size)
    except DataDeleted:
        blobs.delete_prefix(capture.blob_prefix(bot_id))
        raise
    return size
