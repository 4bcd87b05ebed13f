"""Predicted encoder settings instead of a search (the `balanced` and `fast` efforts).

A small model per codec (and encoder variant) maps cheap image features and the target score to
the encoder quality that reaches it, and to the bytes per pixel that costs (to rank formats
before encoding any). The features are computed once per output on a sample of full-resolution
tiles (fine texture, noise) and a small proxy of the whole image (structure). The models are
fitted by `python -m bench.predictor` on images the project ships; its parameters live in
predictor.json beside this module. A prediction is only a starting point: every output is
verified at full size (see predicted.py).
"""

from __future__ import annotations

import functools
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .metric import Ssimulacra2
from .search import MOSAIC_GRID, mosaic, rgb_pixels

PARAMS = Path(__file__).with_name("predictor.json")
FEATURES = (
    "log_pixels",
    "detail_gradient",
    "detail_laplacian",
    "flat_share",
    "busy_share",
    "luma_mean",
    "luma_std",
    "chroma_gradient",
    "chroma_level",
    "proxy_gradient",
    "probe_score",
    "probe_log_bpp",
    "chroma_ceiling",
)
# The whole image is looked at this small; fine detail comes from full-resolution tiles.
PROXY_SIDE = 256
SAMPLE_MIN_PIXELS = 512 * 512
# The probe JPEG and the chroma ceiling are scored on a smaller mosaic of full-resolution
# tiles (4x4 of 64 px): half the features' cost (49 -> 26 ms median on the fit's images) for
# the same held-out error (quality MAE over the six models 3.97 -> 4.01; on 64 px tiles for
# every feature 4.09 at 17 ms).
PROBE_TILE = 64
PROBE_MIN_PIXELS = (PROBE_TILE * MOSAIC_GRID) ** 2
BLOCK = 8
FLAT_STD = 1.5
BUSY_STD = 20.0
# One JPEG encode of the full-resolution sample at this quality, scored: how this content
# responds to compression, the strongest single hint of the quality a target needs.
PROBE_QUALITY = 70
# Quality units per score point never taken below this for a correction (typical: 1.3-1.7).
MIN_SLOPE = 1.0
# Scores are centred and scaled so that the coefficients stay readable.
SCORE_CENTRE = 80.0
SCORE_SCALE = 10.0


@dataclass(frozen=True)
class Sampled:
    """An image's features, with its full-resolution sample and the metric's prepared side of
    that sample, both made when first asked for (only an image ten times the sample's size, at
    `balanced`, encodes the sample: see predicted._sample_scout)."""

    features: np.ndarray
    image: Image.Image

    @functools.cached_property
    def sample(self) -> Image.Image:
        """The sample in the image's own mode (the image itself when small)."""
        return mosaic(self.image, SAMPLE_MIN_PIXELS)

    @functools.cached_property
    def reference(self) -> Ssimulacra2:
        """The metric's side of the sample."""
        return Ssimulacra2(np.asarray(self.sample.convert("RGB")), cache=True)

    def score_bytes(self, data: bytes) -> float:
        """The score of an encode of the sample."""
        return _score_encoded(self.reference, data)


def features(im: Image.Image, reference: Ssimulacra2 | None = None) -> np.ndarray:
    """The feature vector (in FEATURES order) of an 8-bit L/RGB/RGBA image."""
    return sampled(im, reference).features


