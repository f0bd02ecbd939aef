"""Open the configured blob store from its URL (``file://…`` or ``s3://bucket/prefix``)."""

from urllib.parse import urlparse

from sitin.storage.base import BlobStore


def open_blob_store(
    url: str, *, secret_key: bytes, public_url: str, s3_endpoint_url: str | None = None
) -> BlobStore:
    parsed = urlparse(url)
    if parsed.scheme == "file":
        from sitin.storage.local import LocalBlobStore

        return LocalBlobStore(parsed.path, secret_key=secret_key, public_url=public_url)
    if parsed.scheme == "s3":
        from sitin.storage.s3 import S3BlobStore

        return S3BlobStore(
            bucket=parsed.netloc, prefix=parsed.path.lstrip("/"), endpoint_url=s3_endpoint_url
        )
    raise ValueError(f"unsupported storage URL {url!r}: use file:///path or s3://bucket/prefix")
