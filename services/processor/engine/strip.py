"""Lossless metadata removal from the input, for the `no_gain` result: pixels stay bit-identical."""

from __future__ import annotations

import struct
import zlib

from . import jxl_header
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
# iTXt: keyword, no compression, no language, no translated keyword, then the packet.
_PNG_XMP_KEY = b"XML:com.adobe.xmp\x00\x00\x00\x00\x00"
_WEBP_DROP = {b"EXIF", b"XMP "}
_VP8X_EXIF = 0x08
_VP8X_XMP = 0x04
_VP8X_ALPHA = 0x10
# GIF's XMP application extension: the packet is written raw, then this trailer lets readers
# that walk sub-blocks step over it (XMP specification, part 3).
_GIF_XMP_ID = b"XMP DataXMP"
_GIF_XMP_TRAILER = bytes([1, *range(255, -1, -1), 0])
_JXL_METADATA_BOXES = {b"Exif", b"xml ", b"jumb", b"brob"}


def strip_losslessly(
    data: bytes, fmt: str, exif: bytes | None, xmp: bytes | None = None
) -> bytes | None:
    """The input minus private metadata and trailing bytes, carrying the EXIF and XMP the
    policy kept (where the format holds them); None if the format is not handled."""
    if fmt == "jpeg":
        return strip_jpeg(data, exif, xmp)
    if fmt == "png":
        return strip_png(data, exif, xmp)
    if fmt == "webp":
        return strip_webp(data, exif, xmp)
    if fmt == "gif":
        return strip_gif(data, xmp)
    if fmt in ("avif", "heic"):
        return blank_private_items(data, exif, xmp)
    if fmt == "jxl":
        return strip_jxl(data, exif, xmp)
    if fmt == "bmp":
        return strip_bmp(data)
    return None


def strip_bmp(data: bytes) -> bytes:
    """BMP holds no metadata; only bytes past the declared file size can hide anything."""
    size = struct.unpack("<I", data[2:6])[0]
    if size > len(data) or size < 26:
        raise EngineError("corrupt_image", "The BMP is truncated.")
    return data[:size]


