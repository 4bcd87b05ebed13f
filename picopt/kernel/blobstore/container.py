"""The stored form of an object in every backend: magic, header length, JSON header, ciphertext.

Two versions, told apart by the magic: "POB1" holds one AES-GCM ciphertext of the
whole object; "POB2" holds it in chunks sealed one by one (crypto.CHUNK bytes of
plaintext each), so an object of any size is written and read with a chunk in
memory. Readers take both; writers write POB2 unless BLOB_FORMAT=1.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, BinaryIO

from picopt.kernel.blobstore.base import BlobInfo
from picopt.kernel.blobstore.crypto import EnvelopeCipher

MAGICS = {1: b"POB1", 2: b"POB2"}
VERSIONS = {magic: version for version, magic in MAGICS.items()}
MAGIC = MAGICS[1]
LENGTH = struct.Struct(">I")
PREFIX_SIZE = len(MAGIC) + LENGTH.size


def seal(
    cipher: EnvelopeCipher,
    write_format: int,
    key: str,
    source: BinaryIO,
    size: int,
    *,
    owner: str,
    deadline: datetime,
) -> tuple[dict[str, Any], Iterable[bytes]]:
    """The header and the stored body of a new object, in the format writers use."""
    public = {
        "key": key,
        "owner": owner,
        "created_at": datetime.now(UTC).isoformat(),
        "deadline": deadline.astimezone(UTC).isoformat(),
        "size": size,
    }
    if write_format == 1:
        sealed = cipher.seal(source.read(size), public)
        return sealed.header, [sealed.ciphertext]
    return cipher.seal_stream(source, size, public)


def prefix(header: dict[str, Any]) -> bytes:
    """Magic, length and JSON header: everything before the ciphertext."""
    raw = json.dumps(header, separators=(",", ":")).encode()
    return MAGICS[int(header.get("v", 1))] + LENGTH.pack(len(raw)) + raw


def pack(header: dict[str, Any], ciphertext: bytes) -> bytes:
    return prefix(header) + ciphertext


def header_length(head: bytes, name: str) -> int:
    """Length of the JSON header that follows a PREFIX_SIZE-byte prefix."""
    if len(head) < PREFIX_SIZE or head[:4] not in VERSIONS:
        raise ValueError(f"not a blob object: {name}")
    return int(LENGTH.unpack(head[4:PREFIX_SIZE])[0])


def unpack(stored: bytes, name: str) -> tuple[dict[str, Any], bytes]:
    length = header_length(stored[:PREFIX_SIZE], name)
    end = PREFIX_SIZE + length
    return json.loads(stored[PREFIX_SIZE:end]), stored[end:]


def stored_size(header: dict[str, Any]) -> int:
    """Bytes the object takes in storage: prefix, header and sealed chunks (16-byte tags)."""
    size = int(header["size"])
    chunks = max(1, -(-size // int(header.get("chunk") or max(size, 1))))
    return len(prefix(header)) + size + 16 * chunks


def info_from_header(header: dict[str, Any]) -> BlobInfo:
    return BlobInfo(
        key=header["key"],
        owner=header["owner"],
        created_at=datetime.fromisoformat(header["created_at"]),
        deadline=datetime.fromisoformat(header["deadline"]),
        size=int(header["size"]),
        key_id=header["kid"],
    )
