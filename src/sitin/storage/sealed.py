"""The blob store the service uses: every blob sealed under its bot's data key, in any backend.

Keys are ``bots/<bot_id>/…``; the bot id picks the data key. Writes seal (chunked AES-GCM, see
``sitin.encryption.blobs``), reads open; sizes reported for uploads are plaintext sizes. Listing,
measuring and deleting pass through to the backend unchanged. Download links point at sitin
(``/blobs/<key>``), which streams the opened bytes with range support.
"""

import logging
import os
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from sitin.encryption import ContentUnreadable, KeyStore
from sitin.encryption.blobs import (
    HEADER_BYTES,
    is_sealed_blob,
    open_bytes,
    open_range,
    parse_header,
    plain_size,
    seal_bytes,
    seal_file,
)
from sitin.storage.base import BlobInfo, BlobStore
from sitin.storage.links import LinkSigner

log = logging.getLogger(__name__)

BOTS_PARENT = "bots/"
SEALING_SUFFIX = ".sealing"  # the sealed copy of a local file, next to it, while it uploads


def bot_of(key: str) -> str:
    """The bot id a blob key belongs to (``bots/<id>/…``); ValueError for any other key."""
    if not key.startswith(BOTS_PARENT):
        raise ValueError(f"blob key {key!r} is not under {BOTS_PARENT}<bot_id>/")
    bot_id, slash, rest = key[len(BOTS_PARENT) :].partition("/")
    if not bot_id or not slash or not rest:
        raise ValueError(f"blob key {key!r} is not under {BOTS_PARENT}<bot_id>/")
    return bot_id


@dataclass(frozen=True)
class OpenedBlob:
    """A readable blob: its plaintext size and a stream of the requested range."""

    size: int
    chunks: Iterator[bytes]


class SealedBlobStore:
    def __init__(self, backend: BlobStore, keys: KeyStore, links: LinkSigner):
        self.backend = backend
        self.keys = keys
        self.links = links

    # --- writes (inside the deletion fence: the key is created on first use) -----------------

    def put_file(self, key: str, path: Path) -> int:
        data_key = self.keys.key_for_writing(bot_of(key))
        sealed = Path(path).with_name(Path(path).name + SEALING_SUFFIX)
        try:
            size = seal_file(data_key, key, Path(path), sealed)
            self.backend.put_file(key, sealed)
        finally:
            with suppress(FileNotFoundError):
                os.unlink(sealed)
        return size

    def put_stream(self, key: str, source: BinaryIO, *, spool: Path) -> int:
        """Upload what ``source`` reads (to its end); its sealed copy waits next to ``spool``
        while it uploads. Returns the plaintext size."""
        data_key = self.keys.key_for_writing(bot_of(key))
        sealed = Path(spool).with_name(Path(spool).name + SEALING_SUFFIX)
        try:
            size = seal_file(data_key, key, source, sealed)
            self.backend.put_file(key, sealed)
        finally:
            with suppress(FileNotFoundError):
                os.unlink(sealed)
        return size

    def put_bytes(self, key: str, data: bytes) -> int:
        data_key = self.keys.key_for_writing(bot_of(key))
        self.backend.put_bytes(key, seal_bytes(data_key, key, data))
        return len(data)

    # --- reads ------------------------------------------------------------------------------

    def get_bytes(self, key: str) -> bytes:
        """The opened blob. Raises KeyError (no blob) or ContentUnreadable (key gone, altered)."""
        data = self.backend.get_bytes(key)
        return open_bytes(self._reading_key(key), key, data)

    def open(self, key: str, start: int = 0, end: int | None = None) -> OpenedBlob:
        """Plaintext size and the bytes [start, end) streamed. The header and the first chunk are
        checked before this returns, so a missing key or a corrupt blob raises ContentUnreadable
        here (KeyError: no such blob), never halfway through a response."""
        data_key = self._reading_key(key)
        stored = self.backend.size(key)
        head = b"".join(self.backend.read_range(key, 0, HEADER_BYTES))
        chunk, _prefix = parse_header(head)
        size = plain_size(stored, chunk)
        chunks = open_range(
            data_key, key, lambda a, b: self.backend.read_range(key, a, b), stored, start, end
        )
        first = next(chunks, None)
        return OpenedBlob(size, _chain(first, chunks, key))

    def _reading_key(self, key: str):
        bot_id = bot_of(key)
        data_key = self.keys.key_for_reading(bot_id)
        if data_key is None:
            raise ContentUnreadable(f"bot {bot_id} has no data key (its data was deleted)")
        return data_key

    def is_sealed(self, key: str) -> bool:
        head = b"".join(self.backend.read_range(key, 0, HEADER_BYTES))
        return is_sealed_blob(head)

    def download_url(self, key: str, *, expires_in: int) -> str:
        return self.links.url(key, expires_in=expires_in)

    # --- passed through ---------------------------------------------------------------------

    def list(self, prefix: str) -> Iterator[BlobInfo]:
        return self.backend.list(prefix)

    def usage(self, prefix: str) -> tuple[int, int]:
        return self.backend.usage(prefix)

    def delete_prefix(self, prefix: str, *, on_batch: Callable[[], None] | None = None) -> int:
        return self.backend.delete_prefix(prefix, on_batch=on_batch)

    def is_empty(self, prefix: str) -> bool:
        return self.backend.is_empty(prefix)

    def top_level_prefixes(self, parent: str) -> Iterator[str]:
        return self.backend.top_level_prefixes(parent)

    def check(self) -> None:
        self.backend.check()


def _chain(first: bytes | None, rest: Iterator[bytes], key: str) -> Iterator[bytes]:
    if first is not None:
        yield first
    try:
        yield from rest
    except ContentUnreadable as exc:  # the response has started: end it short, and say why
        log.error("download of %s stopped: %s", key, exc)
