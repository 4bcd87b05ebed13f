"""AES-256-GCM envelope encryption: a fresh data key per object, wrapped by a master key.

Owner, key and timestamps are authenticated as associated data, so a header
edited on disk makes decryption fail instead of silently re-assigning data.
Rotation re-wraps only the small data key, never the object.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from picopt.kernel.settings import MasterKeys

_WRAP_AAD = b"picopt-blob-data-key-v1"


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
        data_key = self._unwrap(header)
        public = {k: v for k, v in header.items() if k not in {"nonce", "kid", "wnonce", "wkey"}}
        return AESGCM(data_key).decrypt(_unb64(header["nonce"]), ciphertext, _aad(public))

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
