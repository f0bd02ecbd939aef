"""Blobs in an S3 bucket (AWS or any S3-compatible server) through boto3."""

from __future__ import annotations  # the ``list`` method would shadow ``list[...]`` annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from sitin.storage.base import BlobInfo, StorageError


class S3BlobStore:
    def __init__(self, *, bucket: str, prefix: str = "", endpoint_url: str | None = None):
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.client = boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            config=Config(
                retries={"max_attempts": 3, "mode": "standard"}, s3={"addressing_style": "path"}
            ),
        )

    def _key(self, key: str) -> str:
        return self.prefix + key

    def _unkey(self, key: str) -> str:
        return key[len(self.prefix) :]

    def put_file(self, key: str, path: Path) -> int:
        try:
            self.client.upload_file(str(path), self.bucket, self._key(key))
        except (BotoCoreError, ClientError) as exc:
            raise StorageError(f"upload of {key} failed: {exc}") from exc
        return Path(path).stat().st_size

    def put_bytes(self, key: str, data: bytes) -> int:
        try:
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)
        except (BotoCoreError, ClientError) as exc:
            raise StorageError(f"upload of {key} failed: {exc}") from exc
        return len(data)

    def get_bytes(self, key: str) -> bytes:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise KeyError(key) from None
            raise StorageError(str(exc)) from exc

    def size(self, key: str) -> int:
        try:
            return self.client.head_object(Bucket=self.bucket, Key=self._key(key))["ContentLength"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise KeyError(key) from None
            raise StorageError(str(exc)) from exc

    def read_range(self, key: str, start: int, end: int) -> Iterator[bytes]:
        if end <= start:
            return iter(())
        try:
            body = self.client.get_object(
                Bucket=self.bucket, Key=self._key(key), Range=f"bytes={start}-{end - 1}"
            )["Body"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise KeyError(key) from None
            raise StorageError(str(exc)) from exc
        return body.iter_chunks(1024 * 1024)

    def list(self, prefix: str) -> Iterator[BlobInfo]:
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self._key(prefix)
            )
            for page in pages:
                for item in page.get("Contents", []):
                    yield BlobInfo(self._unkey(item["Key"]), item["Size"])
        except (BotoCoreError, ClientError) as exc:
            raise StorageError(f"listing {prefix} failed: {exc}") from exc

    def usage(self, prefix: str) -> tuple[int, int]:
        count = size = 0
        for info in self.list(prefix):
            count += 1
            size += info.size
        return count, size

    def _pending_uploads(self, prefix: str) -> list[dict]:
        uploads = []
        pages = self.client.get_paginator("list_multipart_uploads").paginate(
            Bucket=self.bucket, Prefix=self._key(prefix)
        )
        for page in pages:
            uploads.extend(page.get("Uploads", []))
        return uploads

    def delete_prefix(self, prefix: str, *, on_batch: Callable[[], None] | None = None) -> int:
        if not prefix.endswith("/"):
            raise ValueError("only whole folders (prefixes ending in '/') are deleted")
        count = 0
        try:
            for upload in self._pending_uploads(prefix):
                self.client.abort_multipart_upload(
                    Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                )
            batch: list[BlobInfo] = []
            for info in self.list(prefix):
                batch.append(info)
                if len(batch) == 1000:
                    count += self._delete_batch(batch)
                    batch = []
                    if on_batch is not None:
                        on_batch()
            if batch:
                count += self._delete_batch(batch)
            self._delete_versions(prefix, on_batch)
        except (BotoCoreError, ClientError) as exc:
            raise StorageError(f"could not delete {prefix}: {exc}") from exc
        return count

    def _versions(self, prefix: str, *, limit: int | None = None) -> Iterator[dict]:
        """Every stored version and delete marker under ``prefix`` (a versioned bucket keeps the
        old bytes of a deleted or overwritten object until its version is deleted)."""
        pages = self.client.get_paginator("list_object_versions").paginate(
            Bucket=self.bucket,
            Prefix=self._key(prefix),
            PaginationConfig={"MaxItems": limit} if limit else {},
        )
        for page in pages:
            for item in (*page.get("Versions", []), *page.get("DeleteMarkers", [])):
                yield {"Key": item["Key"], "VersionId": item["VersionId"]}

    def _delete_versions(self, prefix: str, on_batch: Callable[[], None] | None) -> None:
        batch: list[dict] = []
        for version in self._versions(prefix):
            batch.append(version)
            if len(batch) == 1000:
                self._delete_version_batch(batch)
                batch = []
                if on_batch is not None:
                    on_batch()
        if batch:
            self._delete_version_batch(batch)

    def _delete_version_batch(self, batch: list[dict]) -> None:
        response = self.client.delete_objects(
            Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True}
        )
        if response.get("Errors"):
            first = response["Errors"][0]
            raise StorageError(
                f"S3 refused to delete a version of {first.get('Key')}: {first.get('Message')}"
            )

    def _delete_batch(self, batch: list[BlobInfo]) -> int:
        response = self.client.delete_objects(
            Bucket=self.bucket,
            Delete={"Objects": [{"Key": self._key(b.key)} for b in batch], "Quiet": True},
        )
        if response.get("Errors"):
            first = response["Errors"][0]
            raise StorageError(f"S3 refused to delete {first.get('Key')}: {first.get('Message')}")
        return len(batch)

    def is_empty(self, prefix: str) -> bool:
        try:
            listed = self.client.list_objects_v2(
                Bucket=self.bucket, Prefix=self._key(prefix), MaxKeys=1
            )
            return (
                listed.get("KeyCount", 0) == 0
                and not self._pending_uploads(prefix)
                and next(self._versions(prefix, limit=1), None) is None
            )
        except (BotoCoreError, ClientError) as exc:
            raise StorageError(f"checking {prefix} failed: {exc}") from exc

    def check(self) -> None:
        try:
            self.client.list_objects_v2(Bucket=self.bucket, Prefix=self.prefix, MaxKeys=1)
        except (BotoCoreError, ClientError) as exc:
            raise StorageError(f"bucket {self.bucket} does not answer: {exc}") from exc

    def top_level_prefixes(self, parent: str) -> Iterator[str]:
        found: set[str] = set()
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self._key(parent), Delimiter="/"
            )
            for page in pages:
                found.update(self._unkey(c["Prefix"]) for c in page.get("CommonPrefixes", []))
            # A prefix holding only an unfinished upload is invisible to list_objects; derive
            # those from the uploads (not every S3 server honours Delimiter on that call).
            for upload in self._pending_uploads(parent):
                name, slash, _rest = self._unkey(upload["Key"])[len(parent) :].partition("/")
                if slash:
                    found.add(f"{parent}{name}/")
        except (BotoCoreError, ClientError) as exc:
            raise StorageError(f"listing {parent} failed: {exc}") from exc
        yield from sorted(found)
