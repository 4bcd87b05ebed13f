"""Blob store: every image object encrypted, owned and given a deadline.

Backends implement `BlobStore`; `open_blob_store` picks one from settings.
BLOB_FORMAT (2, chunked) chooses how new objects are written: 1 writes them the way
releases before the chunked format read them (set it while such a release still
runs during an upgrade); both are always read.
"""

from __future__ import annotations

from picopt.kernel.blobstore.base import (
    Blob,
    BlobInfo,
    BlobNotFound,
    BlobStore,
    BlobTampered,
    validate_key,
)
from picopt.kernel.blobstore.crypto import EnvelopeCipher
from picopt.kernel.blobstore.filesystem import FilesystemBlobStore
from picopt.kernel.blobstore.s3 import S3BlobStore
from picopt.kernel.settings import Settings, SettingsError

__all__ = [
    "Blob",
    "BlobInfo",
    "BlobNotFound",
    "BlobStore",
    "BlobTampered",
    "EnvelopeCipher",
    "FilesystemBlobStore",
    "S3BlobStore",
    "open_blob_store",
    "validate_key",
]


def open_blob_store(settings: Settings) -> BlobStore:
    cipher = EnvelopeCipher(settings.master_keys())
    write_format = settings.env.int("BLOB_FORMAT", 2)
    if write_format not in (1, 2):
        raise SettingsError(f"BLOB_FORMAT must be 1 or 2, got {write_format}")
    if settings.blob_backend == "fs":
        return FilesystemBlobStore(settings.blob_dir, cipher, write_format)
    if settings.blob_backend == "s3":
        bucket = settings.env.str("S3_BUCKET")
        if not bucket:
            raise SettingsError("BLOB_BACKEND=s3 needs S3_BUCKET")
        return S3BlobStore.connect(
            bucket,
            cipher,
            endpoint_url=settings.env.str("S3_ENDPOINT_URL") or None,
            region=settings.env.str("S3_REGION") or None,
            prefix=settings.env.str("S3_PREFIX"),
            write_format=write_format,
        )
    raise SettingsError(f"BLOB_BACKEND={settings.blob_backend!r} is not supported (use fs or s3)")
