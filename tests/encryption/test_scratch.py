"""Sealed scratch files: random writes and seeks read back exactly, nothing readable on disk,
and altered or moved pages are refused."""

import io
import os
import random

import pytest

from sitin.encryption import ContentUnreadable, DataKey
from sitin.encryption.scratch import (
    PAGE_BYTES,
    SLOT_BYTES,
    SealedScratchFile,
    read_sealed,
    write_sealed,
)

MARKER = b"the quarterly numbers are confidential "


def test_random_writes_seeks_and_reads_match_an_ordinary_file(tmp_path):
    rng = random.Random(7)
    key = DataKey.generate()
    reference = io.BytesIO()
    with SealedScratchFile(tmp_path / "scratch", key) as sealed:
        for _ in range(400):
            action = rng.random()
            if action < 0.6:  # append, as an encoder does
                data = rng.randbytes(rng.choice([1, 7, 4096, PAGE_BYTES + 5, 3 * PAGE_BYTES]))
                reference.seek(0, io.SEEK_END)
                sealed.seek(0, io.SEEK_END)
                reference.write(data)
                sealed.write(data)
            elif action < 0.8:  # patch a header somewhere before the end
                at = rng.randrange(max(1, reference.getbuffer().nbytes))
                data = rng.randbytes(rng.randrange(1, 40))
                reference.seek(at)
                sealed.seek(at)
                reference.write(data)
                sealed.write(data)
            else:  # read a span back
                at = rng.randrange(max(1, reference.getbuffer().nbytes))
                size = rng.randrange(1, 2 * PAGE_BYTES)
                reference.seek(at)
                sealed.seek(at)
                assert sealed.read(size) == reference.read(size)
            assert sealed.tell() == reference.tell()
        # a write past the end leaves a gap that reads as zeros
        end = reference.getbuffer().nbytes
        reference.seek(end + 100_000)
        reference.write(b"tail")
        sealed.seek(end + 100_000)
        sealed.write(b"tail")
    with sealed.reopen() as again:
        assert again.read() == reference.getvalue()
        assert again.size == len(reference.getvalue())


def test_nothing_written_is_readable_on_disk_during_and_after(tmp_path):
    key = DataKey.generate()
    path = tmp_path / "recording.mp3"
    sealed = SealedScratchFile(path, key)
    sealed.write(MARKER * 5000)  # several pages: some are sealed to disk while writing
    during = path.read_bytes()
    sealed.close()
    after = path.read_bytes()

    assert len(during) >= SLOT_BYTES and len(after) % SLOT_BYTES == 0
    assert MARKER not in during and MARKER not in after
    assert MARKER[:8] not in after
    assert os.stat(path).st_mode & 0o077 == 0
    with sealed.reopen() as again:
        assert MARKER in again.read()  # the check above would have seen it in plaintext


def test_altered_swapped_or_foreign_pages_do_not_open(tmp_path):
    key = DataKey.generate()
    path = tmp_path / "scratch"
    with SealedScratchFile(path, key) as sealed:
        sealed.write(b"a" * PAGE_BYTES + b"b" * PAGE_BYTES)

    stored = path.read_bytes()
    swapped = stored[SLOT_BYTES:] + stored[:SLOT_BYTES]
    path.write_bytes(swapped)
    with sealed.reopen() as again, pytest.raises(ContentUnreadable, match="page 0"):
        again.read()

    altered = bytearray(stored)
    altered[SLOT_BYTES + 100] ^= 1
    path.write_bytes(bytes(altered))
    with sealed.reopen() as again:
        assert again.read(PAGE_BYTES) == b"a" * PAGE_BYTES
        with pytest.raises(ContentUnreadable, match="page 1"):
            again.read()

    path.write_bytes(stored)
    other = SealedScratchFile(tmp_path / "other", DataKey.generate())
    other.close()
    (tmp_path / "other").write_bytes(stored)
    other._size = 2 * PAGE_BYTES
    other._stored_pages = 2
    with other.reopen() as foreign, pytest.raises(ContentUnreadable):
        foreign.read()


def test_a_reopened_file_is_read_only_and_has_no_plaintext_descriptor(tmp_path):
    sealed = SealedScratchFile(tmp_path / "scratch", DataKey.generate())
    with pytest.raises(io.UnsupportedOperation):
        sealed.fileno()
    sealed.write(b"x")
    with pytest.raises(ValueError, match="close"):
        sealed.reopen()
    sealed.close()
    with sealed.reopen() as again:
        assert not again.writable()
        with pytest.raises(io.UnsupportedOperation):
            again.write(b"y")


def test_whole_sealed_files_round_trip_and_bind_their_name(tmp_path):
    key = DataKey.generate()
    write_sealed(tmp_path / "segment-1.wav", key, MARKER)
    assert MARKER not in (tmp_path / "segment-1.wav").read_bytes()
    assert read_sealed(tmp_path / "segment-1.wav", key) == MARKER
    os.rename(tmp_path / "segment-1.wav", tmp_path / "segment-2.wav")
    with pytest.raises(ContentUnreadable):
        read_sealed(tmp_path / "segment-2.wav", key)
    with pytest.raises(ContentUnreadable):
        write_sealed(tmp_path / "segment-3.wav", key, MARKER)
        read_sealed(tmp_path / "segment-3.wav", DataKey.generate())
