"""Every input kind decodes to oriented 8-bit sRGB pixels; bad input fails with a stable code."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageCms

from services.processor.engine import EngineError, Limits, detect_format
from services.processor.engine.decode import decode
from services.processor.engine.jxl_header import JxlHeader, read_header

from .conftest import encode, exif_with_gps_and_serial, graphic, photo


@pytest.mark.parametrize(
    ("fmt", "params", "expected"),
    [
        ("JPEG", {}, "jpeg"),
        ("PNG", {}, "png"),
        ("GIF", {}, "gif"),
        ("WEBP", {}, "webp"),
        ("AVIF", {}, "avif"),
        ("HEIF", {}, "heic"),
        ("TIFF", {}, "tiff"),
        ("BMP", {}, "bmp"),
    ],
)
def test_detects_and_decodes_each_input_format(fmt: str, params: dict, expected: str) -> None:
    data = encode(photo(), fmt, **params)
    assert detect_format(data) == expected
    decoded = decode(data, Limits())
    assert decoded.format == expected
    assert (decoded.width, decoded.height) == (96, 64)
    assert decoded.frames[0].mode in ("RGB", "L")
    assert decoded.frames[0].info == {}


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"hello world",
        b"%PDF-1.7\n",
        b"<svg xmlns='http://www.w3.org/2000/svg'/>",
        b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom",
    ],
)
def test_refuses_non_images(data: bytes) -> None:
    with pytest.raises(EngineError) as err:
        detect_format(data)
    assert err.value.code == "unsupported_format"


def test_mislabelled_content_is_corrupt_not_guessed() -> None:
    """JPEG magic followed by a PNG body must not be decoded as a PNG."""
    data = b"\xff\xd8\xff" + encode(photo(), "PNG")
    with pytest.raises(EngineError) as err:
        decode(data, Limits())
    assert err.value.code == "corrupt_image"


def test_truncated_jpeg_is_corrupt(jpeg_bytes: bytes) -> None:
    with pytest.raises(EngineError) as err:
        decode(jpeg_bytes[: len(jpeg_bytes) // 2], Limits())
    assert err.value.code == "corrupt_image"


def test_truncated_png_is_corrupt() -> None:
    data = encode(photo(), "PNG")
    with pytest.raises(EngineError) as err:
        decode(data[:200], Limits())
    assert err.value.code == "corrupt_image"


def test_progressive_jpeg() -> None:
    data = encode(photo(), "JPEG", progressive=True, quality=90)
    assert decode(data, Limits()).frames[0].size == (96, 64)


def test_cmyk_jpeg_becomes_rgb() -> None:
    data = encode(photo().convert("CMYK"), "JPEG", quality=95)
    frame = decode(data, Limits()).frames[0]
    assert frame.mode == "RGB"
    assert abs(np.asarray(frame, dtype=float).mean() - np.asarray(photo(), dtype=float).mean()) < 30


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_to_pixels(orientation: int) -> None:
    im = Image.new("RGB", (80, 40), (0, 0, 255))
    im.paste((255, 0, 0), (0, 0, 20, 20))  # red marks the stored top-left corner
    exif = Image.Exif()
    exif[0x0112] = orientation
    decoded = decode(encode(im, "JPEG", quality=95, exif=exif), Limits())
    frame = decoded.frames[0]
    expected = (40, 80) if orientation >= 5 else (80, 40)
    assert frame.size == expected
    reference = im.transpose(_TRANSPOSE[orientation]) if orientation > 1 else im
    diff = np.abs(np.asarray(frame, dtype=int) - np.asarray(reference, dtype=int)).mean()
    assert diff < 8


_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def test_png_palette_grey_alpha_interlaced_and_16_bit() -> None:
    base = photo()
    palette = decode(encode(base.quantize(64), "PNG"), Limits()).frames[0]
    assert palette.mode == "RGB"
    grey = decode(encode(base.convert("L"), "PNG"), Limits()).frames[0]
    assert grey.mode == "L"
    alpha = decode(encode(graphic(), "PNG"), Limits()).frames[0]
    assert alpha.mode == "RGBA"
    interlaced = decode(_interlaced_png(base), Limits()).frames[0]
    assert np.array_equal(np.asarray(interlaced), np.asarray(base))
    deep = np.asarray(base.convert("L"), dtype=np.uint16) * 257
    sixteen = decode(encode(Image.fromarray(deep), "PNG"), Limits()).frames[0]
    assert sixteen.mode == "L"
    assert np.abs(np.asarray(sixteen, dtype=int) - np.asarray(base.convert("L"))).max() <= 1


def _interlaced_png(im: Image.Image) -> bytes:
    """Pillow cannot write Adam7, so build it: 7 passes of filtered scanlines."""
    arr = np.asarray(im)
    passes = [
        (0, 0, 8, 8),
        (4, 0, 8, 8),
        (0, 4, 4, 8),
        (2, 0, 4, 4),
        (0, 2, 2, 4),
        (1, 0, 2, 2),
        (0, 1, 1, 2),
    ]
    raw = b""
    for x0, y0, dx, dy in passes:
        sub = arr[y0::dy, x0::dx]
        if sub.size:
            raw += b"".join(b"\x00" + row.tobytes() for row in sub)
    h, w = arr.shape[:2]

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 1)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def test_animated_gif_and_webp_keep_all_frames() -> None:
    frames = [photo(seed=i).quantize(32) for i in range(4)]
    gif = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=70, loop=0)
    decoded = decode(gif, Limits())
    assert len(decoded.frames) == 4
    assert decoded.durations == [70] * 4
    webp = encode(photo(), "WEBP", save_all=True, append_images=[photo(seed=2)], duration=50)
    assert len(decode(webp, Limits()).frames) == 2


def test_embedded_profile_is_converted_to_srgb() -> None:
    p3 = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
    data = encode(photo(), "JPEG", quality=95, icc_profile=p3.tobytes())
    decoded = decode(data, Limits())
    assert decoded.icc_profile is None
    assert decode(data, Limits(), keep_icc=True).icc_profile == p3.tobytes()


def test_too_large() -> None:
    with pytest.raises(EngineError) as err:
        decode(encode(photo(), "PNG"), Limits(max_bytes=100))
    assert err.value.code == "too_large"


def test_too_many_pixels_counts_all_frames() -> None:
    frames = [photo(seed=i).quantize(16) for i in range(3)]
    gif = encode(frames[0], "GIF", save_all=True, append_images=frames[1:])
    decode(gif, Limits(max_pixels=96 * 64 * 3))
    with pytest.raises(EngineError) as err:
        decode(gif, Limits(max_pixels=96 * 64 * 3 - 1))
    assert err.value.code == "too_many_pixels"


def test_too_many_frames() -> None:
    frames = [photo(seed=i).quantize(16) for i in range(3)]
    gif = encode(frames[0], "GIF", save_all=True, append_images=frames[1:])
    with pytest.raises(EngineError) as err:
        decode(gif, Limits(max_frames=2))
    assert err.value.code == "too_many_frames"


def test_decompression_bomb_is_refused_before_decoding() -> None:
    """A 100k x 100k PNG whose compressed data is tiny: refused from the header alone."""
    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)
    body = zlib.compress(b"\x00" * 10_000)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    bomb = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body) + chunk(b"IEND", b"")
    with pytest.raises(EngineError) as err:
        decode(bomb, Limits())
    assert err.value.code == "too_many_pixels"


def test_gps_exif_is_read_for_policy_but_not_kept_on_pixels() -> None:
    data = encode(photo(), "JPEG", exif=exif_with_gps_and_serial())
    decoded = decode(data, Limits())
    assert decoded.exif is not None and decoded.exif.get(0x010F) == "SpyCam"
    assert "exif" not in decoded.frames[0].info


def test_decoded_image_is_a_copy_of_the_source_pixels() -> None:
    src = photo()
    out = decode(encode(src, "PNG"), Limits()).frames[0]
    assert np.array_equal(np.asarray(out), np.asarray(src))


# Two 8x8 frames (40 and 90 ms), written by libjxl's cjxl from a GIF: Pillow's JXL plugin
# cannot write animations, so this one is kept as bytes.
ANIMATED_JXL = bytes.fromhex(
    "ff0a41040158505c1208082001000064004b188b15c24902e605240018f2a91c0b03000000000000000008"
    "086042000060004b188b15c249835dbe80040071a79a0b0000000000000000"
)


@pytest.mark.parametrize("params", [{}, {"use_container": True}, {"lossless": True}])
def test_jpeg_xl_is_sniffed_and_decoded(params: dict) -> None:
    data = encode(photo(), "JXL", **params)
    assert detect_format(data) == "jxl"
    decoded = decode(data, Limits())
    assert decoded.format == "jxl" and decoded.frames[0].size == (96, 64)


def test_jpeg_xl_header_gives_size_and_animation() -> None:
    assert read_header(encode(photo(1, 700), "JXL")) == JxlHeader(1, 700, False)
    assert read_header(encode(photo(64, 64), "JXL")) == JxlHeader(64, 64, False)
    assert read_header(ANIMATED_JXL) == JxlHeader(8, 8, True)


def test_animated_jpeg_xl_is_refused_with_a_code() -> None:
    with pytest.raises(EngineError) as err:
        decode(ANIMATED_JXL, Limits())
    assert err.value.code == "unsupported_format"


def test_jpeg_xl_pixel_limit_is_checked_on_the_header_before_decoding() -> None:
    data = encode(photo(), "JXL")
    with pytest.raises(EngineError) as err:
        decode(data[:40], Limits(max_pixels=96 * 64 - 1))  # too short to decode at all
    assert err.value.code == "too_many_pixels"


def test_damaged_jpeg_xl_is_corrupt() -> None:
    data = encode(photo(), "JXL")
    with pytest.raises(EngineError) as err:
        decode(data[: len(data) // 2], Limits())
    assert err.value.code == "corrupt_image"


def test_jpeg_xl_orientation_comes_from_the_codestream_not_exif() -> None:
    """libjxl applies the codestream's orientation; an EXIF orientation must not rotate again."""
    exif = Image.Exif()
    exif[0x0112] = 6
    decoded = decode(encode(photo(), "JXL", exif=exif.tobytes()), Limits())
    assert decoded.frames[0].size == (96, 64) and decoded.orientation == 1
