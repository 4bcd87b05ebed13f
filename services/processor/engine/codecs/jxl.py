"""JPEG XL through pillow_jxl (libjxl): lossy and lossless stills."""

from __future__ import annotations

import pillow_jxl  # noqa: F401  (registers the JXL plugin with Pillow)
from PIL import Image

from .base import Candidate, Codec, Extras, lossy_and_lossless, save

EFFORT = 7


class Jxl(Codec):
    name = "jxl"
    alpha = True
    animation = False
    lossless = True
    quality_range = (20, 98)
    low_detail_quality = 75

    def encode(self, im: Image.Image, quality: int | None, extras: Extras) -> bytes:
        if quality is None:
            return save(im, "JXL", extras, lossless=True, effort=EFFORT)
        return save(im, "JXL", extras, quality=quality, effort=EFFORT)

    def candidates(
        self, graphic: bool, animated: bool, lossless: bool, alone: bool
    ) -> list[Candidate]:
        return lossy_and_lossless(self.name, graphic, lossless)
