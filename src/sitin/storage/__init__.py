"""Blob storage: one interface, a local-directory and an S3 backend, sealed per bot."""

from sitin.storage.base import BlobInfo, BlobStore, StorageError
from sitin.storage.factory import open_backend, open_blob_store
from sitin.storage.sealed import OpenedBlob, SealedBlobStore

__all__ = [
    "BlobInfo",
    "BlobStore",
    "OpenedBlob",
    "SealedBlobStore",
    "StorageError",
    "open_backend",
    "open_blob_store",
]
