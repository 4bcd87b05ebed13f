"""A service's part of a data export, written as JSON files and streamed in chunks.

A service describes its part as `ExportPart`s: a table's rows (a JSON array written
row by row from a lazy query, so a user with millions of rows costs no more memory
than one with ten) or one object. `export_chunks` turns them into the
`StreamUserData` messages; every file ends with the table its rows come from and
their count, so the archive's manifest accounts for every row exported.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from picopt.kernel.db import as_utc
from picopt.privacy.v1 import privacy_pb2

CHUNK_BYTES = 64 * 1024
# Rows fetched from the database per round trip while a table is exported.
ROWS_PER_FETCH = 1000


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return as_utc(value).astimezone(UTC).isoformat()
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError(f"cannot export {type(value).__name__}")


def to_json(data: Any) -> bytes:
    """Export files are UTF-8 JSON; datetimes become ISO 8601 in UTC, bytes hex."""
    return json.dumps(data, indent=2, sort_keys=True, default=_default).encode()


@dataclass(frozen=True)
class ExportPart:
    """One file: the rows of `table` as a JSON array, or (`single`) one row as an object.

    `table` is "" for a file that holds no table's rows of its own (derived data).
    """

    name: str
    table: str
    rows: Iterable[Mapping[str, Any]] = ()
    single: Mapping[str, Any] | None = None

    @classmethod
    def one(cls, name: str, table: str, row: Mapping[str, Any]) -> ExportPart:
        return cls(name, table, single=row)


def _array(rows: Iterable[Mapping[str, Any]]) -> Iterator[tuple[bytes, int]]:
    """The JSON array of the rows, piece by piece, with the count of rows so far."""
    count = 0
    yield b"[", 0
    for row in rows:
        count += 1
        body = json.dumps(row, sort_keys=True, default=_default).encode()
        yield (b"\n  " if count == 1 else b",\n  ") + body, count
    yield (b"\n]" if count else b"]"), count


def export_chunks(
    parts: Iterable[ExportPart], chunk_bytes: int = CHUNK_BYTES
) -> Iterator[privacy_pb2.StreamUserDataResponse]:
    """Each part as chunks of at most about `chunk_bytes`, the last one marked `end`."""
    for part in parts:
        if part.single is not None:
            pieces: Iterable[tuple[bytes, int]] = [(to_json(part.single), 1 if part.table else 0)]
        else:
            pieces = _array(part.rows)
        buffer = bytearray()
        rows = 0
        for data, so_far in pieces:
            buffer += data
            rows = so_far
            if len(buffer) >= chunk_bytes:
                yield privacy_pb2.StreamUserDataResponse(name=part.name, data=bytes(buffer))
                buffer.clear()
        yield privacy_pb2.StreamUserDataResponse(
            name=part.name,
            data=bytes(buffer),
            end=True,
            table=part.table,
            rows=rows if part.table else 0,
        )
