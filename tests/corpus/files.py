"""The engine corpus, generated at test time: one small file per case of issue 14 and more of
each class (extreme aspect ratios at each format's limit, every animated input format with
irregular delays, modern stills that are already small, near-limit pixel counts, damaged and
hostile files). Each case names the options it is sent with and what it must give.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pillow_heif
import pillow_jxl  # noqa: F401  (registers the JXL writer)
from PIL import Image, ImageDraw

from services.processor.engine.tests.conftest import encode, photo
from services.processor.engine.tests.test_animation import animation
from services.processor.engine.tests.test_detect_decode import ANIMATED_JXL
from services.processor.engine.tests.test_rights import XMP


@dataclass(frozen=True)
class Case:
    """One corpus file: how to make it, the job options (as the API spells them) and what must
    come back: `code` an error code, or `format` the main output's format (None: any)."""

    name: str
    make: Callable[[], bytes]
    options: dict[str, object] = field(default_factory=dict)
    code: str | None = None
    format: str | None = None
    slow: bool = False


def save(im: Image.Image, fmt: str, **params: object) -> bytes:
    """The engine tests' encoder, with HEIF's quality settable."""
    if fmt == "HEIF":
        buf = io.BytesIO()
        pillow_heif.from_pillow(im).save(buf, quality=params.get("quality", 50))
        return buf.getvalue()
    return encode(im, fmt, **params)


def line(width: int, height: int) -> Image.Image:
    """Black with a white tick every 97 pixels: an extreme aspect ratio that stays tiny."""
    arr = np.zeros((height, width), np.uint8)
    if width >= height:
        arr[:, ::97] = 255
    else:
        arr[::97, :] = 255
    return Image.fromarray(arr, "L")


def mostly_empty(width: int, height: int) -> bytes:
    """A near-limit pixel count that compresses to almost nothing."""
    im = Image.new("L", (width, height), 0)
    ImageDraw.Draw(im).rectangle((100, 100, 420, 300), fill=255)
    return save(im, "PNG", optimize=True)


def flat_gif() -> bytes:
    """Thirty flat 4x4 frames: nothing beats the GIF itself (the KeyError: 'gif' case)."""
    frames = [Image.new("P", (4, 4), i % 4) for i in range(30)]
    for f in frames:
        f.putpalette([0, 0, 0, 255, 0, 0, 0, 0, 255, 255, 255, 255])
    return save(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=70, loop=0)


def dithered_gif(count: int = 12) -> bytes:
    """A dithered animation (like a film scan): lossy WebP never reaches the target on it."""
    frames = []
    for i in range(count):
        frames.append(photo(96, 64, seed=i).convert("L").convert("1").convert("P"))
    delays = [40, 80, 40, 120, 40, 60, 40, 200, 40, 90, 40, 300][:count]
    return save(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=delays)


def gif_frame_past_canvas() -> bytes:
    """The second frame is stored half outside the logical screen."""
    palette = [255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255]
    first, second = Image.new("P", (40, 30), 0), Image.new("P", (40, 30), 3)
    for im in (first, second):
        im.putpalette(palette)
    second.paste(1, (0, 0, 20, 20))
    data = bytearray(
        save(first, "GIF", save_all=True, append_images=[second], duration=[50, 120], loop=0)
    )
    descriptor = data.index(b"\x2c", data.index(b"\x2c") + 1)
    struct.pack_into("<HH", data, descriptor + 1, 30, 20)
    return bytes(data)


def png_claiming(width: int, height: int) -> bytes:
    """A PNG header claiming a huge size over almost no data (a decompression bomb)."""
    data = bytearray(save(Image.new("L", (8, 8)), "PNG"))
    struct.pack_into(">II", data, 16, width, height)
    struct.pack_into(">I", data, 29, zlib.crc32(bytes(data[12:29])))  # IHDR's own checksum
    return bytes(data)


def bilevel_tiff() -> bytes:
    im = Image.new("1", (300, 80), 1)
    ImageDraw.Draw(im).text((10, 10), "PICTURE OPTIMIZER 1234567890", fill=0)
    return save(im, "TIFF", compression="group4")


def jpeg_with_rights() -> bytes:
    exif = Image.Exif()
    exif[0x8298] = "(c) Ada"
    exif[0x8825] = {1: "N", 2: (51.0, 30.0, 0.0)}
    return save(photo(160, 120), "JPEG", quality=92, exif=exif, xmp=XMP)


