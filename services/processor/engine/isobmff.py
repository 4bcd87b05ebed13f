"""Blank the EXIF and XMP items of an AVIF/HEIC file in place: same size, same pixels.

The container's item locations (`iloc`) point at each item's bytes; overwriting EXIF and XMP
payloads with zeros removes GPS, serials and the rest without re-encoding or re-muxing.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from .api import EngineError

_PRIVATE_MIME = (b"application/rdf+xml",)
# Exif item: 4-byte offset to the TIFF header (0), then a big-endian TIFF header whose first
# IFD has no entries and no successor.
_EMPTY_EXIF = b"\x00\x00\x00\x00" + b"MM\x00\x2a" + struct.pack(">IHI", 8, 0, 0)


def blank_private_items(data: bytes, exif: bytes | None = None, xmp: bytes | None = None) -> bytes:
    """A copy of `data` with every EXIF/XMP item blanked, or overwritten with the kept `exif`
    and `xmp` where they fit in the item's bytes; trailing data dropped."""
    end = _boxes_end(data)
    meta = _find(data, 0, end, b"meta")
    if meta is None:
        return data[:end]
    body_start, body_end = meta[0] + 4, meta[1]  # skip the FullBox version and flags
    iinf = _find(data, body_start, body_end, b"iinf")
    iloc = _find(data, body_start, body_end, b"iloc")
    idat = _find(data, body_start, body_end, b"idat")
    if iinf is None or iloc is None:
        return data[:end]
    private = dict(_private_item_ids(data, *iinf))
    out = bytearray(data[:end])
    for item_id, method, offset, length in _extents(data, *iloc):
        if item_id not in private:
            continue
        if method == 1 and idat is not None:
            offset += idat[0]
        elif method != 0:
            continue
        if offset + length > len(out):
            raise EngineError("corrupt_image", "An item of the image lies outside the file.")
        kept = exif if private[item_id] == b"Exif" else xmp
        out[offset : offset + length] = _blank(private[item_id], length, kept)
    return bytes(out)


def _blank(item_type: bytes, length: int, kept: bytes | None) -> bytes:
    """The kept payload padded to `length` when it fits, else an empty but valid one: an Exif
    block with no tags, or an XMP of whitespace."""
    if item_type == b"Exif":
        payload = b"\x00\x00\x00\x00" + kept.removeprefix(b"Exif\x00\x00") if kept else b""
        if not payload or len(payload) > length:
            payload = _EMPTY_EXIF
        return payload + bytes(length - len(payload)) if length >= len(payload) else b" " * length
    payload = kept if kept and len(kept) <= length else b""
    return payload + b" " * (length - len(payload))


