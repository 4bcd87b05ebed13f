"""Real test images: photos that ship in scikit-image and the corpus, and a generated graphic."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from picopt.samples import graphic_png, skimage_photo

__all__ = ["CORPUS", "graphic_png", "large_photo", "skimage_photo"]

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus"


def large_photo() -> bytes:
    """A 12 MP camera JPEG (slow enough to kill a worker mid-job)."""
    path = CORPUS / "photo" / "dog_12mp_exif_orient6_xmp.jpg"
    if path.exists():
        return path.read_bytes()
    base = Image.open(skimage_photo("astronaut.png")).convert("RGB").resize((4000, 3000))
    buf = io.BytesIO()
    base.save(buf, "JPEG", quality=95)
    return buf.getvalue()
