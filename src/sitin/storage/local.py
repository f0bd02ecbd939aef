"""Blobs in a local directory; downloads through HMAC-signed, expiring URLs served by the API."""

import hashlib
import hmac
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import suppress
from pathlib import Path
from urllib.parse import quote

from sitin.storage.base import BlobInfo, StorageError

PARTIAL_SUFFIX = ".partial"  # uploads in progress; deleted with the prefix like any blob
LOCAL_BATCH = 100  # files deleted between progress callbacks


class LocalBlobStore:
    def __init__(self, root: str | Path, *, secret_key: bytes, public_url: str):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._secret = secret_key
        self._public_url = public_url.rstrip("/")

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()) or key.startswith("/"):
            raise ValueError(f"blob key {key!r} escapes the store")
        return path

    def put_file(self, key: str, path: Path) -> int:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + PARTIAL_SUFFIX)
        shutil.copyfile(path, partial)
        os.replace(partial, target)
        return target.stat().st_size

    def put_bytes(self, key: str, data: bytes) -> int:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + PARTIAL_SUFFIX)
        partial.write_bytes(data)
        os.replace(partial, target)
        return len(data)

    def get_bytes(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise KeyError(key) from None

    def open_path(self, key: str) -> Path:
        """The file of a blob; KeyError when there is none, or when the key is not one sitin
        writes (empty, "." or ".." segments, absolute): such a key names no blob."""
        if key.startswith("/") or any(part in ("", ".", "..") for part in key.split("/")):
            raise KeyError(key)
        path = self._path(key)
        if not path.is_file():
            raise KeyError(key)
        return path

    def list(self, prefix: str) -> Iterator[BlobInfo]:
        base = self._path(prefix) if prefix.endswith("/") else self._path(prefix).parent
        if not base.exists():
            return
        root = self.root.resolve()
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
                try:
                    entries = os.scandir(folder)
                except FileNotFoundError:
                    continue  # removed concurrently: what matters is that it is gone
                emptied.append(folder)
                with entries:
                    for entry in entries:
                        if entry.is_dir(follow_symlinks=False):
                            pending.append(entry.path)
                            continue
                        with suppress(FileNotFoundError):
                            os.unlink(entry.path)
                        deleted += 1
                        if on_batch is not None and deleted % LOCAL_BATCH == 0:
                            on_batch()
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

    # --- signed download URLs -----------------------------------------------------------------

    def check(self) -> None:
        if not self.root.is_dir() or not os.access(self.root, os.W_OK | os.X_OK):
            raise StorageError(f"the blob folder {self.root} is missing or not writable")

    def signature(self, key: str, expires: int) -> str:
        message = f"{key}\n{expires}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def download_url(self, key: str, *, expires_in: int) -> str:
        expires = int(time.time()) + expires_in
        return (
            f"{self._public_url}/blobs/{quote(key)}?expires={expires}"
            f"&signature={self.signature(key, expires)}"
        )

    def verify(self, key: str, expires: int, signature: str) -> bool:
        return expires >= time.time() and hmac.compare_digest(
            self.signature(key, expires), signature
        )
