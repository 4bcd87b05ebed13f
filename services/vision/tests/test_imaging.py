"""prepare_image: every input shape becomes an upright, bounded, 8-bit RGB image."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from services.vision.providers import UnreadableImageError, prepare_image
from services.vision.providers.imaging import INFO_FRAMES, INFO_HAS_ALPHA, INFO_SOURCE_SIZE
from services.vision.tests.images import encode


def test_exif_orientation_is_applied() -> None:
    img = Image.new("RGB", (200, 100), "red")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    out = prepare_image(encode(img, "JPEG", exif=exif))
    assert out.size == (100, 200)


def test_downscales_to_max_side_and_keeps_source_size() -> None:
    out = prepare_image(encode(Image.new("RGB", (3000, 1500), "blue"), "JPEG"), max_side=1024)
    assert max(out.size) == 1024
    assert out.info[INFO_SOURCE_SIZE] == (3000, 1500)


def test_dark_strokes_on_transparency_are_flattened_on_white() -> None:
    img = Image.new("RGBA", (100, 100), (0, 0, 0, 0))
    img.paste((0, 0, 0, 255), (40, 40, 60, 60))
    out = prepare_image(encode(img))
    assert out.mode == "RGB"
    assert out.getpixel((5, 5)) == (255, 255, 255)
    assert out.getpixel((50, 50)) == (0, 0, 0)
    assert out.info[INFO_HAS_ALPHA] is True


def test_light_strokes_on_transparency_are_flattened_on_black() -> None:
    img = Image.new("RGBA", (100, 100), (255, 255, 255, 0))
    img.paste((255, 255, 255, 255), (40, 40, 60, 60))
    out = prepare_image(encode(img))
    assert out.getpixel((5, 5)) == (0, 0, 0)
    assert out.getpixel((50, 50)) == (255, 255, 255)


def test_sixteen_bit_grey_is_scaled_not_clipped() -> None:
    arr = np.full((50, 50), 32768, dtype=np.uint16)
    out = prepare_image(encode(Image.fromarray(arr)))
    assert out.mode == "RGB"
    assert 120 <= np.asarray(out)[0, 0, 0] <= 135


def test_cmyk_jpeg_and_animated_gif() -> None:
    cmyk = prepare_image(encode(Image.new("CMYK", (40, 40), (0, 255, 255, 0)), "JPEG"))
    r, g, b = np.asarray(cmyk)[20, 20].tolist()
    assert r > 200 and g < 60 and b < 60

    frames = [Image.new("RGB", (30, 30), c) for c in ("red", "green", "blue")]
    gif = encode(frames[0], "GIF", save_all=True, append_images=frames[1:])
    assert prepare_image(gif).info[INFO_FRAMES] == 3


@pytest.mark.parametrize("data", [b"", b"not an image", b"\x89PNG\r\n\x1a\n" + b"\0" * 40])
def test_unreadable_bytes_raise_a_clear_error(data: bytes) -> None:
    with pytest.raises(UnreadableImageError):
        prepare_image(data)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "AVIF", "JXL", "GIF"])
def test_every_optimizer_output_format_decodes(fmt: str) -> None:
    import pillow_jxl  # noqa: F401  (registers JXL saving for this test)

    out = prepare_image(encode(Image.new("RGB", (64, 48), (200, 30, 30)), fmt))
    assert out.size == (64, 48) and out.mode == "RGB"
    r, g, _ = np.asarray(out)[10, 10].tolist()
    assert r > 150 and g < 80


def test_large_png_with_orientation_is_reduced_then_turned_upright() -> None:
    img = Image.new("RGB", (3000, 1000), "white")
    img.paste((255, 0, 0), (0, 0, 300, 1000))  # red band on the left edge
    exif = Image.Exif()
    exif[0x0112] = 6  # displayed rotated 90 degrees clockwise: the red band ends on top
    out = prepare_image(encode(img, "PNG", exif=exif), max_side=1024)
    assert out.size == (341, 1024)
    assert out.getpixel((170, 20)) == pytest.approx((255, 0, 0), abs=8)
    assert out.getpixel((170, 1000)) == pytest.approx((255, 255, 255), abs=8)


def test_an_mpo_gain_map_is_not_an_animation_frame() -> None:
    import io

    first, second = Image.new("RGB", (64, 48), "green"), Image.new("RGB", (64, 48), "grey")
    buf = io.BytesIO()
    first.save(buf, "MPO", save_all=True, append_images=[second])
    out = prepare_image(buf.getvalue())
    assert out.info[INFO_FRAMES] == 1 and out.size == (64, 48)
