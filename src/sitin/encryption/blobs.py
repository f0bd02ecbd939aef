"""Chunked AES-GCM for blobs, so a recording streams (and seeks) without being held in memory.

Layout: a header ``SITINBLOB1`` ‖ chunk size (u32) ‖ 8 random nonce bytes, then the chunks, each
``ciphertext ‖ tag`` of ``chunk size`` plaintext bytes (the last one shorter; an empty blob has one
empty chunk). Chunk ``i`` uses nonce ``prefix ‖ i`` and associated data naming the blob key, ``i``
and whether it is the last chunk, so chunks cannot be reordered, moved to another blob or cut off.
"""

import os
import struct
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from cryptography.exceptions import InvalidTag

from sitin.encryption.aead import TAG_BYTES, ContentUnreadable, DataKey

MAGIC = b"SITINBLOB1"
HEADER = struct.Struct(">4s8s")  # after MAGIC: chunk size, nonce prefix
HEADER_BYTES = len(MAGIC) + HEADER.size
CHUNK_BYTES = 256 * 1024

# read(start, end) yields the stored bytes [start, end) in pieces of any size.
RangeReader = Callable[[int, int], Iterator[bytes]]


def _aad(blob_key: str, index: int, last: bool) -> bytes:
    return b"%s\x00%d\x00%d" % (blob_key.encode(), index, last)


def _nonce(prefix: bytes, index: int) -> bytes:
    return prefix + index.to_bytes(4, "big")


def chunk_count(plain_size: int, chunk_bytes: int = CHUNK_BYTES) -> int:
    return max(1, -(-plain_size // chunk_bytes))


def sealed_size(plain_size: int, chunk_bytes: int = CHUNK_BYTES) -> int:
    return HEADER_BYTES + plain_size + TAG_BYTES * chunk_count(plain_size, chunk_bytes)


def is_sealed_blob(head: bytes) -> bool:
    return head.startswith(MAGIC)


class BlobSealer:
    """Seals one blob chunk by chunk (feed it the plaintext in any pieces)."""

    def __init__(self, key: DataKey, blob_key: str, chunk_bytes: int = CHUNK_BYTES):
        self._aead = key.aead
        self._blob_key = blob_key
        self._chunk = chunk_bytes
        self._prefix = os.urandom(8)
        self._index = 0
        self._pending = bytearray()

    def header(self) -> bytes:
        return MAGIC + HEADER.pack(self._chunk.to_bytes(4, "big"), self._prefix)

    def update(self, data: bytes) -> Iterator[bytes]:
        self._pending += data
        # Keep at least one byte back: only close() knows which chunk is the last.
        while len(self._pending) > self._chunk:
            yield self._seal(bytes(self._pending[: self._chunk]), last=False)
            del self._pending[: self._chunk]

    def close(self) -> bytes:
        return self._seal(bytes(self._pending), last=True)

    def _seal(self, plain: bytes, *, last: bool) -> bytes:
        index, self._index = self._index, self._index + 1
        return self._aead.encrypt(
            _nonce(self._prefix, index), plain, _aad(self._blob_key, index, last)
        )


def seal_bytes(key: DataKey, blob_key: str, data: bytes) -> bytes:
    sealer = BlobSealer(key, blob_key)
    return b"".join([sealer.header(), *sealer.update(data), sealer.close()])


def seal_file(key: DataKey, blob_key: str, source: Path | BinaryIO, target: Path) -> int:
    """Write ``source`` (a file, or a binary reader read to its end) sealed to ``target`` (mode
    0600); returns the plaintext size."""
    if isinstance(source, Path):
        with open(source, "rb") as reader:
            return seal_file(key, blob_key, reader, target)
    sealer = BlobSealer(key, blob_key)
    size = 0
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(sealer.header())
        while block := source.read(CHUNK_BYTES):
            size += len(block)
            for chunk in sealer.update(block):
                out.write(chunk)
        out.write(sealer.close())
    return size


def plain_size(stored_size: int, chunk_bytes: int) -> int:
    body = stored_size - HEADER_BYTES
    chunks = max(1, -(-body // (chunk_bytes + TAG_BYTES)))
    size = body - chunks * TAG_BYTES
    if size < 0:
        raise ContentUnreadable("sealed blob is truncated")
    return size


def parse_header(head: bytes) -> tuple[int, bytes]:
    """(chunk size, nonce prefix) from the first HEADER_BYTES of a sealed blob."""
    if len(head) < HEADER_BYTES or not head.startswith(MAGIC):
        raise ContentUnreadable("not a sealed blob (header missing)")
    raw_chunk, prefix = HEADER.unpack(head[len(MAGIC) : HEADER_BYTES])
    chunk = int.from_bytes(raw_chunk, "big")
    if not 0 < chunk <= 64 * 1024 * 1024:
        raise ContentUnreadable("sealed blob header is corrupt")
    return chunk, prefix


def open_range(
    key: DataKey,
    blob_key: str,
    read: RangeReader,
    stored_size: int,
    start: int = 0,
    end: int | None = None,
) -> Iterator[bytes]:
    """The plaintext bytes [start, end) of a sealed blob, read and opened chunk by chunk.

    Raises ContentUnreadable (before yielding anything for a bad header, otherwise at the first
    chunk that does not open)."""
    head = b"".join(read(0, HEADER_BYTES))
    chunk, prefix = parse_header(head)
    total = plain_size(stored_size, chunk)
    end = total if end is None else min(end, total)
    if start >= end:
        if total == 0:  # still authenticate the empty chunk
            for _ in _open_chunks(key, blob_key, read, prefix, chunk, 0, 0, last_index=0):
                pass
        return
    first, last = start // chunk, (end - 1) // chunk
    last_index = chunk_count(total, chunk) - 1
    position = first * chunk
    for plain in _open_chunks(key, blob_key, read, prefix, chunk, first, last, last_index):
        lo = max(start - position, 0)
        hi = min(end - position, len(plain))
        position += len(plain)
        if lo < hi:
            yield plain[lo:hi] if lo or hi < len(plain) else plain


def _open_chunks(
    key: DataKey,
    blob_key: str,
    read: RangeReader,
    prefix: bytes,
    chunk: int,
    first: int,
    last: int,
    last_index: int,
) -> Iterator[bytes]:
    sealed_chunk = chunk + TAG_BYTES
    begin = HEADER_BYTES + first * sealed_chunk
    stop = HEADER_BYTES + (last + 1) * sealed_chunk
    aead = key.aead
    buffer = bytearray()
    index = first

    def open_one(data: bytes, i: int) -> bytes:
        try:
            return aead.decrypt(_nonce(prefix, i), data, _aad(blob_key, i, i == last_index))
        except InvalidTag:
            raise ContentUnreadable(f"chunk {i} of {blob_key} does not open") from None

    for piece in read(begin, stop):
        buffer += piece
        while len(buffer) >= sealed_chunk and index <= last:
            yield open_one(bytes(buffer[:sealed_chunk]), index)
            del buffer[:sealed_chunk]
            index += 1
    if index <= last:
        if not buffer and index < last_index:
            raise ContentUnreadable(f"{blob_key} is truncated")
        yield open_one(bytes(buffer), index)


def open_bytes(key: DataKey, blob_key: str, data: bytes) -> bytes:
    def read(start: int, end: int) -> Iterator[bytes]:
        yield data[start:end]

    return b"".join(open_range(key, blob_key, read, len(data)))
