"""Blobs in a local directory, private to the service (folders 0700, files 0600)."""

import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import suppress
from pathlib import Path

from sitin.storage.base import BlobInfo, StorageError

PARTIAL_SUFFIX = ".partial"  # uploads in progress; deleted with the prefix like any blob
LOCAL_BATCH = 100  # files deleted between progress callbacks
READ_BYTES = 1024 * 1024


class LocalBlobStore:
    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Resolved once; keys are then checked lexically (no lookup per path component, which
        # cost ~0.5 ms a key on the delete_data path). Only sitin creates entries in the store,
        # so a symlink inside it is the operator's own.
        self._resolved_root = os.path.realpath(self.root)

    def _path(self, key: str) -> Path:
        path = os.path.normpath(os.path.join(self._resolved_root, key))
        if key.startswith("/") or not (
            path == self._resolved_root or path.startswith(self._resolved_root + os.sep)
        ):
            raise ValueError(f"blob key {key!r} escapes the store")
        return Path(path)

    def _partial(self, key: str) -> tuple[Path, Path]:
        target = self._path(key)
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        return target, target.with_name(target.name + PARTIAL_SUFFIX)

    def put_file(self, key: str, path: Path) -> int:
        target, partial = self._partial(key)
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with open(path, "rb") as source, os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(source, out, READ_BYTES)
        os.replace(partial, target)
        return target.stat().st_size

    def put_bytes(self, key: str, data: bytes) -> int:
        target, partial = self._partial(key)
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(partial, target)
        return len(data)

    def get_bytes(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise KeyError(key) from None

    def _blob_path(self, key: str) -> Path:
        """The file of a blob; KeyError when the key is not one sitin writes (empty, "." or ".."
        segments, absolute): such a key names no blob."""
        if key.startswith("/") or any(part in ("", ".", "..") for part in key.split("/")):
            raise KeyError(key)
        return self._path(key)

    def size(self, key: str) -> int:
        try:
            return self._blob_path(key).stat().st_size
        except FileNotFoundError:
            raise KeyError(key) from None

    def read_range(self, key: str, start: int, end: int) -> Iterator[bytes]:
        try:
            source = open(self._blob_path(key), "rb")  # noqa: SIM115 (closed by the generator)
        except FileNotFoundError:
            raise KeyError(key) from None
        return self._read(source, start, end)

    @staticmethod
    def _read(source, start: int, end: int) -> Iterator[bytes]:
        with source:
            source.seek(start)
            remaining = end - start
            while remaining > 0:
                block = source.read(min(READ_BYTES, remaining))
                if not block:
                    return
                remaining -= len(block)
                yield block

    def list(self, prefix: str) -> Iterator[BlobInfo]:
        base = self._path(prefix) if prefix.endswith("/") else self._path(prefix).parent
        if not base.exists():
            return
        root = self._resolved_root
        for dirpath, _dirs, files in os.walk(base):
            for name in sorted(files):
                if name.endswith(PARTIAL_SUFFIX):
                    continue
                full = Path(dirpath) / name
                key = full.relative_to(root).as_posix()
                if key.startswith(prefix):
                    yield BlobInfo(key, full.stat().st_size)

    def usage(self, prefix: str) -> tuple[int, int]:
        """(blobs, bytes) under a folder prefix, unfinished uploads included; one scandir walk."""
        count = size = 0
        pending = [str(self._path(prefix))]
        while pending:
            try:
                entries = os.scandir(pending.pop())
            except FileNotFoundError:
                continue
            with entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        pending.append(entry.path)
                    else:
                        count += 1
                        size += entry.stat(follow_symlinks=False).st_size
        return count, size

    def delete_prefix(self, prefix: str, *, on_batch: Callable[[], None] | None = None) -> int:
        if not prefix.endswith("/"):
            raise ValueError("only whole folders (prefixes ending in '/') are deleted")
        base = self._path(prefix)
        deleted = 0
        pending, emptied = [str(base)], []
        try:
            while pending:
                folder = pending.pop()
                try:  # unlinked relative to the folder: no path lookup per file
                    folder_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
                except FileNotFoundError:
                    continue  # removed concurrently: what matters is that it is gone
                emptied.append(folder)
                try:
                    with os.scandir(folder_fd) as entries:
                        for entry in entries:
                            if entry.is_dir(follow_symlinks=False):
                                pending.append(os.path.join(folder, entry.name))
                                continue
                            with suppress(FileNotFoundError):
                                os.unlink(entry.name, dir_fd=folder_fd)
                            deleted += 1
                            if on_batch is not None and deleted % LOCAL_BATCH == 0:
                                on_batch()
                finally:
                    os.close(folder_fd)
            for folder in reversed(emptied):  # deepest first
                try:
                    os.rmdir(folder)
                except FileNotFoundError:
                    pass
                except OSError:  # written into meanwhile: remove that too
                    shutil.rmtree(folder, ignore_errors=True)
        except OSError as exc:
            raise StorageError(f"could not delete {prefix}: {exc.strerror or exc}") from exc
        return deleted

    def is_empty(self, prefix: str) -> bool:
        base = self._path(prefix)
        return not base.exists() or not any(base.rglob("*"))

    def top_level_prefixes(self, parent: str) -> Iterator[str]:
        base = self._path(parent)
        if base.exists():
            for child in sorted(base.iterdir()):
                if child.is_dir() and any(child.rglob("*")):
                    yield f"{parent}{child.name}/"

    def check(self) -> None:
        if not self.root.is_dir() or not os.access(self.root, os.W_OK | os.X_OK):
            raise StorageError(f"the blob folder {self.root} is missing or not writable")
