"""Blob storage: one interface, a local-directory and an S3 implementation."""

from sitin.storage.base import BlobInfo, BlobStore, StorageError
from sitin.storage.factory import open_blob_store

__all__ = ["BlobInfo", "BlobStore", "StorageError", "open_blob_store"]
