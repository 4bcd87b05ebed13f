"""Baseline encoders, each searched to a given SSIMULACRA2 score on the same pixels as ours.

- libjpeg-turbo JPEG through Pillow (quality, optimize, 4:2:0);
- mozjpeg-grade JPEG: Pillow JPEG followed by the lossless mozjpeg pass (jpegtran-style);
- WebP and AVIF as libvips encodes them with imgproxy's defaults (WebP effort 4, AVIF speed 9,
  4:2:0), through pyvips.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from dataclasses import dataclass

import mozjpeg_lossless_optimization
import numpy as np
import pyvips
from PIL import Image

from services.processor.engine.search import Judge

Encoder = Callable[[Image.Image, int], bytes]


def _flat(im: Image.Image) -> Image.Image:
    if im.mode != "RGBA":
        return im
    canvas = Image.new("RGB", im.size, (255, 255, 255))
    canvas.paste(im, mask=im.getchannel("A"))
    return canvas


def turbo_jpeg(im: Image.Image, q: int) -> bytes:
    buf = io.BytesIO()
    _flat(im).save(buf, "JPEG", quality=q, optimize=True)
    return buf.getvalue()


def mozjpeg_lossless(im: Image.Image, q: int) -> bytes:
    return mozjpeg_lossless_optimization.optimize(turbo_jpeg(im, q))


def _vips(im: Image.Image) -> pyvips.Image:
    arr = np.ascontiguousarray(np.asarray(im))
    bands = 1 if arr.ndim == 2 else arr.shape[2]
    vi = pyvips.Image.new_from_memory(arr.tobytes(), im.width, im.height, bands, "uchar")
    return vi.copy(interpretation="b-w" if bands == 1 else "srgb")


def vips_webp(im: Image.Image, q: int) -> bytes:
    return _vips(im).webpsave_buffer(Q=q, effort=4, keep=pyvips.enums.ForeignKeep.NONE)


def vips_avif(im: Image.Image, q: int, effort: int = 0) -> bytes:
    """libvips' AVIF; its effort 0-9 is libaom speed 9-effort."""
    return _vips(im).heifsave_buffer(
        Q=q,
        effort=effort,
        compression="av1",
        subsample_mode="auto",
        keep=pyvips.enums.ForeignKeep.NONE,
    )


BASELINES: dict[str, Encoder] = {
    "turbo-jpeg": turbo_jpeg,
    "mozjpeg": mozjpeg_lossless,
    "vips-webp": vips_webp,
    "vips-avif": vips_avif,
}
ALPHA_CAPABLE = {"vips-webp", "vips-avif"}


@dataclass
class BaselineResult:
    name: str
    bytes: int | None  # None when even quality 100 does not reach the score
    quality: int | None
    score: float | None
    ms_per_mp: float | None


def search(name: str, im: Image.Image, judge: Judge, target: float) -> BaselineResult:
    """Lowest quality reaching `target` by bisection over 1..100; encode time of that setting."""
    encoder = BASELINES[name]
    lo, hi = 1, 100
    best: tuple[int, bytes, float] | None = None
    while lo <= hi:
        q = (lo + hi) // 2
        data = encoder(im, q)
        score = judge.score_bytes(data)
        if score >= target:
            best = (q, data, score)
            hi = q - 1
        else:
            lo = q + 1
    if best is None:
        return BaselineResult(name, None, None, None, None)
    q, data, score = best
    started = time.perf_counter()
    encoder(im, q)
    ms = (time.perf_counter() - started) * 1000
    return BaselineResult(name, len(data), q, score, ms / (im.width * im.height / 1e6))
