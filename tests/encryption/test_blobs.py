"""The chunked blob format: streams, seeks, and refuses altered, reordered or cut blobs."""

import os

import pytest

from sitin.encryption import ContentUnreadable, DataKey
from sitin.encryption.blobs import (
    CHUNK_BYTES,
    HEADER_BYTES,
    open_bytes,
    open_range,
    seal_bytes,
    seal_file,
    sealed_size,
)

KEY = "bots/bot_a/recording.mp3"


def reader(data: bytes, piece: int = 7777):
    def read(start: int, end: int):
        for at in range(start, min(end, len(data)), piece):
            yield data[at : min(at + piece, end)]

    return read


@pytest.mark.parametrize(
    "size", [0, 1, CHUNK_BYTES - 1, CHUNK_BYTES, CHUNK_BYTES + 1, 3 * CHUNK_BYTES + 5]
)
def test_round_trip_at_chunk_boundaries(size):
    key = DataKey.generate()
    plain = os.urandom(size)
    sealed = seal_bytes(key, KEY, plain)
    assert len(sealed) == sealed_size(size)
    assert open_bytes(key, KEY, sealed) == plain
    if size >= 16:
        assert plain[:16] not in sealed


def test_ranges_read_only_what_was_asked():
    key = DataKey.generate()
    plain = os.urandom(2 * CHUNK_BYTES + 1000)
    sealed = seal_bytes(key, KEY, plain)
    for start, end in [
        (0, 1),
        (5, CHUNK_BYTES + 9),
        (CHUNK_BYTES, 2 * CHUNK_BYTES),
        (len(plain) - 3, len(plain)),
        (100, 10**9),
    ]:
        got = b"".join(open_range(key, KEY, reader(sealed), len(sealed), start, end))
        assert got == plain[start:end]


def test_seal_file_streams_to_a_private_file(tmp_path):
    key = DataKey.generate()
    source = tmp_path / "recording.mp3"
    source.write_bytes(b"ID3" + os.urandom(CHUNK_BYTES * 2))
    target = tmp_path / "sealed"
    assert seal_file(key, KEY, source, target) == source.stat().st_size
    assert oct(target.stat().st_mode & 0o777) == "0o600"
    assert open_bytes(key, KEY, target.read_bytes()) == source.read_bytes()


def test_altered_swapped_truncated_or_moved_blobs_do_not_open():
    key = DataKey.generate()
    plain = os.urandom(3 * CHUNK_BYTES)
    sealed = bytearray(seal_bytes(key, KEY, plain))
    chunk = CHUNK_BYTES + 16
    flipped = bytearray(sealed)
    flipped[HEADER_BYTES + chunk + 10] ^= 1
    swapped = (
        sealed[:HEADER_BYTES]
        + sealed[HEADER_BYTES + chunk : HEADER_BYTES + 2 * chunk]
        + sealed[HEADER_BYTES : HEADER_BYTES + chunk]
        + sealed[HEADER_BYTES + 2 * chunk :]
    )
    cut = sealed[: HEADER_BYTES + 2 * chunk]  # a whole last chunk dropped
    for bad in (flipped, swapped, cut):
        with pytest.raises(ContentUnreadable):
            open_bytes(key, KEY, bytes(bad))
    with pytest.raises(ContentUnreadable):
        open_bytes(key, "bots/bot_a/other.mp3", bytes(sealed))
    with pytest.raises(ContentUnreadable):
        open_bytes(DataKey.generate(), KEY, bytes(sealed))
    with pytest.raises(ContentUnreadable):
        open_bytes(key, KEY, b"ID3 plaintext from before encryption")
