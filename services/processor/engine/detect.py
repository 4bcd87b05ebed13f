"""Format detection from magic bytes: the name and the client's content type are never trusted."""

from __future__ import annotations

from .api import EngineError

_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"}
_AVIF_BRANDS = {b"avif", b"avis"}


def detect_format(data: bytes) -> str:
    """Return the engine's name for the image format of `data` or raise `unsupported_format`."""
    head = data[:64]
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if head[:2] == b"BM" and len(head) >= 26:
        return "bmp"
    if head[4:8] == b"ftyp":
        return _isobmff_format(data)
    raise EngineError("unsupported_format", "The file is not an image format we accept.")


def _isobmff_format(data: bytes) -> str:
    """Tell AVIF from HEIC by the brands listed in the `ftyp` box."""
    size = int.from_bytes(data[:4], "big")
    if size < 16 or size > len(data):
        raise EngineError("corrupt_image", "The image container is truncated.")
    brands = {data[8:12]} | {data[i : i + 4] for i in range(16, size - 3, 4)}
    if brands & _AVIF_BRANDS:
        return "avif"
    if brands & _HEIF_BRANDS:
        return "heic"
    raise EngineError("unsupported_format", "This ISO media file is not an AVIF or HEIC image.")
