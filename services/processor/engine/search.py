"""Find the lowest encoder quality whose output still meets the SSIMULACRA2 target.

The search runs on a mosaic of tiles spread over the image (cheap to encode and score), and
only the chosen quality is encoded at full size and verified, stepping up if it falls short,
or bisecting down when the mosaic asked for far more quality than the whole image needs.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image

from picopt.kernel import malloc

from .metric import Ssimulacra2

TILE = 128
MOSAIC_GRID = 4
MOSAIC_MIN_PIXELS = 4 * (TILE * MOSAIC_GRID) ** 2
BACKGROUNDS = (26, 230)  # dark and light backdrops for judging transparency
# Outputs at least this large give their decoded pixels back to the system before the score.
RELEASE_MIN_PIXELS = 2_000_000


@dataclass
class Scored:
    """One encode with its score."""

    data: bytes
    quality: int | None
    score: float


@dataclass(frozen=True)
class Opened:
    """A file that decoded in full: its digest, pixel size and frame count."""

    digest: bytes
    size: tuple[int, int]
    frames: int


def digest(data: bytes) -> bytes:
    """What a decoded file is remembered by: its bytes' hash, not the bytes (a 12 MP output is
    megabytes)."""
    return hashlib.blake2b(data, digest_size=16).digest()


class Judge:
    """Scores encodes of one image; with transparency, the worse of a dark and light backdrop.

    It remembers each still file it decoded to score, so that the output it delivers is not
    decoded once more only to learn that it decodes (3-18 ms a job)."""

    def __init__(self, im: Image.Image, cache: bool | None = None) -> None:
        self.size = im.size
        self._opened: dict[bytes, Opened] = {}
        rgba = np.asarray(im.convert("RGBA")) if im.mode == "RGBA" else None
        self._alpha_refs = (
            [Ssimulacra2(_over(rgba, bg)) for bg in BACKGROUNDS] if rgba is not None else []
        )
        self._opaque_ref = Ssimulacra2(
            _over(rgba, 255) if rgba is not None else im if im.mode == "RGB" else rgb_pixels(im),
            cache=cache,
        )

    @property
    def opaque_reference(self) -> Ssimulacra2 | None:
        """The metric's prepared side of an opaque image's RGB pixels (None with alpha), for
        other scores against the very same pixels."""
        return None if self._alpha_refs else self._opaque_ref

    def opened(self, data: bytes) -> Opened | None:
        """What decoding these very bytes showed, when this judge scored them."""
        return self._opened.get(digest(data))

    def score_bytes(self, data: bytes) -> float:
        with Image.open(io.BytesIO(data)) as out:
            out.load()
            key = digest(data)
            self._opened[key] = Opened(key, out.size, getattr(out, "n_frames", 1))
            if self._alpha_refs and out.has_transparency_data:
                return self.score_image(out)
            if out.size != self.size:
                raise ValueError("output size differs from the source")
            pixels = rgb_pixels(out)
        # The decoded image is closed (its pixels freed) before the score's own work: 36 MB
        # less at the peak of a 12 MP job. Pillow's freed blocks stay in malloc's heap, where
        # the score's larger arrays (mapped on their own) never reuse them, so a large image's
        # are handed back first: a 12 MP job's peak 387-389 -> 357-359 MB (with the features'
        # copy gone, alternating probes), at the same CPU.
        if pixels.shape[0] * pixels.shape[1] >= RELEASE_MIN_PIXELS:
            malloc.release_freed()
        return self._opaque_ref.score(pixels)

    def score_image(self, out: Image.Image) -> float:
        if out.size != self.size:
            raise ValueError("output size differs from the source")
        if self._alpha_refs and out.has_transparency_data:
            rgba = np.asarray(out.convert("RGBA"))
            return min(
                ref.score(_over(rgba, bg))
                for ref, bg in zip(self._alpha_refs, BACKGROUNDS, strict=True)
            )
        return self._opaque_ref.score(rgb_pixels(out))


def rgb_pixels(im: Image.Image) -> np.ndarray:
    """The pixels as an RGB array, without an intermediate copy when they already are RGB (a
    12 MP image is 36 MB a copy)."""
    return np.asarray(im if im.mode == "RGB" else im.convert("RGB"))


def _over(rgba: np.ndarray, bg: int) -> np.ndarray:
    alpha = rgba[..., 3:4].astype(np.float32) / 255.0
    mixed = rgba[..., :3].astype(np.float32) * alpha + float(bg) * (1.0 - alpha)
    return np.clip(mixed + 0.5, 0, 255).astype(np.uint8)


def mosaic(im: Image.Image, min_pixels: int = MOSAIC_MIN_PIXELS, tile: int = TILE) -> Image.Image:
    """A grid of `tile`-pixel squares taken evenly across the image, or the image itself when
    it has no more than `min_pixels`."""
    if im.width * im.height <= min_pixels or min(im.size) < tile * 2:
        return im
    out = Image.new(im.mode, (tile * MOSAIC_GRID, tile * MOSAIC_GRID))
    for row in range(MOSAIC_GRID):
        for col in range(MOSAIC_GRID):
            cx = (col + 0.5) * im.width / MOSAIC_GRID
            cy = (row + 0.5) * im.height / MOSAIC_GRID
            left = int(min(max(cx - tile / 2, 0), im.width - tile)) // 16 * 16
            top = int(min(max(cy - tile / 2, 0), im.height - tile)) // 16 * 16
            out.paste(im.crop((left, top, left + tile, top + tile)), (col * tile, row * tile))
    return out


def lowest_passing(
    encode: Callable[[int], bytes],
    judge: Judge,
    target: float,
    lo: int,
    hi: int,
) -> Scored | None:
    """Bisect for the lowest quality in [lo, hi] meeting `target` (score rises with quality)."""
    best: Scored | None = None
    while lo <= hi:
        q = (lo + hi) // 2
        data = encode(q)
        s = Scored(data, q, judge.score_bytes(data))
        if s.score >= target:
            best = s if best is None or len(s.data) <= len(best.data) else best
            hi = q - 1
        else:
            lo = q + 1
    return best


def verify_up(
    encode: Callable[[int], bytes],
    judge: Judge,
    target: float,
    quality: int,
    ceiling: int,
    step: int = 2,
    attempts: int = 4,
) -> Scored | None:
    """Encode at `quality` and step up until the full-size output meets `target`."""
    q = quality
    for _ in range(attempts):
        data = encode(q)
        s = Scored(data, q, judge.score_bytes(data))
        if s.score >= target:
            return s
        if q >= ceiling:
            return None
        q = min(ceiling, q + step)
    return None


def refine_down(
    encode: Callable[[int], bytes],
    judge: Judge,
    target: float,
    passing: Scored,
    floor: int,
    attempts: int = 4,
) -> Scored:
    """Bisect below `passing.quality` (never under `floor`) for a smaller full-size encode that
    still meets `target`; `passing` itself when none does."""
    assert passing.quality is not None
    best = passing
    lo, hi = max(floor, passing.quality - 2**attempts), passing.quality - 1
    while lo <= hi:
        q = (lo + hi) // 2
        data = encode(q)
        s = Scored(data, q, judge.score_bytes(data))
        if s.score >= target:
            if len(s.data) < len(best.data):
                best = s
            hi = q - 1
        else:
            lo = q + 1
    return best
