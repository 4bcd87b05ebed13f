"""Filesystem backend: one file per object, a JSON header then ciphertext.

Writes go to a temporary file and are renamed into place, so readers never see
a half-written object and a crash leaves at most a temporary file that the
sweep removes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from picopt.kernel.blobstore.base import BlobInfo, BlobNotFound, BlobStore, validate_key
from picopt.kernel.blobstore.container import PREFIX_SIZE, header_length, info_from_header, pack
from picopt.kernel.blobstore.crypto import EnvelopeCipher


class FilesystemBlobStore(BlobStore):
    def __init__(self, root: Path, cipher: EnvelopeCipher) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.cipher = cipher

    def _path(self, key: str) -> Path:
        return self.root / validate_key(key)

    def put(self, key: str, data: bytes, *, owner: str, deadline: datetime) -> BlobInfo:
        created = datetime.now(UTC)
        public = {
            "key": key,
            "owner": owner,
            "created_at": created.isoformat(),
            "deadline": deadline.astimezone(UTC).isoformat(),
            "size": len(data),
        }
        sealed = self.cipher.seal(data, public)
        self._write(self._path(key), sealed.header, sealed.ciphertext)
        return info_from_header(sealed.header)

    def get(self, key: str) -> bytes:
        header, ciphertext = self._read(self._path(key), with_body=True)
        return self.cipher.open(header, ciphertext)

    def info(self, key: str) -> BlobInfo:
        header, _ = self._read(self._path(key), with_body=False)
        return info_from_header(header)

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
                    header, _ = self._read(path, with_body=False)
                except (BlobNotFound, ValueError):
                    continue
                yield info_from_header(header)

    def rewrap(self, key: str) -> bool:
        path = self._path(key)
        header, ciphertext = self._read(path, with_body=True)
        new_header = self.cipher.rewrap(header)
        if new_header is None:
            return False
        self._write(path, new_header, ciphertext)
        return True

    def temp_files(self) -> Iterator[Path]:
        """Leftovers of interrupted writes, for the sweep to remove."""
        yield from self.root.rglob(".tmp-*")

    def _write(self, path: Path, header: dict[str, Any], ciphertext: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".tmp-{path.name}-{os.getpid()}-{os.urandom(4).hex()}")
        with open(tmp, "wb") as fh:
            fh.write(pack(header, ciphertext))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)

    def _read(self, path: Path, with_body: bool) -> tuple[dict[str, Any], bytes]:
        try:
            with open(path, "rb") as fh:
                length = header_length(fh.read(PREFIX_SIZE), path.name)
                header = json.loads(fh.read(length))
                body = fh.read() if with_body else b""
        except FileNotFoundError as exc:
            raise BlobNotFound(path.relative_to(self.root).as_posix()) from exc
        return header, body
