"""What a JPEG XL file is before it is decoded: size, animation, and its metadata boxes.

The JXL decoder behind Pillow decodes every pixel as soon as a file is opened, so the pixel
limit has to be checked on the header first (ISO/IEC 18181-1: SizeHeader, then the start of
ImageMetadata). A file is either a bare codestream (FF 0A) or an ISO-BMFF style container whose
`jxlc` box (or `jxlp` parts) hold the codestream next to `Exif`, `xml ` and `jumb` boxes.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from .api import EngineError

CODESTREAM = b"\xff\x0a"
CONTAINER = b"\x00\x00\x00\x0cJXL \r\n\x87\n"
# Aspect ratios a SizeHeader can give instead of an explicit width.
_RATIOS = {1: (1, 1), 2: (12, 10), 3: (4, 3), 4: (3, 2), 5: (16, 9), 6: (5, 4), 7: (2, 1)}
_SIZE_BITS = ((9, 1), (13, 1), (18, 1), (30, 1))
_PREVIEW_DIV8 = ((0, 16), (0, 32), (5, 1), (9, 33))
_PREVIEW_BITS = ((6, 1), (8, 65), (10, 321), (12, 1345))


@dataclass(frozen=True)
class JxlHeader:
    width: int
    height: int
    animated: bool


class _Bits:
    """JPEG XL reads bits least significant first within each byte."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def u(self, n: int) -> int:
        value = 0
        for i in range(n):
            byte = self._pos >> 3
            if byte >= len(self._data):
                raise EngineError("corrupt_image", "The JPEG XL header is truncated.")
            value |= ((self._data[byte] >> (self._pos & 7)) & 1) << i
            self._pos += 1
        return value

    def u32(self, choices: tuple[tuple[int, int], ...]) -> int:
        bits, offset = choices[self.u(2)]
        return offset + self.u(bits)


def read_header(data: bytes) -> JxlHeader:
    """Width, height and whether the image is animated, from the first bytes of the codestream."""
    bits = _Bits(codestream_head(data, 64)[2:])
    height, width = _size(bits, _SIZE_BITS, _small)
    all_default = bits.u(1)
    animated = False
    if not all_default and bits.u(1):  # extra_fields
        bits.u(3)  # orientation
        if bits.u(1):  # have_intr_size
            _size(bits, _SIZE_BITS, _small)
        if bits.u(1):  # have_preview
            _size(bits, _PREVIEW_BITS, lambda b: b.u32(_PREVIEW_DIV8))
        animated = bool(bits.u(1))
    return JxlHeader(width, height, animated)


def _small(bits: _Bits) -> int:
    """A SizeHeader side in eighths: 1 + u(5)."""
    return 1 + bits.u(5)


def _size(
    bits: _Bits, choices: tuple[tuple[int, int], ...], eighths: Callable[[_Bits], int]
) -> tuple[int, int]:
    """(height, width) of a SizeHeader or PreviewHeader; `eighths` reads a side given in 8s."""
    div8 = bits.u(1)
    height = eighths(bits) * 8 if div8 else bits.u32(choices)
    ratio = bits.u(3)
    if ratio:
        num, den = _RATIOS[ratio]
        width = height * num // den
    else:
        width = eighths(bits) * 8 if div8 else bits.u32(choices)
    return height, width


def codestream_head(data: bytes, n: int) -> bytes:
    """The first `n` bytes of the codestream, from a bare codestream or a container."""
    if data.startswith(CODESTREAM):
        return data[:n]
    if not data.startswith(CONTAINER):
        raise EngineError("corrupt_image", "The file is not a JPEG XL image.")
    for kind, start, end in boxes(data):
        if kind == b"jxlc":
            return data[start : min(end, start + n)]
        if kind == b"jxlp":  # a 4-byte part index precedes each part
            return data[start + 4 : min(end, start + 4 + n)]
    raise EngineError("corrupt_image", "The JPEG XL container holds no codestream.")


def boxes(data: bytes) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload start, payload end) of each top-level box of a container."""
    pos = 0
    while pos + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        header = 8
        if size == 1:
            if pos + 16 > len(data):
                break
            size = struct.unpack(">Q", data[pos + 8 : pos + 16])[0]
            header = 16
        elif size == 0:
            size = len(data) - pos
        if size < header or pos + size > len(data):
            raise EngineError("corrupt_image", "The JPEG XL container is truncated.")
        yield kind, pos + header, pos + size
        pos += size


def xmp_of(data: bytes) -> bytes | None:
    """The uncompressed XMP box of a container, if any (bare codestreams carry no metadata)."""
    if not data.startswith(CONTAINER):
        return None
    for kind, start, end in boxes(data):
        if kind == b"xml ":
            return data[start:end]
    return None
