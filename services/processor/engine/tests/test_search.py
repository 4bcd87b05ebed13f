"""The search's corrections: AVIF chroma layouts and finer steps, the downward full-size step,
and the fixed-quality score prepared while the encoder runs."""

from __future__ import annotations

import io
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from services.processor.engine import choose as choose_module
from services.processor.engine.choose import Target, _verify, candidates, choose
from services.processor.engine.codecs import Candidate, Extras, codec
from services.processor.engine.codecs.avif import WEAK_STRENGTH, quantizer
from services.processor.engine.encode import encode
from services.processor.engine.metric import ssimulacra2
from services.processor.engine.search import Judge, Scored, refine_down

from .conftest import encode as saved
from .conftest import photo

AVIF = codec("avif")


def _decoded(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"))


def test_photos_also_try_other_avif_chroma_layouts() -> None:
    cands = candidates(("webp", "avif"), Target(score=80.0), False, False, False)
    assert [(c.format, c.chroma) for c in cands] == [
        ("webp", None),
        ("avif", None),
        ("avif", "4:4:4"),
        ("avif", "4:2:2"),
    ]


def test_graphics_are_full_chroma_already() -> None:
    cands = candidates(("avif",), Target(score=80.0), True, False, False)
    assert [c.chroma for c in cands] == [None]


def test_each_chroma_layout_changes_the_avif_encode() -> None:
    im = photo(128, 96)
    encodes = {encode([im], "avif", 60, Extras(chroma=c)) for c in (None, "4:4:4", "4:2:2")}
    assert len(encodes) == 3


def test_weaker_deltaq_strength_is_a_smaller_avif_at_the_same_quality() -> None:
    im = photo(256, 192)
    default = encode([im], "avif", 60, Extras())
    weak = encode([im], "avif", 60, Extras(avif_strength=WEAK_STRENGTH))
    assert len(weak) < len(default)


def test_weaker_deltaq_is_kept_only_when_it_still_meets_the_target() -> None:
    im = photo(256, 192)
    judge = Judge(im)
    final = Candidate("avif", "lossy").extras(Extras(), final=True)
    data = encode([im], "avif", 60, final)
    verified = Scored(data, 60, judge.score_bytes(data))
    lower, used = AVIF.finer_step([im], verified, verified.score - 5.0, final, judge)
    assert lower.quality == 60 and len(lower.data) < len(data)
    assert used.avif_strength == WEAK_STRENGTH
    assert lower.score == pytest.approx(judge.score_bytes(lower.data))
    assert AVIF.finer_step([im], verified, 100.0, final, judge) == (verified, final)


def test_polish_reencodes_the_winner_with_its_settings_on_the_slower_encoder() -> None:
    im = photo(320, 240)
    judge = Judge(im)
    final = Extras(final=True)
    data = encode([im], "avif", 60, final)
    best = Scored(data, 60, judge.score_bytes(data))
    slower = encode([im], "avif", 60, replace(final, polish=True))
    assert len(slower) < len(data) and judge.score_bytes(slower) > best.score
    polished = AVIF.polish(im, best, best.score - 0.1, final, judge)
    assert polished.data == slower and polished.quality == 60
    assert polished.score == pytest.approx(judge.score_bytes(slower))
    assert AVIF.polish(im, best, 100.0, final, judge) is best


def test_polish_with_room_to_spare_tries_the_next_quality_down() -> None:
    im = photo(320, 240)
    judge = Judge(im)
    final = Extras(chroma="4:4:4", avif_strength=WEAK_STRENGTH, final=True)
    data = encode([im], "avif", 60, final)
    best = Scored(data, 60, judge.score_bytes(data))
    polished = AVIF.polish(im, best, best.score - 5.0, final, judge)
    assert polished.quality == 59
    assert polished.data == encode([im], "avif", 59, replace(final, polish=True))
    assert polished.score >= best.score - 5.0


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


def test_the_polish_is_skipped_once_its_start_deadline_has_passed() -> None:
    im = photo(320, 240)
    polished = choose([im], ("avif",), Target(score=80.0), Extras())
    rushed = choose([im], ("avif",), Target(score=80.0), Extras(), polish_until=0.0)
    assert len(polished.data) < len(rushed.data)
    assert min(polished.score, rushed.score) >= 80.0


def test_qualities_sharing_an_quantizer_give_the_same_file() -> None:
    im = photo(200, 150)
    assert quantizer(63) == quantizer(64) != quantizer(65)
    assert encode([im], "avif", 63, Extras()) == encode([im], "avif", 64, Extras())
    assert encode([im], "avif", 64, Extras()) != encode([im], "avif", 65, Extras())


def test_verify_encodes_each_quantizer_once(monkeypatch: pytest.MonkeyPatch) -> None:
    im = photo(320, 240)
    judge = Judge(im)
    calls: list[tuple[int, int]] = []

    def counting(frames: list[Image.Image], fmt: str, q: int | None, extras: Extras) -> bytes:
        calls.append((quantizer(q or 100), extras.avif_strength))
        return encode(frames, fmt, q, extras)

    monkeypatch.setattr(choose_module, "encode", counting)
    found = Scored(b"", 90, 0.0)  # far above the target: the full-size search steps down
    verified, _ = _verify([im], Candidate("avif", "lossy"), found, 40.0, Extras(), judge)
    assert verified is not None and verified.score >= 40.0
    assert len(calls) >= 3 and len(calls) == len(set(calls))


def test_candidates_searched_side_by_side_change_neither_the_result_nor_the_image(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Three AVIF chroma layouts searched two at a time on a sample that is the image itself:
    sharing that image between threads once gave a file below the target, and left settings on
    the image that changed its later encodes."""
    im = photo(320, 240)
    before = encode([im], "avif", 62, Extras())
    monkeypatch.setattr(choose_module, "SEARCH_THREADS", 1)
    alone = choose([im], ("avif",), Target(score=80.0), Extras(), polish_until=0.0)
    monkeypatch.setattr(choose_module, "SEARCH_THREADS", 2)
    for _ in range(2):
        side_by_side = choose([im], ("avif",), Target(score=80.0), Extras(), polish_until=0.0)
        assert (side_by_side.data, side_by_side.score) == (alone.data, alone.score)
    assert alone.score >= 80.0
    assert encode([im], "avif", 62, Extras()) == before


@pytest.mark.parametrize(("size", "released"), [((2000, 1000), True), ((1000, 1000), False)])
def test_a_large_output_gives_its_decoded_pixels_back_before_it_is_scored(
    monkeypatch: pytest.MonkeyPatch, size: tuple[int, int], released: bool
) -> None:
    """Pillow's freed blocks stay in malloc's heap unless handed back; the score's own arrays
    do not reuse them (a 12 MP job peaked 25-30 MB higher)."""
    from picopt.kernel import malloc

    calls: list[bool] = []

    def release_freed() -> bool:
        calls.append(True)
        return True

    monkeypatch.setattr(malloc, "release_freed", release_freed)
    im = photo(*size)
    judge = Judge(im)
    assert judge.score_bytes(saved(im, "JPEG", quality=90)) > 50
    assert calls == ([True] if released else [])
