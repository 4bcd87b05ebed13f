"""WebP through Pillow's libwebp: lossy, lossless and animated."""

from __future__ import annotations

from PIL import Image

from .base import Candidate, Codec, Extras, animation_params, lossy_and_lossless, save

METHOD = 4


class Webp(Codec):
    name = "webp"
    alpha = True
    animation = True
    lossless = True
    quality_range = (20, 100)
    low_detail_quality = 75

    def encode(self, im: Image.Image, quality: int | None, extras: Extras) -> bytes:
        if quality is None:
            return save(im, "WEBP", extras, lossless=True, quality=80, method=METHOD, exact=False)
        return save(im, "WEBP", extras, quality=quality, method=METHOD, alpha_quality=100)

    def encode_animation(
        self, frames: list[Image.Image], quality: int | None, extras: Extras
    ) -> bytes:
        common = animation_params(frames, extras)
        if quality is None:
            return save(
                frames[0], "WEBP", extras, lossless=True, quality=80, method=METHOD, **common
            )
        return save(frames[0], "WEBP", extras, quality=quality, method=METHOD, **common)

    def keeps_chroma(self, quality: int, chroma: str | None) -> bool:
        return False  # lossy WebP is always 4:2:0

    def candidates(
        self, graphic: bool, animated: bool, lossless: bool, alone: bool
    ) -> list[Candidate]:
        return lossy_and_lossless(self.name, graphic, lossless)