def strip_png(data: bytes, exif: bytes | None = None, xmp: bytes | None = None) -> bytes:
    out = bytearray(_PNG_SIGNATURE)
    pos = len(_PNG_SIGNATURE)
    metadata = b""
    if exif:
        metadata += _png_chunk(b"eXIf", exif.removeprefix(b"Exif\x00\x00"))
    if xmp:
        metadata += _png_chunk(b"iTXt", _PNG_XMP_KEY + xmp)
    while pos + 12 <= len(data):
        length = struct.unpack(">I", data[pos : pos + 4])[0]
        kind = data[pos + 4 : pos + 8]
        end = pos + 12 + length
        if end > len(data):
            break
        if kind == b"IDAT" and metadata:
            out += metadata
            metadata = b""
        if kind in _PNG_KEEP:
            out += data[pos:end]
        pos = end
        if kind == b"IEND":
            return bytes(out)
    raise EngineError("corrupt_image", "The PNG is truncated.")


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(kind + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def strip_webp(data: bytes, exif: bytes | None = None, xmp: bytes | None = None) -> bytes:
    """Drop the EXIF and XMP chunks and trailing bytes; add the kept ones (in the extended
    format, whose VP8X header is created for a simple file)."""
    size = struct.unpack("<I", data[4:8])[0] + 8
    if size > len(data) or size < 12:
        raise EngineError("corrupt_image", "The WebP is truncated.")
    chunks: list[tuple[bytes, bytes]] = []
    pos = 12
    while pos + 8 <= size:
        kind = data[pos : pos + 4]
        length = struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        end = pos + 8 + length + (length & 1)
        if end > size:
            raise EngineError("corrupt_image", "The WebP is truncated.")
        if kind not in _WEBP_DROP:
            chunks.append((kind, data[pos + 8 : pos + 8 + length]))
        pos = end
    if not chunks:
        raise EngineError("corrupt_image", "The WebP holds no image.")
    exif = exif.removeprefix(b"Exif\x00\x00") if exif else None
    if chunks[0][0] != b"VP8X" and (exif or xmp):
        chunks.insert(0, (b"VP8X", _vp8x_for(*chunks[0])))
    if chunks[0][0] == b"VP8X":
        header = bytearray(chunks[0][1])
        header[0] &= ~(_VP8X_EXIF | _VP8X_XMP) & 0xFF
        header[0] |= (_VP8X_EXIF if exif else 0) | (_VP8X_XMP if xmp else 0)
        chunks[0] = (b"VP8X", bytes(header))
    chunks += [(b"EXIF", exif)] if exif else []
    chunks += [(b"XMP ", xmp)] if xmp else []
    body = b"".join(_riff_chunk(kind, payload) for kind, payload in chunks)
    return b"RIFF" + struct.pack("<I", len(body) + 4) + b"WEBP" + body


def _riff_chunk(kind: bytes, payload: bytes) -> bytes:
    return kind + struct.pack("<I", len(payload)) + payload + b"\x00" * (len(payload) & 1)


def _vp8x_for(kind: bytes, payload: bytes) -> bytes:
    """The VP8X header of a simple (VP8 or VP8L) WebP: canvas size, and alpha for VP8L."""
    if kind == b"VP8 " and len(payload) >= 10:
        width = struct.unpack("<H", payload[6:8])[0] & 0x3FFF
        height = struct.unpack("<H", payload[8:10])[0] & 0x3FFF
        flags = 0
    elif kind == b"VP8L" and len(payload) >= 5:
        bits = struct.unpack("<I", payload[1:5])[0]
        width, height = (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
        flags = _VP8X_ALPHA if bits >> 28 & 1 else 0
    else:
        raise EngineError("corrupt_image", "The WebP image header is damaged.")
    return (
        bytes((flags, 0, 0, 0))
        + (width - 1).to_bytes(3, "little")
        + (height - 1).to_bytes(3, "little")
    )


def strip_gif(data: bytes, xmp: bytes | None = None) -> bytes:
    """Keep image data and the looping extension; drop comments and other application blocks
    (XMP too, unless the policy kept some: that goes right after the header)."""
    flags = data[10]
    pos = 13 + (3 * 2 ** ((flags & 7) + 1) if flags & 0x80 else 0)
    out = bytearray(data[:pos])
    if xmp and b"\x00" not in xmp:
        out += b"\x21\xff\x0b" + _GIF_XMP_ID + xmp + _GIF_XMP_TRAILER
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


def gif_xmp(data: bytes) -> bytes | None:
    """The packet of a GIF's XMP application extension, if it has one (Pillow reads none)."""
    at = data.find(b"\x21\xff\x0b" + _GIF_XMP_ID)
    if at < 0:
        return None
    start = at + 3 + len(_GIF_XMP_ID)
    end = data.find(_GIF_XMP_TRAILER[:4], start)
    return data[start:end] if end > start else None


def strip_jxl(data: bytes, exif: bytes | None = None, xmp: bytes | None = None) -> bytes:
    """A container without its Exif, XMP and JUMBF boxes (compressed ones too), carrying the kept
    ones; a bare codestream holds no metadata and comes back as it is."""
    if not data.startswith(jxl_header.CONTAINER):
        return data
    out = bytearray()
    for kind, start, end in jxl_header.boxes(data):
        if kind not in _JXL_METADATA_BOXES:
            out += _box(kind, data[start:end])
    if exif:
        out += _box(b"Exif", b"\x00\x00\x00\x00" + exif.removeprefix(b"Exif\x00\x00"))
    if xmp:
        out += _box(b"xml ", xmp)
    return bytes(out)


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload) + 8) + kind + payload


def _skip_sub_blocks(data: bytes, pos: int) -> int:
    while pos < len(data):
        n = data[pos]
        pos += 1 + n
        if n == 0:
            return pos
    raise EngineError("corrupt_image", "The GIF is truncated.")