def _boxes(data: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload start, payload end) for each box in data[start:end]."""
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        header = 8
        if size == 1:
            size = struct.unpack(">Q", data[pos + 8 : pos + 16])[0]
            header = 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            raise EngineError("corrupt_image", "The image container is truncated.")
        yield kind, pos + header, pos + size
        pos += size


def _boxes_end(data: bytes) -> int:
    """End of the last complete top-level box; whatever follows is not part of the image."""
    pos = 0
    while pos + 8 <= len(data):
        size = struct.unpack(">I", data[pos : pos + 4])[0]
        if size == 1 and pos + 16 <= len(data):
            size = struct.unpack(">Q", data[pos + 8 : pos + 16])[0]
        elif size == 0:
            size = len(data) - pos
        if size < 8 or pos + size > len(data) or not data[pos + 4 : pos + 8].isascii():
            break
        pos += size
    return pos


def _find(data: bytes, start: int, end: int, kind: bytes) -> tuple[int, int] | None:
    for k, s, e in _boxes(data, start, end):
        if k == kind:
            return s, e
    return None


def _private_item_ids(data: bytes, start: int, end: int) -> Iterator[tuple[int, bytes]]:
    version = data[start]
    pos = start + 4 + (2 if version == 0 else 4)
    for kind, s, e in _boxes(data, pos, end):
        if kind != b"infe" or data[s] < 2:
            continue
        id_size = 2 if data[s] == 2 else 4
        item_id = int.from_bytes(data[s + 4 : s + 4 + id_size], "big")
        type_at = s + 4 + id_size + 2
        item_type = data[type_at : type_at + 4]
        if item_type == b"Exif":
            yield item_id, item_type
        elif item_type == b"mime":
            name_end = data.index(b"\x00", type_at + 4, e)
            content_type = data[name_end + 1 : e].split(b"\x00")[0]
            if content_type in _PRIVATE_MIME:
                yield item_id, item_type


def _extents(data: bytes, start: int, end: int) -> Iterator[tuple[int, int, int, int]]:
    """(item id, construction method, absolute-or-idat offset, length) for every extent."""
    version = data[start]
    pos = start + 4
    offset_size, length_size = data[pos] >> 4, data[pos] & 0xF
    base_size, index_size = data[pos + 1] >> 4, data[pos + 1] & 0xF
    pos += 2

    def read(n: int) -> int:
        nonlocal pos
        value = int.from_bytes(data[pos : pos + n], "big") if n else 0
        pos += n
        return value

    count = read(4 if version == 2 else 2)
    for _ in range(count):
        item_id = read(4 if version == 2 else 2)
        method = read(2) & 0xF if version in (1, 2) else 0
        read(2)  # data_reference_index
        base = read(base_size)
        for _ in range(read(2)):
            if version in (1, 2):
                read(index_size)
            offset = read(offset_size)
            length = read(length_size)
            if pos > end:
                raise EngineError("corrupt_image", "The image item table is truncated.")
            yield item_id, method, base + offset, length


def avif_plays(data: bytes) -> int:
    """How many times an AVIF image sequence plays, 0 for ever (libavif's reading).

    The colour track's edit list says whether the sequence repeats (flag 1) and its track
    header how long all repetitions last; no edit list, or an indefinite duration, means for
    ever, as browsers play it.
    """
    end = _boxes_end(data)
    moov = _find(data, 0, end, b"moov")
    trak = _find(data, *moov, b"trak") if moov else None
    if trak is None:
        return 0
    tkhd = _find(data, *trak, b"tkhd")
    edts = _find(data, *trak, b"edts")
    elst = _find(data, *edts, b"elst") if edts else None
    if tkhd is None or elst is None:
        return 0
    if not data[elst[0] + 3] & 1:
        return 1
    track_duration = _tkhd_duration(data, tkhd[0])
    segment = _first_segment_duration(data, elst[0])
    if track_duration is None or not segment:
        return 0
    return -(-track_duration // segment)


def _tkhd_duration(data: bytes, start: int) -> int | None:
    """The track duration, None when indefinite (all bits set)."""
    if data[start] == 1:
        value, bits = struct.unpack(">Q", data[start + 28 : start + 36])[0], 64
    else:
        value, bits = struct.unpack(">I", data[start + 20 : start + 24])[0], 32
    return None if value == (1 << bits) - 1 else value


def _first_segment_duration(data: bytes, start: int) -> int:
    if struct.unpack(">I", data[start + 4 : start + 8])[0] < 1:
        return 0
    if data[start] == 1:
        return int(struct.unpack(">Q", data[start + 8 : start + 16])[0])
    return int(struct.unpack(">I", data[start + 8 : start + 12])[0])


def with_avif_plays(data: bytes, plays: int) -> bytes:
    """An AVIF sequence written as "repeat for ever" made to play `plays` times: each track's
    header (and the movie header) gets the duration of that many repetitions of its edit."""
    end = _boxes_end(data)
    out = bytearray(data)
    moov = _find(data, 0, end, b"moov")
    if moov is None:
        return data
    total = 0
    for kind, start, stop in _boxes(data, *moov):
        if kind != b"trak":
            continue
        tkhd = _find(data, start, stop, b"tkhd")
        edts = _find(data, start, stop, b"edts")
        elst = _find(data, *edts, b"elst") if edts else None
        if tkhd is None or elst is None:
            continue
        duration = _first_segment_duration(data, elst[0]) * plays
        _put_duration(out, tkhd[0], 20, duration)
        total = max(total, duration)
    mvhd = _find(data, *moov, b"mvhd")
    if mvhd is not None and total:
        _put_duration(out, mvhd[0], 16, total)
    return bytes(out)


def _put_duration(out: bytearray, start: int, offset_v0: int, duration: int) -> None:
    """Write a (track or movie) header's duration: 32 bits at `offset_v0` in version 0, 64 bits
    8 bytes further on in version 1 (whose two timestamps are 64-bit)."""
    if out[start] == 1:
        struct.pack_into(">Q", out, start + offset_v0 + 8, duration)
    elif duration < 0xFFFFFFFF:
        struct.pack_into(">I", out, start + offset_v0, duration)
