"""The predictor's training data: photos the project ships or can read, at several sizes and
crops, each encoded over a grid of qualities per codec and scored at full size.

Sources: the shared benchmark corpus (photos, modern formats, lossless photos; licences in its
SOURCES.md) and the sample photos inside the scikit-image, scikit-learn and matplotlib wheels.
Drawn images (few colours) are left out: the engine searches those at every effort.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
from PIL import Image

from bench.engine.corpus import CORPUS, OUT, package_photos
from services.processor.engine.api import Limits
from services.processor.engine.choose import is_graphic
from services.processor.engine.codecs import Extras, codec
from services.processor.engine.decode import decode
from services.processor.engine.encode import encode
from services.processor.engine.predict import features
from services.processor.engine.search import Judge

CORPUS_DIRS = ("photo", "modern", "lossless")
PACKAGE_PHOTOS = {
    "skimage": [
        "data/brick.png",
        "data/camera.png",
        "data/cell.png",
        "data/chelsea.png",
        "data/coins.png",
        "data/grass.png",
        "data/gravel.png",
        "data/ihc.png",
        "data/moon.png",
        "data/motorcycle_left.png",
        "data/retina.jpg",
    ],
    "sklearn": ["datasets/images/china.jpg", "datasets/images/flower.jpg"],
    "matplotlib": ["mpl-data/sample_data/grace_hopper.jpg"],
}
# Each source at these longest sides (when smaller than the original), plus one crop at the
# original resolution: the same content at other scales and densities of detail.
SIDES = (1024,)
CROP = 512
AVIF_GRID = (34, 42, 50, 57, 64, 71, 78, 86)
# 4:4:4 serves the photos whose colour detail 4:2:0 cannot keep: fewer, higher qualities.
AVIF_FULL_CHROMA_GRID = (40, 52, 64, 76, 88)
# (codec, effort, chroma layout, qualities): the encoders the `balanced` and `fast` efforts use.
GRIDS: tuple[tuple[str, str, str | None, tuple[int, ...]], ...] = (
    ("jpeg", "balanced", None, tuple(range(40, 97, 5))),
    ("webp", "balanced", None, tuple(range(40, 101, 5))),
    ("avif", "balanced", None, AVIF_GRID),
    ("avif", "fast", None, AVIF_GRID),
    ("avif", "balanced", "4:4:4", AVIF_FULL_CHROMA_GRID),
    ("avif", "fast", "4:4:4", AVIF_FULL_CHROMA_GRID),
)
CACHE = OUT / "predictor" / "curves.jsonl"


@dataclass
class Curve:
    """Scores and sizes of one image variant encoded at each quality of one grid."""

    source: str
    variant: str
    codec: str
    variant_key: str
    pixels: int
    features: list[float]
    qualities: list[int]
    scores: list[float]
    sizes: list[int]
    chroma: str | None = None


def sources() -> list[tuple[str, Path]]:
    found: list[tuple[str, Path]] = []
    for d in CORPUS_DIRS:
        for path in sorted((CORPUS / d).glob("*")):
            found.append((f"{d}/{path.name}", path))
    found += package_photos(PACKAGE_PHOTOS)
    return found


def variants(path: Path) -> Iterator[tuple[str, Image.Image]]:
    """The decoded photo (oriented, sRGB, opaque) at each size and one crop."""
    im = decode(path.read_bytes(), Limits()).frames[0]
    if im.mode == "RGBA" or is_graphic(im):
        return
    long_side = max(im.size)
    for side in SIDES:
        if side < long_side:
            scaled = im.copy()
            scaled.thumbnail((side, side), Image.Resampling.LANCZOS)
            yield f"fit{side}", scaled
    if long_side <= SIDES[0]:
        yield "original", im
    if min(im.size) >= 2 * CROP:
        left, top = (im.width - CROP) // 3, (im.height - CROP) // 3
        yield "crop", im.crop((left, top, left + CROP, top + CROP))


def curves() -> Iterator[Curve]:
    """Every curve, from the cache when the same variant and grid were measured before."""
    cached = _cached()
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    with CACHE.open("a") as out:
        for name, path in sources():
            for variant, im in variants(path):
                feats = [float(f) for f in features(im)]
                digest = hashlib.sha256(im.tobytes()).hexdigest()[:16]
                judge: Judge | None = None
                for fmt, effort, chroma, grid in GRIDS:
                    variant_key = codec(fmt).encoder_variant(effort)
                    key = f"{digest}/{fmt}/{variant_key}/{grid}" + (f"/{chroma}" if chroma else "")
                    if key in cached:
                        yield replace(cached[key], features=feats)
                        continue
                    judge = judge or Judge(im)
                    curve = _measure(name, variant, im, fmt, effort, chroma, grid, judge, feats)
                    out.write(json.dumps({"key": key, **asdict(curve)}) + "\n")
                    out.flush()
                    yield curve


def _measure(
    name: str,
    variant: str,
    im: Image.Image,
    fmt: str,
    effort: str,
    chroma: str | None,
    grid: tuple[int, ...],
    judge: Judge,
    feats: list[float],
) -> Curve:
    extras = Extras(final=True, effort=effort, chroma=chroma)
    scores, sizes = [], []
    for q in grid:
        data = encode([im], fmt, q, extras)
        scores.append(round(judge.score_bytes(data), 3))
        sizes.append(len(data))
    return Curve(
        name,
        variant,
        fmt,
        codec(fmt).encoder_variant(effort),
        im.width * im.height,
        feats,
        list(grid),
        scores,
        sizes,
        chroma,
    )


def _cached() -> dict[str, Curve]:
    if not CACHE.exists():
        return {}
    found = {}
    for line in CACHE.read_text().splitlines():
        raw = json.loads(line)
        key = raw.pop("key")
        found[key] = Curve(**raw)
    return found


def lowest_quality(curve: Curve, target: float) -> tuple[float, float] | None:
    """(quality, log2 bytes per pixel) where the curve first reaches `target`, interpolated
    between grid points; None when the grid never reaches it or starts above it."""
    q = np.asarray(curve.qualities, dtype=float)
    s = np.maximum.accumulate(np.asarray(curve.scores, dtype=float))
    bpp = np.log2(np.asarray(curve.sizes, dtype=float) / curve.pixels)
    above = np.nonzero(s >= target)[0]
    if not len(above) or above[0] == 0:
        return None
    i = int(above[0])
    frac = (target - s[i - 1]) / max(s[i] - s[i - 1], 1e-6)
    return float(q[i - 1] + frac * (q[i] - q[i - 1])), float(
        bpp[i - 1] + frac * (bpp[i] - bpp[i - 1])
    )
