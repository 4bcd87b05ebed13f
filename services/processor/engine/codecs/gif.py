"""GIF: a 256-colour palette, stills and animations, never searched (one lossless encode)."""

from __future__ import annotations

from PIL import Image

from .base import Candidate, Codec, Extras, animation_params, save


class Gif(Codec):
    name = "gif"
    alpha = True
    animation = True
    lossless = True
    quality_range = (100, 100)
    low_detail_quality = None

    def encode(self, im: Image.Image, quality: int | None, extras: Extras) -> bytes:
        return save(im, "GIF", extras, optimize=True)

    def encode_animation(
        self, frames: list[Image.Image], quality: int | None, extras: Extras
    ) -> bytes:
        common = animation_params(frames, extras)
        return save(frames[0], "GIF", extras, optimize=True, disposal=2, **common)

    def candidates(
        self, graphic: bool, animated: bool, lossless: bool, alone: bool
    ) -> list[Candidate]:
        return [Candidate(self.name, "lossless")]
