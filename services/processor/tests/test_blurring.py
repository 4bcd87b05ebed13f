"""Blurred copies keep format, size and frames, and lose their detail."""

from __future__ import annotations

import io

import numpy as np
import pillow_jxl  # noqa: F401  (JXL decoding for the check)
import pytest
from PIL import Image

from services.processor.blurring import blurred_copy


def _checkerboard(size: int = 96) -> Image.Image:
    cells = (np.indices((size, size)).sum(axis=0) // 4) % 2
    return Image.fromarray((cells * 255).astype(np.uint8)).convert("RGB")


def _sharpness(data: bytes) -> float:
    grey = np.asarray(Image.open(io.BytesIO(data)).convert("L"), dtype=np.float64)
    lap = grey[1:-1, :-2] + grey[1:-1, 2:] + grey[:-2, 1:-1] + grey[2:, 1:-1] - 4 * grey[1:-1, 1:-1]
    return float(lap.var())


def _encoded(image: Image.Image, pil_format: str, **params: object) -> bytes:
    buf = io.BytesIO()
    image.save(buf, pil_format, **params)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("fmt", "pil_format"),
    [("jpeg", "JPEG"), ("png", "PNG"), ("webp", "WEBP"), ("avif", "AVIF"), ("jxl", "JXL")],
)
def test_a_blurred_copy_keeps_format_and_size_and_loses_detail(fmt: str, pil_format: str) -> None:
    original = _encoded(_checkerboard(), pil_format)
    blurred = blurred_copy(original, fmt)
    assert Image.open(io.BytesIO(blurred)).format == pil_format
    assert Image.open(io.BytesIO(blurred)).size == (96, 96)
    assert _sharpness(blurred) < _sharpness(original) / 50


def test_every_frame_of_an_animation_is_blurred() -> None:
    frames = [_checkerboard(), _checkerboard().rotate(90)]
    original = _encoded(frames[0], "WEBP", save_all=True, append_images=frames[1:], duration=100)
    blurred = Image.open(io.BytesIO(blurred_copy(original, "webp")))
    assert getattr(blurred, "n_frames", 1) == 2
    for index in range(2):
        blurred.seek(index)
        frame = _encoded(blurred.convert("RGB"), "PNG")
        assert _sharpness(frame) < _sharpness(_encoded(frames[index], "PNG")) / 50
