"""The stored form of an object in every backend: magic, header length, JSON header, ciphertext."""

from __future__ import annotations

import json
import struct
from datetime import datetime
from typing import Any

from picopt.kernel.blobstore.base import BlobInfo

MAGIC = b"POB1"
LENGTH = struct.Struct(">I")
PREFIX_SIZE = len(MAGIC) + LENGTH.size


def pack(header: dict[str, Any], ciphertext: bytes) -> bytes:
    raw = json.dumps(header, separators=(",", ":")).encode()
    return MAGIC + LENGTH.pack(len(raw)) + raw + ciphertext


def header_length(prefix: bytes, name: str) -> int:
    """Length of the JSON header that follows a PREFIX_SIZE-byte prefix."""
    if len(prefix) < PREFIX_SIZE or prefix[:4] != MAGIC:
        raise ValueError(f"not a blob object: {name}")
    return int(LENGTH.unpack(prefix[4:PREFIX_SIZE])[0])


def unpack(stored: bytes, name: str) -> tuple[dict[str, Any], bytes]:
    length = header_length(stored[:PREFIX_SIZE], name)
    end = PREFIX_SIZE + length
    return json.loads(stored[PREFIX_SIZE:end]), stored[end:]


def info_from_header(header: dict[str, Any]) -> BlobInfo:
    return BlobInfo(
        key=header["key"],
        owner=header["owner"],
        created_at=datetime.fromisoformat(header["created_at"]),
        deadline=datetime.fromisoformat(header["deadline"]),
        size=int(header["size"]),
        key_id=header["kid"],
    )
