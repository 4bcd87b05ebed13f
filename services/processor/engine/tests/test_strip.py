"""Lossless stripping keeps pixels bit-identical and removes private metadata and trailers."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from services.processor.engine import EngineError
from services.processor.engine.metadata import kept_exif
from services.processor.engine.strip import strip_losslessly

from .conftest import corpus_file, encode, exif_with_gps_and_serial, photo

TRAILER = b"PK\x03\x04 polyglot payload SERIAL-123456"


def _pixels(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGBA"))


@pytest.mark.parametrize(
    ("fmt", "pil", "params"),
    [
        ("jpeg", "JPEG", {"quality": 90, "comment": b"SERIAL-123456"}),
        ("png", "PNG", {}),
        ("webp", "WEBP", {"quality": 80}),
    ],
)
def test_strip_removes_exif_and_trailing_bytes(fmt: str, pil: str, params: dict) -> None:
    data = encode(photo(), pil, exif=exif_with_gps_and_serial(), **params) + TRAILER
    stripped = strip_losslessly(data, fmt, None)
    assert stripped is not None
    assert b"SERIAL-123456" not in stripped
    assert b"SpyCam" not in stripped
    assert b"polyglot" not in stripped
    assert np.array_equal(_pixels(stripped), _pixels(data))


def test_strip_gif_drops_comments_keeps_animation() -> None:
    frames = [photo(seed=i).quantize(16) for i in range(3)]
    data = encode(
        frames[0], "GIF", save_all=True, append_images=frames[1:], comment=b"SERIAL-123456", loop=0
    )
    stripped = strip_losslessly(data + TRAILER, "gif", None)
    assert stripped is not None and b"SERIAL-123456" not in stripped and b"polyglot" not in stripped
    with Image.open(io.BytesIO(stripped)) as im:
        assert getattr(im, "n_frames", 1) == 3


def test_strip_can_carry_the_copyright_fields() -> None:
    exif = exif_with_gps_and_serial()
    data = encode(photo(), "JPEG", exif=exif)
    stripped = strip_losslessly(data, "jpeg", kept_exif(exif, "copyright"))
    assert stripped is not None
    with Image.open(io.BytesIO(stripped)) as im:
        out = im.getexif()
    assert out.get(0x8298) == "(c) Ada" and 0x8825 not in out


def test_kept_exif_all_still_drops_gps_and_serials() -> None:
    data = kept_exif(exif_with_gps_and_serial(orientation=6), "all")
    assert data is not None
    assert b"SERIAL" not in data and b"LENS-" not in data
    out = Image.Exif()
    out.load(data)
    assert out.get(0x010F) == "SpyCam"
    assert 0x8825 not in out and 0x0112 not in out


def test_strip_refuses_truncated_jpeg() -> None:
    data = encode(photo(), "JPEG")
    with pytest.raises(EngineError) as err:
        strip_losslessly(data[:-200], "jpeg", None)
    assert err.value.code == "corrupt_image"


@pytest.mark.parametrize(
    "name",
    [
        "photo/flower_small_cmyk_gps.jpg",
        "photo/seine_city_ultrahdr_gps.jpg",
        "photo/window_iphone_p3_gainmap_gps.jpg",
        "lossless/coast_cliff_nikon_exif.png",
    ],
)
def test_strip_real_camera_files(name: str) -> None:
    data = corpus_file(name)
    fmt = "png" if name.endswith(".png") else "jpeg"
    stripped = strip_losslessly(data, fmt, None)
    assert stripped is not None and len(stripped) < len(data)
    with Image.open(io.BytesIO(stripped)) as im:
        exif = im.getexif()
        assert not exif.get_ifd(0x8825) and 0x8825 not in exif
        assert 0x010F not in exif
    assert np.array_equal(_pixels(stripped), _pixels(data))


@pytest.mark.parametrize(
    "name", ["animated/colors_animated_alpha_exif.avif", "modern/iphone13promax.heic"]
)
def test_isobmff_exif_and_xmp_are_blanked_in_place(name: str) -> None:
    data = corpus_file(name)
    stripped = strip_losslessly(data + TRAILER, "heic" if name.endswith(".heic") else "avif", None)
    assert stripped is not None and len(stripped) == len(data)
    assert b"xmpmeta" in data and b"xmpmeta" not in stripped
    with Image.open(io.BytesIO(stripped)) as im:
        assert not im.getexif()
    assert np.array_equal(_pixels(stripped), _pixels(data))


def test_bmp_drops_trailing_bytes() -> None:
    data = encode(photo(), "BMP")
    assert strip_losslessly(data + TRAILER, "bmp", None) == data
