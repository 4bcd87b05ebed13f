"""GIF: a 256-colour palette, stills and animations, never searched (one lossless encode).

No EXIF; kept XMP goes into GIF's XMP application extension."""

from __future__ import annotations

from PIL import Image

from ..strip import strip_gif
from .base import Candidate, Codec, Extras, animation_params, save

PALETTE = 256


class Gif(Codec):
    name = "gif"
    alpha = True
    animation = True
    lossless = True
    quality_range = (100, 100)
    low_detail_quality = None

    def encode(self, im: Image.Image, quality: int | None, extras: Extras) -> bytes:
        return _with_xmp(save(im, "GIF", extras, optimize=True), extras)

    def encode_animation(
        self, frames: list[Image.Image], quality: int | None, extras: Extras
    ) -> bytes:
        common = animation_params(frames, extras)
        # Extras.loop counts plays; GIF's NETSCAPE block counts repeats after the first, and
        # an animation that plays once has none.
        if extras.loop == 1:
            del common["loop"]
        elif extras.loop > 1:
            common["loop"] = extras.loop - 1
        data = save(frames[0], "GIF", extras, optimize=True, disposal=2, **common)
        return _with_xmp(data, extras)

    def limit(self, frames: list[Image.Image], extras: Extras) -> str | None:
        """A GIF frame holds 256 colours (one of them may be fully transparent), nothing
        half-transparent: anything else would have to be quantised, which is not lossless."""
        if all(_palette_fits(f) for f in frames):
            return super().limit(frames, extras)
        return f"at most {PALETTE} colours a frame, none half-transparent"

    def candidates(
        self, graphic: bool, animated: bool, lossless: bool, alone: bool
    ) -> list[Candidate]:
        return [Candidate(self.name, "lossless")]


def _palette_fits(im: Image.Image) -> bool:
    if im.mode == "RGBA" and not set(im.getchannel("A").getdata()) <= {0, 255}:
        return False
    return im.getcolors(PALETTE) is not None


def _with_xmp(data: bytes, extras: Extras) -> bytes:
    return strip_gif(data, extras.xmp) if extras.xmp else data
