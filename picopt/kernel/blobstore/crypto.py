"""AES-256-GCM envelope encryption: a fresh data key per object, wrapped by a master key.

Owner, key and timestamps are authenticated as associated data, so a header
edited on disk makes decryption fail instead of silently re-assigning data.
Rotation re-wraps only the small data key, never the object.

Objects are sealed in chunks (format 2): each CHUNK of plaintext is its own
AES-GCM message whose nonce carries the chunk's number and whether it is the
last (the STREAM construction), so chunks cannot be reordered, dropped or the
object cut short without failing, and neither side ever holds more than a chunk.
Format 1 (the whole object as one message) is still read.
"""

from __future__ import annotations

import base64
import json
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from picopt.kernel.settings import MasterKeys

_WRAP_AAD = b"picopt-blob-data-key-v1"
CHUNK = 1024 * 1024
TAG = 16
# Header fields that are not authenticated data: the key material and nonces themselves.
_SECRET_FIELDS = frozenset({"nonce", "nprefix", "kid", "wnonce", "wkey"})
_COUNTER = struct.Struct(">IB")


class TruncatedBlob(ValueError):
    """The stored ciphertext ends before the size its header states."""


@dataclass(frozen=True)
class Sealed:
    header: dict[str, Any]
    ciphertext: bytes


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: str) -> bytes:
    return base64.b64decode(text)


def _aad(public: dict[str, Any]) -> bytes:
    return json.dumps(public, sort_keys=True, separators=(",", ":")).encode()


class EnvelopeCipher:
    """Seals and opens objects under a master key ring."""

    def __init__(self, keys: MasterKeys) -> None:
        self.keys = keys

    def seal(self, data: bytes, public: dict[str, Any]) -> Sealed:
        data_key = AESGCM.generate_key(bit_length=256)
        nonce = os.urandom(12)
        ciphertext = AESGCM(data_key).encrypt(nonce, data, _aad(public))
        header = {**public, "nonce": _b64(nonce), **self._wrap(data_key)}
        return Sealed(header=header, ciphertext=ciphertext)

    def open(self, header: dict[str, Any], ciphertext: bytes) -> bytes:
        """A whole format-1 object."""
        data_key = self._unwrap(header)
        public = {k: v for k, v in header.items() if k not in _SECRET_FIELDS}
        return AESGCM(data_key).decrypt(_unb64(header["nonce"]), ciphertext, _aad(public))

    def seal_stream(
        self, source: BinaryIO, size: int, public: dict[str, Any]
    ) -> tuple[dict[str, Any], Iterator[bytes]]:
        """The format-2 header and the sealed chunks of `size` bytes read from `source`."""
        public = {**public, "v": 2, "chunk": CHUNK, "size": size}
        data_key = AESGCM.generate_key(bit_length=256)
        prefix = os.urandom(7)
        header = {**public, "nprefix": _b64(prefix), **self._wrap(data_key)}
        aead, aad = AESGCM(data_key), _aad(public)

        def chunks() -> Iterator[bytes]:
            count = max(1, -(-size // CHUNK))
            for index in range(count):
                want = min(CHUNK, size - index * CHUNK)
                plain = source.read(want)
                if len(plain) != want:
                    raise TruncatedBlob(f"the source ended {size - index * CHUNK} bytes early")
                last = index == count - 1
                yield aead.encrypt(prefix + _COUNTER.pack(index, last), plain, aad)

        return header, chunks()

    def open_stream(self, header: dict[str, Any], source: BinaryIO) -> Iterator[bytes]:
        """The plaintext chunks of a format-2 object whose ciphertext `source` reads."""
        aead = AESGCM(self._unwrap(header))
        aad = _aad({k: v for k, v in header.items() if k not in _SECRET_FIELDS})
        prefix, size, chunk = _unb64(header["nprefix"]), int(header["size"]), int(header["chunk"])
        count = max(1, -(-size // chunk))
        for index in range(count):
            want = min(chunk, size - index * chunk) + TAG
            sealed = _read_exactly(source, want)
            yield aead.decrypt(prefix + _COUNTER.pack(index, index == count - 1), sealed, aad)

    def rewrap(self, header: dict[str, Any]) -> dict[str, Any] | None:
        """A header re-wrapped under the current key, or None if already current."""
        if header["kid"] == self.keys.current_id:
            return None
        return {**header, **self._wrap(self._unwrap(header))}

    def _wrap(self, data_key: bytes) -> dict[str, str]:
        nonce = os.urandom(12)
        wrapped = AESGCM(self.keys.current).encrypt(nonce, data_key, _WRAP_AAD)
        return {"kid": self.keys.current_id, "wnonce": _b64(nonce), "wkey": _b64(wrapped)}

    def _unwrap(self, header: dict[str, Any]) -> bytes:
        master = self.keys.keys.get(header["kid"])
        if master is None:
            raise KeyError(f"master key {header['kid']} is not configured")
        return AESGCM(master).decrypt(_unb64(header["wnonce"]), _unb64(header["wkey"]), _WRAP_AAD)


def _read_exactly(source: BinaryIO, size: int) -> bytes:
    parts, left = [], size
    while left:
        part = source.read(left)
        if not part:
            raise TruncatedBlob(f"the stored object ends {left} bytes early")
        parts.append(part)
        left -= len(part)
    return b"".join(parts)
