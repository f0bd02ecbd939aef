"""The blob-store interface. Keys are ``/``-separated; a bot's blobs live under ``bots/<id>/``."""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


class StorageError(RuntimeError):
    """The store failed (unreachable, refused, ...): the operation may be retried."""


@dataclass(frozen=True)
class BlobInfo:
    key: str
    size: int


class BlobStore(Protocol):
    def put_file(self, key: str, path: Path) -> int:
        """Upload a local file; returns its size in bytes."""

    def put_bytes(self, key: str, data: bytes) -> int: ...

    def get_bytes(self, key: str) -> bytes: ...

    def size(self, key: str) -> int:
        """The stored size in bytes; raises KeyError when there is no such blob."""

    def read_range(self, key: str, start: int, end: int) -> Iterator[bytes]:
        """The stored bytes [start, end), streamed in pieces; raises KeyError when missing."""

    def list(self, prefix: str) -> Iterator[BlobInfo]:
        """Every blob whose key starts with ``prefix`` (complete uploads only)."""

    def usage(self, prefix: str) -> tuple[int, int]:
        """(number of blobs, total bytes) under ``prefix``."""

    def delete_prefix(self, prefix: str, *, on_batch: Callable[[], None] | None = None) -> int:
        """Delete everything under ``prefix``, including unfinished uploads.

        ``on_batch`` is called between batches (progress, fault injection). Returns the number
        of blobs deleted (``usage`` measures sizes). Raises StorageError when the store fails."""

    def is_empty(self, prefix: str) -> bool:
        """True when nothing (not even an unfinished upload) remains under ``prefix``."""

    def top_level_prefixes(self, parent: str) -> Iterator[str]:
        """The distinct ``parent<name>/`` prefixes that hold anything (for storage audits)."""

    def check(self) -> None:
        """Raise StorageError unless the store answers and can be written (health checks)."""
