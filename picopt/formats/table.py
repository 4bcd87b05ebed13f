"""The image formats the product reads and writes, one row each, with what each can hold.

Standard library only: the gateway, auth, the CLI, the web app and the engine read the same
rows, and none of them should pay for an image library to learn a MIME type or a size limit.
"""

from __future__ import annotations

from dataclasses import dataclass

# Largest value a 31-bit signed size field holds (PNG, TIFF and BMP headers).
_INT31 = 2**31 - 1


@dataclass(frozen=True)
class ImageFormat:
    """One format: names, what it can hold, and the largest image its encoder or readers take.

    `readable`: accepted as an upload. `writable`: the engine encodes it. `requestable`: a client
    may name it in `format` or `accept`. `browsers`: every current major browser displays it
    (the web app asks only for these). `max_side`/`max_pixels` are the limits the libraries we
    ship (or the common decoders of our outputs) enforce, not only what the header could encode.
    """

    name: str
    label: str
    mime: str
    extensions: tuple[str, ...]
    readable: bool
    writable: bool
    requestable: bool
    browsers: bool
    alpha: bool
    animation: bool
    lossless: bool
    lossy: bool
    max_bit_depth: int
    max_side: int
    max_pixels: int | None = None
    # A palette format holds at most this many colours per frame (GIF: 256).
    max_colours: int | None = None

    @property
    def extension(self) -> str:
        """The extension an output file of this format gets, without the dot."""
        return self.extensions[0]

    def holds(self, width: int, height: int) -> bool:
        """Whether an image of `width` x `height` pixels fits this format's limits."""
        if not (1 <= width <= self.max_side and 1 <= height <= self.max_side):
            return False
        return self.max_pixels is None or width * height <= self.max_pixels


# fmt: off
FORMATS: dict[str, ImageFormat] = {
    f.name: f
    for f in (
        ImageFormat(
            "jpeg", "JPEG", "image/jpeg", ("jpg", "jpeg", "jpe", "jfif"),
            readable=True, writable=True, requestable=True, browsers=True,
            alpha=False, animation=False, lossless=False, lossy=True, max_bit_depth=8,
            # The header holds 65535; libjpeg(-turbo) refuses to encode beyond 65500.
            max_side=65_500,
        ),
        ImageFormat(
            "png", "PNG", "image/png", ("png", "apng"),
            readable=True, writable=True, requestable=True, browsers=True,
            alpha=True, animation=True, lossless=True, lossy=False, max_bit_depth=16,
            max_side=_INT31,
        ),
        ImageFormat(
            "webp", "WebP", "image/webp", ("webp",),
            readable=True, writable=True, requestable=True, browsers=True,
            alpha=True, animation=True, lossless=True, lossy=True, max_bit_depth=8,
            # 14-bit width and height fields in the VP8L/VP8X headers.
            max_side=16_383,
        ),
        ImageFormat(
            "avif", "AVIF", "image/avif", ("avif",),
            readable=True, writable=True, requestable=True, browsers=True,
            alpha=True, animation=True, lossless=True, lossy=True, max_bit_depth=12,
            # libavif's default decoder limits (AVIF_DEFAULT_IMAGE_DIMENSION_LIMIT and
            # AVIF_DEFAULT_IMAGE_SIZE_LIMIT): a bigger output would not open in most readers.
            max_side=32_768,
            max_pixels=16_384 * 16_384,
        ),
        ImageFormat(
            "jxl", "JPEG XL", "image/jxl", ("jxl",),
            # Read as stills; the engine refuses animated JPEG XL (unsupported_format).
            readable=True, writable=True, requestable=True, browsers=False,
            alpha=True, animation=True, lossless=True, lossy=True, max_bit_depth=16,
            # Level 5 of the codestream, which libjxl writes by default and every decoder reads.
            max_side=2**18,
            max_pixels=2**28,
        ),
        ImageFormat(
            "gif", "GIF", "image/gif", ("gif",),
            # Written only as the input itself or its lossless re-encode, never on request.
            readable=True, writable=True, requestable=False, browsers=True,
            alpha=True, animation=True, lossless=True, lossy=False, max_bit_depth=8,
            max_side=65_535, max_colours=256,
        ),
        ImageFormat(
            "heic", "HEIC", "image/heic", ("heic", "heif", "hif"),
            readable=True, writable=False, requestable=False, browsers=False,
            alpha=True, animation=False, lossless=False, lossy=True, max_bit_depth=10,
            # libheif's default security limit: 32768 x 32768 pixels.
            max_side=32_768,
            max_pixels=32_768 * 32_768,
        ),
        ImageFormat(
            "tiff", "TIFF", "image/tiff", ("tif", "tiff"),
            readable=True, writable=False, requestable=False, browsers=False,
            alpha=True, animation=False, lossless=True, lossy=False, max_bit_depth=16,
            max_side=2**32 - 1,
        ),
        ImageFormat(
            "bmp", "BMP", "image/bmp", ("bmp", "dib"),
            readable=True, writable=False, requestable=False, browsers=False,
            alpha=True, animation=False, lossless=True, lossy=False, max_bit_depth=8,
            max_side=_INT31,
        ),
    )
}
# fmt: on

# Every client displays these, so a browser's Accept header never has to name them.
ALWAYS_ACCEPTED = ("jpeg", "png")
READABLE = tuple(n for n, f in FORMATS.items() if f.readable)
WRITABLE = tuple(n for n, f in FORMATS.items() if f.writable)
REQUESTABLE = tuple(n for n, f in FORMATS.items() if f.requestable)
BROWSER_OUTPUTS = tuple(n for n in REQUESTABLE if FORMATS[n].browsers)
_BY_MIME = {f.mime: f for f in FORMATS.values()}


def get(name: str) -> ImageFormat:
    """The row for `name`; KeyError for a name the table does not hold."""
    return FORMATS[name]


def by_mime(mime: str) -> ImageFormat | None:
    """The format of a MIME type such as "image/webp" (parameters and case ignored)."""
    return _BY_MIME.get(mime.split(";")[0].strip().lower())


def mime_type(name: str) -> str:
    """The MIME type of `name`, or application/octet-stream for an unknown name."""
    row = FORMATS.get(name)
    return row.mime if row else "application/octet-stream"


def extension(name: str) -> str:
    """The file extension (no dot) an output of `name` gets; the name itself if unknown."""
    row = FORMATS.get(name)
    return row.extension if row else name
