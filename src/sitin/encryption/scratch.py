"""Sealed scratch files: what a running bot must keep on disk (the recording being encoded, the
transcription backlog) is ciphertext under the bot's data key from the first byte written.

A scratch file is a sequence of fixed-size pages, each ``nonce ‖ AES-GCM(page) ‖ tag`` with the
page padded to PAGE_BYTES, so any page can be rewritten in place: encoders seek back to patch a
header (an mp3's Xing frame, an mp4's atom sizes, a webm's cues) and the file stays sealed. The
associated data names the file and the page index, so pages cannot be swapped or moved to another
file. The logical length lives in the open object: a scratch file is read back only by the process
that wrote it (a crashed bot's leftovers are deleted with its folder, never recovered).

Writes go through a small cache of plaintext pages (a few, in memory); a page is sealed to disk
when it is evicted and on flush.
"""

import io
import os
from collections import OrderedDict
from pathlib import Path

from cryptography.exceptions import InvalidTag

from sitin.encryption.aead import NONCE_BYTES, TAG_BYTES, ContentUnreadable, DataKey
from sitin.encryption.blobs import open_bytes, seal_bytes

PAGE_BYTES = 16 * 1024
SLOT_BYTES = NONCE_BYTES + PAGE_BYTES + TAG_BYTES
CACHED_PAGES = 2


def _aad(name: str, index: int) -> bytes:
    return b"sitin scratch\x00%s\x00%d" % (name.encode(), index)


class SealedScratchFile(io.RawIOBase):
    """A seekable, readable and writable binary file whose bytes on disk are sealed.

    Creating one makes a new, empty file (0600). Usable wherever a file object is (PyAV
    containers, ``shutil.copyfileobj``); ``reopen()`` reads it again after it was closed."""

    def __init__(self, path: Path, key: DataKey, *, name: str | None = None):
        super().__init__()
        self.path = Path(path)
        self._key = key
        self._name = name or self.path.name
        self._aead = key.aead
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        self._writable = True
        self._size = 0
        self._pos = 0
        self._stored_pages = 0  # pages that have a slot on disk
        self._cache: OrderedDict[int, bytearray] = OrderedDict()  # plaintext, dirty or not
        self._dirty: set[int] = set()

    # --- io.RawIOBase -----------------------------------------------------------------------

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return self._writable

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            position = offset
        elif whence == io.SEEK_CUR:
            position = self._pos + offset
        elif whence == io.SEEK_END:
            position = self._size + offset
        else:
            raise ValueError(f"invalid whence {whence}")
        if position < 0:
            raise OSError(f"negative seek position {position}")
        self._pos = position
        return position

    def write(self, data) -> int:  # type: ignore[override]
        self._check_open()
        if not self._writable:
            raise io.UnsupportedOperation("this scratch file was reopened for reading")
        view = memoryview(data).cast("B")
        written = 0
        while written < len(view):
            index, offset = divmod(self._pos, PAGE_BYTES)
            take = min(PAGE_BYTES - offset, len(view) - written)
            page = self._page(index)
            if len(page) < offset:  # writing past the end: the gap reads as zeros
                page.extend(bytes(offset - len(page)))
            page[offset : offset + take] = view[written : written + take]
            self._dirty.add(index)
            written += take
            self._pos += take
            self._size = max(self._size, self._pos)
        return written

    def readinto(self, buffer) -> int:  # type: ignore[override]
        self._check_open()
        view = memoryview(buffer).cast("B")
        count = 0
        while count < len(view) and self._pos < self._size:
            index, offset = divmod(self._pos, PAGE_BYTES)
            page = self._page(index)
            available = min(PAGE_BYTES, self._size - index * PAGE_BYTES) - offset
            take = min(available, len(view) - count)
            chunk = bytes(page[offset : offset + take])
            chunk += bytes(take - len(chunk))  # a gap never written reads as zeros
            view[count : count + take] = chunk
            count += take
            self._pos += take
        return count

    def flush(self) -> None:
        if not self.closed:
            for index in sorted(self._dirty):
                self._store(index, self._cache[index])
            self._dirty.clear()
        super().flush()

    def close(self) -> None:
        if not self.closed:
            try:
                self.flush()
            finally:
                os.close(self._fd)
                self._cache.clear()
        super().close()

    def fileno(self) -> int:  # a descriptor would bypass the sealing
        raise io.UnsupportedOperation("a sealed scratch file has no plaintext descriptor")

    @property
    def size(self) -> int:
        return self._size

    def reopen(self) -> "SealedScratchFile":
        """A new read-only handle on the closed file, from its start."""
        if not self.closed:
            raise ValueError("close the scratch file before reopening it")
        handle = SealedScratchFile.__new__(SealedScratchFile)
        io.RawIOBase.__init__(handle)
        handle.path, handle._key, handle._name = self.path, self._key, self._name
        handle._aead = self._aead
        handle._fd = os.open(self.path, os.O_RDONLY)
        handle._writable = False
        handle._size, handle._pos, handle._stored_pages = self._size, 0, self._stored_pages
        handle._cache, handle._dirty = OrderedDict(), set()
        return handle

    def discard(self) -> None:
        """Close and remove the file."""
        self.close()
        self.path.unlink(missing_ok=True)

    # --- pages ------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self.closed:
            raise ValueError("I/O operation on a closed scratch file")

    def _page(self, index: int) -> bytearray:
        page = self._cache.get(index)
        if page is not None:
            self._cache.move_to_end(index)
            return page
        page = self._load(index)
        self._cache[index] = page
        while len(self._cache) > CACHED_PAGES:
            old, old_page = self._cache.popitem(last=False)
            if old in self._dirty:
                self._store(old, old_page)
                self._dirty.discard(old)
        return page

    def _load(self, index: int) -> bytearray:
        if index >= self._stored_pages:
            return bytearray()
        slot = os.pread(self._fd, SLOT_BYTES, index * SLOT_BYTES)
        if len(slot) != SLOT_BYTES:
            raise ContentUnreadable(f"scratch file {self._name} is truncated at page {index}")
        try:
            plain = self._aead.decrypt(
                slot[:NONCE_BYTES], slot[NONCE_BYTES:], _aad(self._name, index)
            )
        except InvalidTag:
            raise ContentUnreadable(
                f"page {index} of scratch file {self._name} does not open"
            ) from None
        length = max(0, min(PAGE_BYTES, self._size - index * PAGE_BYTES))
        return bytearray(plain[:length])

    def _store(self, index: int, page: bytearray) -> None:
        # Pages before this one may never have been written (a seek past the end): give them
        # sealed zero slots so every slot on disk opens.
        while self._stored_pages < index:
            self._write_slot(self._stored_pages, b"")
        self._write_slot(index, bytes(page))

    def _write_slot(self, index: int, plain: bytes) -> None:
        nonce = os.urandom(NONCE_BYTES)
        padded = plain + bytes(PAGE_BYTES - len(plain))
        sealed = nonce + self._aead.encrypt(nonce, padded, _aad(self._name, index))
        os.pwrite(self._fd, sealed, index * SLOT_BYTES)
        self._stored_pages = max(self._stored_pages, index + 1)


def write_sealed(path: Path, key: DataKey, data: bytes) -> None:
    """Write ``data`` to a new sealed file at ``path`` (one blob, read back with read_sealed)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(seal_bytes(key, f"scratch:{Path(path).name}", data))


def read_sealed(path: Path, key: DataKey) -> bytes:
    """The bytes written by write_sealed; ContentUnreadable if they were altered."""
    return open_bytes(key, f"scratch:{Path(path).name}", Path(path).read_bytes())
