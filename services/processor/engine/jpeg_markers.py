"""JPEG segment surgery: add kept metadata to fresh encodes, strip private segments losslessly."""

from __future__ import annotations

import struct

from .api import EngineError

_SOI = b"\xff\xd8"
_ICC_TAG = b"ICC_PROFILE\x00"
XMP_TAG = b"http://ns.adobe.com/xap/1.0/\x00"
# One APP1 segment holds this much XMP; a longer packet (extended XMP) is not written.
_XMP_MAX = 65533 - len(XMP_TAG)
_ICC_CHUNK = 65519 - len(_ICC_TAG) - 2
# Markers without a length field.
_STANDALONE = {0x01, *range(0xD0, 0xD8)}


def add_jpeg_metadata(
    jpeg: bytes, exif: bytes | None, icc: bytes | None, xmp: bytes | None = None
) -> bytes:
    """Insert APP1 Exif, APP1 XMP and APP2 ICC segments right after SOI (and JFIF, if present)."""
    if xmp and len(xmp) > _XMP_MAX:
        xmp = None
    if not exif and not icc and not xmp:
        return jpeg
    segments = b""
    if exif:
        payload = exif if exif.startswith(b"Exif\x00\x00") else b"Exif\x00\x00" + exif
        segments += _segment(0xE1, payload)
    if xmp:
        segments += _segment(0xE1, XMP_TAG + xmp)
    if icc:
        chunks = [icc[i : i + _ICC_CHUNK] for i in range(0, len(icc), _ICC_CHUNK)]
        for n, chunk in enumerate(chunks, 1):
            segments += _segment(0xE2, _ICC_TAG + bytes((n, len(chunks))) + chunk)
    pos = 2
    if jpeg[2:4] == b"\xff\xe0":
        pos = 4 + struct.unpack(">H", jpeg[4:6])[0]
    return jpeg[:pos] + segments + jpeg[pos:]


def _segment(marker: int, payload: bytes) -> bytes:
    return bytes((0xFF, marker)) + struct.pack(">H", len(payload) + 2) + payload


def strip_jpeg(jpeg: bytes, exif: bytes | None = None, xmp: bytes | None = None) -> bytes:
    """Drop EXIF, XMP, IPTC, comments and trailing data; keep JFIF, ICC and Adobe colour info.

    The entropy-coded data is copied untouched, so the pixels are bit-identical.
    """
    if not jpeg.startswith(_SOI):
        raise EngineError("corrupt_image", "The JPEG has no start marker.")
    out = bytearray(_SOI)
    pos = 2
    while pos < len(jpeg):
        marker, pos = _next_marker(jpeg, pos)
        if marker == 0xD9:
            out += b"\xff\xd9"
            return add_jpeg_metadata(bytes(out), exif, None, xmp)
        if marker in _STANDALONE:
            out += bytes((0xFF, marker))
            continue
        if pos + 2 > len(jpeg):
            break
        length = struct.unpack(">H", jpeg[pos : pos + 2])[0]
        end = pos + length
        if length < 2 or end > len(jpeg):
            break
        body = jpeg[pos + 2 : end]
        if _keep_segment(marker, body):
            out += bytes((0xFF, marker)) + jpeg[pos:end]
        pos = end
        if marker == 0xDA:
            scan_end = _scan_end(jpeg, pos)
            out += jpeg[pos:scan_end]
            pos = scan_end
    raise EngineError("corrupt_image", "The JPEG is truncated.")


def _keep_segment(marker: int, body: bytes) -> bool:
    if marker == 0xE0:
        return body.startswith(b"JFIF\x00")
    if marker == 0xE2:
        return body.startswith(_ICC_TAG)
    if marker == 0xEE:
        return body.startswith(b"Adobe")
    return not (0xE0 <= marker <= 0xEF or marker == 0xFE)


def _next_marker(data: bytes, pos: int) -> tuple[int, int]:
    if data[pos] != 0xFF:
        raise EngineError("corrupt_image", "The JPEG structure is damaged.")
    while pos < len(data) and data[pos] == 0xFF:
        pos += 1
    if pos >= len(data):
        raise EngineError("corrupt_image", "The JPEG is truncated.")
    return data[pos], pos + 1


def _scan_end(data: bytes, pos: int) -> int:
    """Index of the first real marker after entropy-coded data (skips stuffing and RSTn)."""
    while True:
        pos = data.find(b"\xff", pos)
        if pos < 0 or pos + 1 >= len(data):
            raise EngineError("corrupt_image", "The JPEG is truncated.")
        nxt = data[pos + 1]
        if nxt == 0x00 or 0xD0 <= nxt <= 0xD7 or nxt == 0xFF:
            pos += 1 if nxt == 0xFF else 2
            continue
        return pos