def sampled(im: Image.Image, reference: Ssimulacra2 | None = None) -> Sampled:
    """The features of an 8-bit L/RGB/RGBA image. `reference`: the metric's prepared side of
    the image's RGB pixels (the job's judge), reused when a sample is the whole image."""
    rgb = im if im.mode == "RGB" else im.convert("RGB")  # a copy of a 12 MP image is 48 MB
    tiles = mosaic(rgb, SAMPLE_MIN_PIXELS)
    detail = np.asarray(tiles, dtype=np.float32)
    factor = max(1, max(rgb.size) // PROXY_SIDE)
    proxy = np.asarray(rgb.reduce(factor) if factor > 1 else rgb, dtype=np.float32)
    y, cb, cr = _ycbcr(detail)
    proxy_y = _ycbcr(proxy)[0]
    h, w = (y.shape[0] // BLOCK) * BLOCK, (y.shape[1] // BLOCK) * BLOCK
    block_std = y[:h, :w].reshape(h // BLOCK, BLOCK, w // BLOCK, BLOCK).std(axis=(1, 3))
    # The probe and the chroma ceiling score against the same small sample: its side of the
    # metric is prepared once.
    probe_tiles = mosaic(rgb, PROBE_MIN_PIXELS, PROBE_TILE)
    sample = np.asarray(probe_tiles)
    probe_ref = reference
    if not (probe_tiles is rgb and probe_ref is not None and probe_ref.shape == sample.shape):
        probe_ref = Ssimulacra2(sample, cache=True)
    probe_score, probe_bpp = _probe(sample, probe_ref)
    ceiling = chroma_ceiling(sample, probe_ref)
    vector = np.array(
        [
            np.log2(im.width * im.height),
            np.log1p(_gradient(y)),
            np.log1p(_laplacian(y)),
            float(np.mean(block_std < FLAT_STD)) if block_std.size else 0.0,
            float(np.mean(block_std > BUSY_STD)) if block_std.size else 0.0,
            float(y.mean()) / 255.0,
            float(y.std()) / 255.0,
            np.log1p(_gradient(cb) + _gradient(cr)),
            float(np.hypot(cb - 128.0, cr - 128.0).mean()) / 128.0,
            np.log1p(_gradient(proxy_y)),
            probe_score / 100.0,
            np.log2(probe_bpp),
            ceiling / 100.0,
        ],
        dtype=np.float64,
    )
    return Sampled(vector, im)


def chroma_ceiling(sample: np.ndarray, reference: Ssimulacra2 | None = None) -> float:
    """The score of the 8-bit RGB sample with only its chroma halved both ways (4:2:0, nothing
    else lost): no encoder that subsamples chroma scores above it. `reference`: the metric's
    side of the sample, when already prepared."""
    rgb = Image.fromarray(sample, "RGB")
    y, cb, cr = rgb.convert("YCbCr").split()
    half = ((rgb.width + 1) // 2, (rgb.height + 1) // 2)
    cb, cr = (
        c.resize(half, Image.Resampling.BOX).resize(rgb.size, Image.Resampling.BILINEAR)
        for c in (cb, cr)
    )
    subsampled = Image.merge("YCbCr", (y, cb, cr)).convert("RGB")
    return (reference or Ssimulacra2(sample)).score(np.asarray(subsampled))


def _probe(rgb: np.ndarray, reference: Ssimulacra2) -> tuple[float, float]:
    """(score, bytes per pixel) of one quick JPEG encode of the 8-bit RGB sample."""
    buf = io.BytesIO()
    Image.fromarray(rgb, "RGB").save(buf, "JPEG", quality=PROBE_QUALITY)
    data = buf.getvalue()
    pixels = rgb.shape[0] * rgb.shape[1]
    return _score_encoded(reference, data), max(len(data), 1) / pixels


def _score_encoded(reference: Ssimulacra2, data: bytes) -> float:
    """The score of encoded bytes against the prepared side of the pixels they encode (the
    decoded file closed first, as Judge.score_bytes does)."""
    with Image.open(io.BytesIO(data)) as out:
        pixels = rgb_pixels(out)
    return reference.score(pixels)


def _ycbcr(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    y = 0.299 * r + 0.587 * g + 0.114 * b
    return y, 128.0 + 0.564 * (b - y), 128.0 + 0.713 * (r - y)


def _gradient(plane: np.ndarray) -> float:
    if min(plane.shape) < 2:
        return 0.0
    return float(np.abs(np.diff(plane, axis=1)).mean() + np.abs(np.diff(plane, axis=0)).mean())


def _laplacian(plane: np.ndarray) -> float:
    if min(plane.shape) < 3:
        return 0.0
    core = plane[1:-1, 1:-1]
    lap = 4 * core - plane[:-2, 1:-1] - plane[2:, 1:-1] - plane[1:-1, :-2] - plane[1:-1, 2:]
    return float(np.abs(lap).mean())


@dataclass(frozen=True)
class Model:
    """Linear in the standardised features, the centred target score, and their products."""

    mean: np.ndarray
    scale: np.ndarray
    quality: np.ndarray  # coefficients of the design vector (see _design)
    log_bpp: np.ndarray  # the same for log2(bytes per pixel) at that quality
    margin: float  # quality units added to the prediction (held-out residual quantile)

    def _design(self, feats: np.ndarray, score: float) -> np.ndarray:
        z = (feats - self.mean) / self.scale
        t = (score - SCORE_CENTRE) / SCORE_SCALE
        return np.concatenate(([1.0], z, [t], t * z))

    def quality_for(self, feats: np.ndarray, score: float) -> float:
        """The encoder quality predicted to reach `score` (before the margin)."""
        return float(self._design(feats, score) @ self.quality)

    def slope(self, feats: np.ndarray, score: float) -> float:
        """Predicted quality units per score point here (at least a small positive step)."""
        z = (feats - self.mean) / self.scale
        n = len(z)
        per_t = self.quality[1 + n] + float(self.quality[2 + n :] @ z)
        return max(per_t / SCORE_SCALE, MIN_SLOPE)

    def bytes_for(self, feats: np.ndarray, score: float, pixels: int) -> float:
        """Predicted file size at the quality reaching `score`."""
        return float(2.0 ** float(self._design(feats, score) @ self.log_bpp)) * pixels


@functools.cache
def models() -> dict[str, Model]:
    """The fitted models by key (see model_key); empty when none were fitted for these
    features (every effort then searches, as `max` does)."""
    if not PARAMS.exists():
        return {}
    raw = json.loads(PARAMS.read_text())
    if tuple(raw.get("features", ())) != FEATURES:
        return {}
    return {
        key: Model(
            mean=np.asarray(m["mean"], dtype=np.float64),
            scale=np.asarray(m["scale"], dtype=np.float64),
            quality=np.asarray(m["quality"], dtype=np.float64),
            log_bpp=np.asarray(m["log_bpp"], dtype=np.float64),
            margin=float(m["margin"]),
        )
        for key, m in raw["models"].items()
    }


def model_key(fmt: str, variant: str, chroma: str | None = None) -> str:
    """One model per codec, chroma layout other than the codec's default, and encoder variant
    (for a codec whose encoder changes with the effort)."""
    key = f"{fmt}-{chroma}" if chroma else fmt
    return f"{key}@{variant}" if variant else key
