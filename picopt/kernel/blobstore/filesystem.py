"""Filesystem backend: one file per object, a JSON header then ciphertext.

Writes go to a temporary file and are renamed into place, so readers never see
a half-written object and a crash leaves at most a temporary file that the
sweep removes. Objects are written and read a chunk at a time.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from picopt.kernel.blobstore.base import Blob, BlobInfo, BlobNotFound, BlobStore, validate_key
from picopt.kernel.blobstore.container import (
    PREFIX_SIZE,
    header_length,
    info_from_header,
    prefix,
    seal,
)
from picopt.kernel.blobstore.crypto import CHUNK, EnvelopeCipher


class FilesystemBlobStore(BlobStore):
    def __init__(self, root: Path, cipher: EnvelopeCipher, write_format: int = 2) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.cipher = cipher
        self.write_format = write_format

    def _path(self, key: str) -> Path:
        return self.root / validate_key(key)

    def put_stream(
        self, key: str, source: BinaryIO, size: int, *, owner: str, deadline: datetime
    ) -> BlobInfo:
        path = self._path(key)
        header, body = seal(
            self.cipher, self.write_format, key, source, size, owner=owner, deadline=deadline
        )
        self._write(path, header, body)
        return info_from_header(header)

    def _open(self, key: str) -> Blob:
        path = self._path(key)
        try:
            fh = open(path, "rb")  # noqa: SIM115 - closed by the Blob
        except FileNotFoundError as exc:
            raise BlobNotFound(key) from exc
        try:
            header = self._header(fh, path.name)
        except BaseException:
            fh.close()
            raise
        if header.get("v", 1) == 1:
            chunks: Iterator[bytes] = iter([self.cipher.open(header, fh.read())])
        else:
            chunks = self.cipher.open_stream(header, fh)
        return Blob(info_from_header(header), chunks, fh.close)

    def info(self, key: str) -> BlobInfo:
        path = self._path(key)
        try:
            with open(path, "rb") as fh:
                return info_from_header(self._header(fh, path.name))
        except FileNotFoundError as exc:
            raise BlobNotFound(key) from exc

    def delete(self, key: str) -> bool:
        try:
            self._path(key).unlink()
        except FileNotFoundError:
            return False
        return True

    def list(self, prefix: str = "") -> Iterator[BlobInfo]:
        # Walk only the folder the prefix names (keys are paths), not the whole store.
        start = self.root / prefix.rsplit("/", 1)[0] if "/" in prefix else self.root
        for dirpath, _dirs, files in os.walk(start):
            for filename in files:
                path = Path(dirpath) / filename
                if filename.startswith(".tmp-"):
                    continue
                key = path.relative_to(self.root).as_posix()
                if not key.startswith(prefix):
                    continue
                try:
                    with open(path, "rb") as fh:
                        header = self._header(fh, filename)
                except (FileNotFoundError, ValueError):
                    continue
                yield info_from_header(header)

    def rewrap(self, key: str) -> bool:
        """A new header under the current master key; the ciphertext is copied, never opened."""
        path = self._path(key)
        try:
            with open(path, "rb") as fh:
                new_header = self.cipher.rewrap(self._header(fh, path.name))
                if new_header is None:
                    return False
                self._write(path, new_header, _copy(fh))
        except FileNotFoundError as exc:
            raise BlobNotFound(key) from exc
        return True

    def temp_files(self) -> Iterator[Path]:
        """Leftovers of interrupted writes, for the sweep to remove."""
        yield from self.root.rglob(".tmp-*")

    def _write(self, path: Path, header: dict[str, Any], body: Iterable[bytes]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".tmp-{path.name}-{os.getpid()}-{os.urandom(4).hex()}")
        try:
            with open(tmp, "wb") as fh:
                fh.write(prefix(header))
                for part in body:
                    fh.write(part)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    @staticmethod
    def _header(fh: BinaryIO, name: str) -> dict[str, Any]:
        length = header_length(fh.read(PREFIX_SIZE), name)
        header: dict[str, Any] = json.loads(fh.read(length))
        return header


def _copy(fh: BinaryIO) -> Iterator[bytes]:
    while part := fh.read(CHUNK):
        yield part
