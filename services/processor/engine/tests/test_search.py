"""The search's corrections: full-chroma AVIF candidates, the downward full-size step, and the
fixed-quality score prepared while the encoder runs."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from services.processor.engine.choose import Target, candidates, choose
from services.processor.engine.encode import Extras, encode
from services.processor.engine.metric import ssimulacra2
from services.processor.engine.search import Judge, Scored, refine_down

from .conftest import photo


def _decoded(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"))


def test_photos_also_try_full_chroma_avif() -> None:
    cands = candidates(("webp", "avif"), Target(score=80.0), False, False, False)
    assert [(c.format, c.full_chroma) for c in cands] == [
        ("webp", False),
        ("avif", False),
        ("avif", True),
    ]


def test_graphics_are_full_chroma_already() -> None:
    cands = candidates(("avif",), Target(score=80.0), True, False, False)
    assert not any(c.full_chroma for c in cands)


def test_full_chroma_changes_the_avif_encode() -> None:
    im = photo(128, 96)
    half = encode([im], "avif", 60, Extras())
    full = encode([im], "avif", 60, Extras(full_chroma=True))
    assert half != full


def test_refine_down_finds_a_smaller_encode_that_still_passes() -> None:
    im = photo(160, 120)
    judge = Judge(im)

    def at(q: int) -> bytes:
        return encode([im], "webp", q, Extras())

    high = Scored(at(95), 95, judge.score_bytes(at(95)))
    target = high.score - 8.0
    found = refine_down(at, judge, target, high, floor=20)
    assert found.quality is not None and found.quality < 95
    assert len(found.data) < len(high.data)
    assert found.score >= target
    assert ssimulacra2(np.asarray(im), _decoded(found.data)) == pytest.approx(found.score)


def test_refine_down_keeps_the_passing_encode_when_nothing_lower_passes() -> None:
    im = photo(160, 120)
    judge = Judge(im)

    def at(q: int) -> bytes:
        return encode([im], "webp", q, Extras())

    high = Scored(at(90), 90, judge.score_bytes(at(90)))
    assert refine_down(at, judge, high.score + 0.01, high, floor=20) is high


def test_fixed_quality_reports_the_full_size_score() -> None:
    im = photo(1600, 1000)  # above the metric's own cache size: the prepared judge keeps it
    choice = choose([im], ("webp",), Target(fixed_quality=70), Extras())
    assert choice.quality == 70
    assert choice.score == pytest.approx(
        ssimulacra2(np.asarray(im), _decoded(choice.data)), abs=1e-9
    )


def test_outputs_use_the_slower_avif_encoder_and_still_meet_the_target() -> None:
    im = photo(128, 96)
    assert encode([im], "avif", 60, Extras(final=True)) != encode([im], "avif", 60, Extras())
    choice = choose([im], ("avif",), Target(score=80.0), Extras())
    assert choice.score >= 80.0
    assert choice.score == pytest.approx(ssimulacra2(np.asarray(im), _decoded(choice.data)))
