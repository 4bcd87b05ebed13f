"""Placeholders shown while the real image loads: a BlurHash string and a tiny data URI."""

from __future__ import annotations

import base64
import io

import blurhash
from PIL import Image

LQIP_WIDTH = 16
BLURHASH_SIDE = 32


def blurhash_of(im: Image.Image) -> str:
    """BlurHash with more components along the longer side (4x3 or 3x4)."""
    small = im.convert("RGB")
    small.thumbnail((BLURHASH_SIDE, BLURHASH_SIDE))
    x, y = (4, 3) if im.width >= im.height else (3, 4)
    return str(blurhash.encode(small, x_components=x, y_components=y))


def lqip_of(im: Image.Image) -> str:
    """A 16 px wide WebP as a data URI, a few hundred bytes."""
    height = max(1, round(im.height * LQIP_WIDTH / im.width))
    small = im.resize((LQIP_WIDTH, height), Image.Resampling.BOX)
    buf = io.BytesIO()
    small.save(buf, "WEBP", quality=40)
    return "data:image/webp;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
