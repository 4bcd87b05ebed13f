"""The one interface every blob backend implements."""

from __future__ import annotations

import io
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO

from picopt.kernel.logs import get_logger

log = get_logger(__name__)

_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]*(/[A-Za-z0-9][A-Za-z0-9_.\-]*)*$")


class BlobNotFound(KeyError):
    """No object under that key (never stored, or already deleted), or, when the reader
    named an owner, none of theirs."""


class BlobTampered(ValueError):
    """The object's authenticated header names another key: it was copied or moved in
    storage (someone's result put where another's is read)."""


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


class Blob:
    """An object being read: its metadata and an iterator of decrypted chunks.

    Close it (or use it as a context manager) to release the file or connection early; a
    chunk that fails authentication raises while iterating.
    """

    def __init__(self, info: BlobInfo, chunks: Iterator[bytes], close: Callable[[], None]) -> None:
        self.info = info
        self._chunks = chunks
        self._close = close

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._chunks
        finally:
            self.close()

    def close(self) -> None:
        self._close()

    def __enter__(self) -> Blob:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class BlobStore(ABC):
    """Encrypted object storage with owner and deadline per object.

    `put_stream` and `open` move an object of any size with one chunk in memory (the
    gateway's uploads and downloads); `put` and `get` are their whole-object forms.
    """

    def put(self, key: str, data: bytes, *, owner: str, deadline: datetime) -> BlobInfo:
        """Store `data` encrypted; overwriting the same key is allowed (idempotent writes)."""
        return self.put_stream(key, io.BytesIO(data), len(data), owner=owner, deadline=deadline)

    @abstractmethod
    def put_stream(
        self, key: str, source: BinaryIO, size: int, *, owner: str, deadline: datetime
    ) -> BlobInfo:
        """Store the `size` bytes `source` reads, encrypted chunk by chunk."""

    def get(self, key: str, *, owner: str | None = None) -> bytes:
        """Decrypted bytes; raises BlobNotFound (see `open`)."""
        with self.open(key, owner=owner) as blob:
            return b"".join(blob)

    def open(self, key: str, *, owner: str | None = None) -> Blob:
        """The object's metadata and its decrypted chunks; raises BlobNotFound at once.

        The key and owner in the object's header are authenticated with its ciphertext
        (an edited header fails to decrypt), and they are checked here against what the
        reader asked for: an object stored under another key raises BlobTampered, and with
        `owner` an object of anyone else is BlobNotFound, so a result copied or moved in
        storage is never served as someone else's.
        """
        blob = self._open(key)
        try:
            if blob.info.key != key:
                raise BlobTampered(f"the object stored under {key} was written for another key")
            if owner is not None and blob.info.owner != owner:
                log.warning("blob_owner_mismatch", key=key)
                raise BlobNotFound(key)
        except BaseException:
            blob.close()
            raise
        return blob

    @abstractmethod
    def _open(self, key: str) -> Blob:
        """The backend's read: the header parsed, the chunks decrypted as they are read."""

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
