"""PNG: lossless through oxipng; below quality 100, an imagequant palette first."""

from __future__ import annotations

import imagequant
import oxipng
from PIL import Image, PngImagePlugin

from .base import Candidate, Codec, Extras, animation_params, save

# oxipng's row-by-row filter trials cost per row whatever the width: a 60000x1 image took 16 s
# at level 2 (the bigram heuristic) and 0.3 s with MinSum alone, for a few hundred bytes more.
TALL_ROWS = 8192
# Search encodes use level 2; at effort `max` the winner is recompressed at `oxipng -o6`, then
# its deflate streams redone with zopfli up to ZOPFLI_MAX_PIXELS (a 0.13 MP screenshot: 69,103
# bytes at level 2, 68,551 at level 6, 68,441 with zopfli after it; the zopfli pass took 12 s
# with the 2 cores at load 8, level 6 with zopfli in each trial 139 s).
MAX_EFFORT_LEVEL = 6
ZOPFLI_MAX_PIXELS = 500_000
ZOPFLI_ITERATIONS = 15


class Png(Codec):
    name = "png"
    alpha = True
    animation = True
    lossless = True
    quality_range = (10, 100)  # imagequant's max_quality
    low_detail_quality = None

    def encode(self, im: Image.Image, quality: int | None, extras: Extras) -> bytes:
        if quality is not None and quality < 100:
            im = imagequant.quantize_pil_image(
                im.convert("RGBA"), dithering_level=1.0, max_colors=256, max_quality=quality
            )
        raw = save(im, "PNG", extras, compress_level=1, pnginfo=_xmp_chunk(extras))
        return _oxipng(raw, 2, im.height)

    def recompress(self, data: bytes, width: int, height: int, effort: str) -> bytes:
        if effort != "max":
            return data
        out = _oxipng(data, MAX_EFFORT_LEVEL, height)
        if width * height <= ZOPFLI_MAX_PIXELS:
            zopfli = oxipng.Deflaters.zopfli(ZOPFLI_ITERATIONS)
            out = oxipng.optimize_from_memory(out, level=0, deflate=zopfli)
        return out if len(out) < len(data) else data

    def encode_animation(
        self, frames: list[Image.Image], quality: int | None, extras: Extras
    ) -> bytes:
        return save(
            frames[0],
            "PNG",
            extras,
            optimize=True,
            pnginfo=_xmp_chunk(extras),
            **animation_params(frames, extras),
        )

    def candidates(
        self, graphic: bool, animated: bool, lossless: bool, alone: bool
    ) -> list[Candidate]:
        """A palette pays for drawn content; for a photo PNG is only worth it when asked for
        alone."""
        if animated or lossless:
            return [Candidate(self.name, "lossless")]
        if graphic or alone:
            return [Candidate(self.name, "palette"), Candidate(self.name, "lossless")]
        return []


def _oxipng(data: bytes, level: int, rows: int) -> bytes:
    if rows > TALL_ROWS:
        return oxipng.optimize_from_memory(data, level=level, filter=[oxipng.RowFilter.MinSum])
    return oxipng.optimize_from_memory(data, level=level)


def _xmp_chunk(extras: Extras) -> PngImagePlugin.PngInfo | None:
    """The kept XMP as PNG's iTXt chunk (Pillow's PNG writer has no `xmp` parameter)."""
    if not extras.xmp:
        return None
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", extras.xmp.decode("utf-8", "replace"), zip=False)
    return info
