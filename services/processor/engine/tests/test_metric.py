"""The fast SSIMULACRA2 agrees with the reference package within 1 point."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from services.processor.engine import metric
from services.processor.engine.metric import Ssimulacra2, ssimulacra2

from .conftest import CORPUS, photo

ssimulacra2_ref = pytest.importorskip("ssimulacra2")
# Large enough for all six scales, small enough for the slow reference.
SIDE = 384


def _reference(a: np.ndarray, b: np.ndarray) -> float:
    files = []
    for arr in (a, b):
        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, "PNG")
        buf.seek(0)
        files.append(buf)
    return float(ssimulacra2_ref.compute_ssimulacra2(*files))


def _distort(im: Image.Image, fmt: str, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    im.save(buf, fmt, quality=quality)
    return np.asarray(Image.open(buf).convert("RGB"))


def test_identical_images_score_100() -> None:
    arr = np.asarray(photo())
    assert ssimulacra2(arr, arr) == pytest.approx(100.0)


def test_score_falls_with_quality() -> None:
    src = photo(160, 120)
    scores = [ssimulacra2(np.asarray(src), _distort(src, "JPEG", q)) for q in (95, 70, 30, 5)]
    assert scores == sorted(scores, reverse=True)
    assert scores[0] > 80 > scores[-1]


def test_cached_source_scores_like_a_one_off() -> None:
    src = np.asarray(photo(200, 150))
    dist = _distort(photo(200, 150), "WEBP", 40)
    assert Ssimulacra2(src).score(dist) == pytest.approx(ssimulacra2(src, dist), abs=1e-9)


def _forget_weight_tables() -> None:
    for table in (metric._norms_used, metric._terms_used, metric._channels_used):
        table.cache_clear()


@pytest.mark.parametrize(
    ("side", "fmt", "quality"), [(384, "JPEG", 20), (200, "WEBP", 50), (40, "JPEG", 70)]
)
def test_skipping_negligible_weights_changes_scores_by_under_a_hundredth(
    monkeypatch: pytest.MonkeyPatch, side: int, fmt: str, quality: int
) -> None:
    src = photo(side, side * 3 // 4)
    a, b = np.asarray(src), _distort(src, fmt, quality)
    skipping = ssimulacra2(a, b)
    monkeypatch.setattr(metric, "NEGLIGIBLE_WEIGHT", 1e-12)
    _forget_weight_tables()
    try:
        every_term = ssimulacra2(a, b)
    finally:
        monkeypatch.undo()
        _forget_weight_tables()
    assert skipping != every_term  # the skipped terms were really computed in the second run
    assert skipping == pytest.approx(every_term, abs=0.01)


def test_rejects_size_mismatch() -> None:
    with pytest.raises(ValueError):
        Ssimulacra2(np.asarray(photo(64, 64))).score(np.asarray(photo(64, 48)))


def test_small_odd_sizes_agree_with_reference() -> None:
    src = photo(37, 29)
    dist = _distort(src, "JPEG", 40)
    assert ssimulacra2(np.asarray(src), dist) == pytest.approx(
        _reference(np.asarray(src), dist), abs=1.0
    )


def _corpus_images() -> list[Path]:
    if not CORPUS.exists():
        return []
    return sorted(p for p in CORPUS.glob("*/*") if p.parent.name != "licenses" and p.is_file())


@pytest.mark.slow
@pytest.mark.parametrize("path", _corpus_images(), ids=lambda p: p.name)
def test_agrees_with_reference_on_the_benchmark_corpus(path: Path) -> None:
    """Each corpus image, downscaled to SIDE px, against JPEG and WebP distortions of itself."""
    with Image.open(path) as im:
        src = im.convert("RGB")
    src.thumbnail((SIDE, SIDE))
    a = np.asarray(src)
    for fmt, q in (("JPEG", 35), ("JPEG", 85), ("WEBP", 60)):
        b = _distort(src, fmt, q)
        fast, ref = ssimulacra2(a, b), _reference(a, b)
        assert fast == pytest.approx(ref, abs=1.0), (fmt, q, fast, ref)
