"""The one interface every blob backend implements."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]*(/[A-Za-z0-9][A-Za-z0-9_.\-]*)*$")


class BlobNotFound(KeyError):
    """No object under that key (never stored, or already deleted)."""


def validate_key(key: str) -> str:
    """Keys are plain relative paths: no traversal, no absolute paths."""
    if len(key) > 512 or not _KEY.match(key) or ".." in key:
        raise ValueError(f"invalid blob key {key!r}")
    return key


@dataclass(frozen=True)
class BlobInfo:
    """What the store knows about an object without decrypting it."""

    key: str
    owner: str
    created_at: datetime
    deadline: datetime
    size: int
    key_id: str


class BlobStore(ABC):
    """Encrypted object storage with owner and deadline per object."""

    @abstractmethod
    def put(self, key: str, data: bytes, *, owner: str, deadline: datetime) -> BlobInfo:
        """Store `data` encrypted; overwriting the same key is allowed (idempotent writes)."""

    @abstractmethod
    def get(self, key: str) -> bytes:
        """Decrypted bytes; raises BlobNotFound."""

    @abstractmethod
    def info(self, key: str) -> BlobInfo:
        """Owner, deadline and size; raises BlobNotFound."""

    @abstractmethod
    def delete(self, key: str) -> bool:
        """Remove the object; True if it existed. Deleting twice is not an error."""

    @abstractmethod
    def list(self, prefix: str = "") -> Iterator[BlobInfo]:
        """Every object under a prefix, for the retention sweep."""

    @abstractmethod
    def rewrap(self, key: str) -> bool:
        """Re-wrap the object's data key under the current master key; True if changed."""

    def exists(self, key: str) -> bool:
        try:
            self.info(key)
        except BlobNotFound:
            return False
        return True
