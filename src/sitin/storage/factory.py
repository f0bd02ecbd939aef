"""Open the configured blob store from its URL (``file://…`` or ``s3://bucket/prefix``)."""

from urllib.parse import urlparse

from sitin.encryption import KeyStore
from sitin.storage.base import BlobStore
from sitin.storage.links import LinkSigner
from sitin.storage.sealed import SealedBlobStore


def open_backend(url: str, *, s3_endpoint_url: str | None = None) -> BlobStore:
    """The raw store: what it holds is sealed; use ``open_blob_store`` to read and write."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        from sitin.storage.local import LocalBlobStore

        return LocalBlobStore(parsed.path)
    if parsed.scheme == "s3":
        from sitin.storage.s3 import S3BlobStore

        return S3BlobStore(
            bucket=parsed.netloc, prefix=parsed.path.lstrip("/"), endpoint_url=s3_endpoint_url
        )
    raise ValueError(f"unsupported storage URL {url!r}: use file:///path or s3://bucket/prefix")


def open_blob_store(
    url: str,
    *,
    keys: KeyStore,
    secret_key: bytes,
    public_url: str,
    s3_endpoint_url: str | None = None,
) -> SealedBlobStore:
    return SealedBlobStore(
        open_backend(url, s3_endpoint_url=s3_endpoint_url),
        keys,
        LinkSigner(secret_key, public_url),
    )