CASES: tuple[Case, ...] = (
    # The cases of issue 14.
    Case("gif_itself_is_best.gif", flat_gif, format="gif"),
    Case("wide_60000x1.png", lambda: save(line(60000, 1), "PNG"), format="png"),
    Case("tall_1x60000.png", lambda: save(line(1, 60000), "PNG"), format="png"),
    Case(
        "animation_as_jpeg.gif", lambda: animation("gif", loop=0), {"format": "jpeg"}, format="jpeg"
    ),
    Case("gif_frame_past_canvas.gif", gif_frame_past_canvas),
    Case("near_limit_98mp.png", lambda: mostly_empty(9899, 9899), format="png", slow=True),
    Case("small_avif_still.avif", lambda: save(photo(256, 192), "AVIF", quality=40)),
    Case("small_heic_still.heic", lambda: save(photo(256, 192), "HEIF", quality=40)),
    Case("bilevel.tiff", bilevel_tiff),
    Case("dithered_accept_webp.gif", dithered_gif, {"accept": ["webp"]}, format="webp"),
    Case("dithered_resized.gif", dithered_gif, {"width": 70}),
    Case("dithered_as_avif.gif", lambda: dithered_gif(4), {"format": "avif"}, format="avif"),
    Case(
        "avif_quality_100.png",
        lambda: save(photo(96, 64), "PNG"),
        {"format": "avif", "quality": "100"},
        format="avif",
    ),
    Case("animated_timing.webp", lambda: animation("webp", loop=3)),
    Case("animated_timing.avif", lambda: animation("avif")),
    Case("jxl_still.jxl", lambda: save(photo(128, 96), "JXL", quality=60)),
    Case("jxl_animated.jxl", lambda: ANIMATED_JXL, code="unsupported_format"),
    Case("rights.jpg", jpeg_with_rights, {"keep_metadata": "copyright"}),
    Case("widths_past_source.png", lambda: save(photo(200, 100), "PNG"), {"widths": [80, 5000]}),
    Case(
        "webp_named_too_wide.png",
        lambda: save(line(16384, 2), "PNG"),
        {"format": "webp"},
        code="format_limit",
    ),
    # Extreme aspect ratios at each input format's own limit.
    Case("webp_at_limit_16383x1.webp", lambda: save(line(16383, 1), "WEBP", lossless=True)),
    Case("jpeg_at_limit_2x65500.jpg", lambda: save(line(2, 65500), "JPEG", quality=80)),
    Case("gif_at_limit_65535x1.gif", lambda: save(line(65535, 1).convert("P"), "GIF")),
    Case(
        "png_past_webp_1x16384.png",
        lambda: save(line(1, 16384), "PNG"),
        {"accept": ["webp"]},
        format="png",
    ),
    # Every animated input format, irregular delays.
    Case("animated.gif", lambda: animation("gif", loop=2)),
    Case("animated.png", lambda: animation("png", loop=0)),
    Case("animated_once.webp", lambda: animation("webp", loop=1)),
    # Modern stills that are already small, with their own format accepted.
    Case(
        "small_avif_accepted.avif",
        lambda: save(photo(256, 192), "AVIF", quality=30),
        {"accept": ["avif", "webp"]},
        format="avif",
    ),
    Case(
        "small_jxl_accepted.jxl",
        lambda: save(photo(256, 192), "JXL", quality=40),
        {"accept": ["jxl", "webp"]},
        format="jxl",
    ),
    # Pixel limits: claimed by a header, under and over.
    Case("bomb_100000x100000.png", lambda: png_claiming(100_000, 100_000), code="too_many_pixels"),
    # Damaged and hostile.
    Case("empty.jpg", lambda: b"", code="unsupported_format"),
    Case("truncated.jpg", lambda: save(photo(300, 200), "JPEG")[:400], code="corrupt_image"),
    Case(
        "ftyp_claims_everything.avif",
        lambda: struct.pack(">I", 1 << 30) + b"ftypavif" + bytes(64),
        code="corrupt_image",
    ),
    Case("not_an_image.png", lambda: b"%PDF-1.7\n" + bytes(100), code="unsupported_format"),
)
