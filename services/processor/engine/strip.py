"""Lossless metadata removal from the input, for the `no_gain` result: pixels stay bit-identical."""

from __future__ import annotations

import struct
import zlib

from .api import EngineError
from .isobmff import blank_private_items
from .jpeg_markers import strip_jpeg

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Chunks that change how pixels look or animate; everything else (text, EXIF, time) goes.
_PNG_KEEP = {
    b"IHDR",
    b"PLTE",
    b"IDAT",
    b"IEND",
    b"tRNS",
    b"gAMA",
    b"cHRM",
    b"sRGB",
    b"iCCP",
    b"cICP",
    b"sBIT",
    b"bKGD",
    b"pHYs",
    b"acTL",
    b"fcTL",
    b"fdAT",
    b"mDCV",
    b"cLLI",
}
_WEBP_DROP = {b"EXIF", b"XMP "}
_VP8X_EXIF = 0x08
_VP8X_XMP = 0x04


def strip_losslessly(data: bytes, fmt: str, exif: bytes | None) -> bytes | None:
    """The input minus private metadata and trailing bytes; None if the format is not handled."""
    if fmt == "jpeg":
        return strip_jpeg(data, exif)
    if fmt == "png":
        return strip_png(data, exif)
    if fmt == "webp":
        return strip_webp(data)
    if fmt == "gif":
        return strip_gif(data)
    if fmt in ("avif", "heic"):
        return blank_private_items(data)
    if fmt == "bmp":
        return strip_bmp(data)
    return None


def strip_bmp(data: bytes) -> bytes:
    """BMP holds no metadata; only bytes past the declared file size can hide anything."""
    size = struct.unpack("<I", data[2:6])[0]
    if size > len(data) or size < 26:
        raise EngineError("corrupt_image", "The BMP is truncated.")
    return data[:size]


def strip_png(data: bytes, exif: bytes | None = None) -> bytes:
    out = bytearray(_PNG_SIGNATURE)
    pos = len(_PNG_SIGNATURE)
    while pos + 12 <= len(data):
        length = struct.unpack(">I", data[pos : pos + 4])[0]
        kind = data[pos + 4 : pos + 8]
        end = pos + 12 + length
        if end > len(data):
            break
        if kind == b"IDAT" and exif and b"eXIf" not in out:
            out += _png_chunk(b"eXIf", exif)
        if kind in _PNG_KEEP:
            out += data[pos:end]
        pos = end
        if kind == b"IEND":
            return bytes(out)
    raise EngineError("corrupt_image", "The PNG is truncated.")


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(kind + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def strip_webp(data: bytes) -> bytes:
    size = struct.unpack("<I", data[4:8])[0] + 8
    if size > len(data) or size < 12:
        raise EngineError("corrupt_image", "The WebP is truncated.")
    body = bytearray()
    pos = 12
    while pos + 8 <= size:
        kind = data[pos : pos + 4]
        length = struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        end = pos + 8 + length + (length & 1)
        if end > size:
            raise EngineError("corrupt_image", "The WebP is truncated.")
        chunk = bytearray(data[pos:end])
        if kind == b"VP8X":
            chunk[8] &= ~(_VP8X_EXIF | _VP8X_XMP) & 0xFF
        if kind not in _WEBP_DROP:
            body += chunk
        pos = end
    return b"RIFF" + struct.pack("<I", len(body) + 4) + b"WEBP" + bytes(body)


def strip_gif(data: bytes) -> bytes:
    """Keep image data and the looping extension; drop comments and other application blocks."""
    flags = data[10]
    pos = 13 + (3 * 2 ** ((flags & 7) + 1) if flags & 0x80 else 0)
    out = bytearray(data[:pos])
    while pos < len(data):
        block = data[pos]
        if block == 0x3B:
            return bytes(out + b"\x3b")
        if block == 0x21:
            label = data[pos + 1]
            end = _skip_sub_blocks(data, pos + 2)
            app_id = data[pos + 3 : pos + 14]
            keep = label in (0xF9, 0x01) or (
                label == 0xFF and app_id in (b"NETSCAPE2.0", b"ANIMEXTS1.0")
            )
            if keep:
                out += data[pos:end]
            pos = end
        elif block == 0x2C:
            local = data[pos + 9]
            header_end = pos + 10 + (3 * 2 ** ((local & 7) + 1) if local & 0x80 else 0) + 1
            end = _skip_sub_blocks(data, header_end)
            out += data[pos:end]
            pos = end
        else:
            break
    raise EngineError("corrupt_image", "The GIF is truncated.")


def _skip_sub_blocks(data: bytes, pos: int) -> int:
    while pos < len(data):
        n = data[pos]
        pos += 1 + n
        if n == 0:
            return pos
    raise EngineError("corrupt_image", "The GIF is truncated.")
