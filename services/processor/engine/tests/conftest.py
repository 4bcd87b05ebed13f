"""Small synthetic images in every input format, built in memory so tests stay fast."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pillow_heif
import pytest
from PIL import Image

CORPUS = Path(__file__).resolve().parents[4].parent / "shared" / "corpus"


def photo(width: int = 96, height: int = 64, seed: int = 1) -> Image.Image:
    """Smooth gradients plus texture: behaves like a photo for the encoders and the metric."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack(
        [
            128 + 100 * np.sin(x / 9.0 + seed),
            128 + 90 * np.cos(y / 7.0),
            128 + 80 * np.sin((x + y) / 13.0),
        ],
        axis=-1,
    )
    base += rng.normal(0, 6, (height, width, 1))  # luminance grain, like sensor noise
    return Image.fromarray(np.clip(base, 0, 255).astype(np.uint8), "RGB")


def graphic(width: int = 96, height: int = 64) -> Image.Image:
    """Flat shapes with transparency, a handful of colours."""
    im = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    arr = np.asarray(im).copy()
    arr[8:40, 8:60] = (220, 30, 30, 255)
    arr[30:60, 40:90] = (20, 90, 200, 255)
    return Image.fromarray(arr, "RGBA")


def encode(im: Image.Image, fmt: str, **params: object) -> bytes:
    buf = io.BytesIO()
    if fmt == "HEIF":
        pillow_heif.from_pillow(im).save(buf, quality=90)
    else:
        im.save(buf, fmt, **params)
    return buf.getvalue()


def exif_with_gps_and_serial(orientation: int = 1) -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "SpyCam"  # Make
    exif[0x0110] = "Model X"  # Model
    exif[0x013B] = "Ada Lovelace"  # Artist
    exif[0x8298] = "(c) Ada"  # Copyright
    exif[0x0112] = orientation
    exif[0x8825] = {1: "N", 2: (51.0, 30.0, 0.0), 3: "W", 4: (0.0, 7.0, 0.0)}
    exif[0x8769] = {0xA431: "SERIAL-123456", 0xA435: "LENS-987654"}
    return exif


@pytest.fixture
def make_photo() -> Callable[..., Image.Image]:
    return photo


@pytest.fixture
def jpeg_bytes() -> bytes:
    return encode(photo(), "JPEG", quality=95)


def corpus_file(relative: str) -> bytes:
    path = CORPUS / relative
    if not path.exists():
        pytest.skip(f"benchmark corpus not available at {CORPUS}")
    return path.read_bytes()
