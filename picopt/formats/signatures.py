"""Which format a file is, from its first bytes: the name and the client's type are never trusted.

Bounded by construction: only the first `SNIFF_BYTES` of the data are looked at, and at most
`MAX_BRANDS` brands of an ISO-BMFF `ftyp` box, whatever size the box claims. A hostile body
(say an `ftyp` box claiming 50 MB of brands) is refused after reading the same few KiB as a
real photo.
"""

from __future__ import annotations

SNIFF_BYTES = 4096
MAX_BRANDS = 32

_JXL_CODESTREAM = b"\xff\x0a"
_JXL_CONTAINER = b"\x00\x00\x00\x0cJXL \r\n\x87\n"
_AVIF_BRANDS = frozenset({b"avif", b"avis"})
_HEIF_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"})


class FormatError(ValueError):
    """The bytes are not an image format we know: `code` is `unsupported_format` or
    `corrupt_image`, the engine's and the gateway's stable codes for the two cases."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def sniff(data: bytes | bytearray | memoryview) -> str:
    """The format name of `data` (a key of `FORMATS`), or FormatError.

    Pass the whole file or only its first `SNIFF_BYTES`: the answer is the same.
    """
    head = bytes(data[:SNIFF_BYTES])
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head.startswith((_JXL_CODESTREAM, _JXL_CONTAINER)):
        return "jxl"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if head[:2] == b"BM" and len(head) >= 26:
        return "bmp"
    if head[4:8] == b"ftyp":
        return _isobmff_format(head, total=len(data))
    raise FormatError("unsupported_format", "The file is not an image format we accept.")


def brands(head: bytes) -> list[bytes]:
    """The major brand, then the compatible brands of a leading `ftyp` box, at most MAX_BRANDS."""
    size = int.from_bytes(head[:4], "big")
    end = min(size, len(head), 16 + 4 * (MAX_BRANDS - 1))
    found = [head[8:12]]
    found.extend(head[i : i + 4] for i in range(16, end - 3, 4))
    return found[:MAX_BRANDS]


def _isobmff_format(head: bytes, total: int) -> str:
    """AVIF or HEIC, by the brands of the `ftyp` box; any other ISO media file is refused."""
    size = int.from_bytes(head[:4], "big")
    if size < 16 or size > SNIFF_BYTES:
        # Real `ftyp` boxes hold a handful of brands; one claiming kilobytes is made up.
        raise FormatError("corrupt_image", "The image container's type box is malformed.")
    if size > total:
        raise FormatError("corrupt_image", "The image container is truncated.")
    listed = set(brands(head))
    if listed & _AVIF_BRANDS:
        return "avif"
    if listed & _HEIF_BRANDS:
        return "heic"
    raise FormatError("unsupported_format", "This ISO media file is not an AVIF or HEIC image.")
