"""Blob store: every image object encrypted, owned and given a deadline.

Backends implement `BlobStore`; `open_blob_store` picks one from settings.
"""

from __future__ import annotations

from picopt.kernel.blobstore.base import BlobInfo, BlobNotFound, BlobStore, validate_key
from picopt.kernel.blobstore.crypto import EnvelopeCipher
from picopt.kernel.blobstore.filesystem import FilesystemBlobStore
from picopt.kernel.settings import Settings, SettingsError

__all__ = [
    "BlobInfo",
    "BlobNotFound",
    "BlobStore",
    "EnvelopeCipher",
    "FilesystemBlobStore",
    "open_blob_store",
    "validate_key",
]


def open_blob_store(settings: Settings) -> BlobStore:
    cipher = EnvelopeCipher(settings.master_keys())
    if settings.blob_backend == "fs":
        return FilesystemBlobStore(settings.blob_dir, cipher)
    raise SettingsError(f"BLOB_BACKEND={settings.blob_backend!r} is not supported (use fs)")
