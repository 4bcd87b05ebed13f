"""The `balanced` and `fast` efforts: predicted settings, verified at full size, corrected (a
second time along the measured scores), and the exhaustive search when that misses too."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import skimage
from PIL import Image

from services.processor.engine import OptimizeOptions, optimize
from services.processor.engine import choose as choose_module
from services.processor.engine import predicted as predicted_module
from services.processor.engine.choose import Target, choose, is_graphic
from services.processor.engine.codecs import Candidate, Extras, codec
from services.processor.engine.metric import ssimulacra2
from services.processor.engine.predict import FEATURES, Model, models
from services.processor.engine.search import Judge

from .conftest import encode, graphic

SHIPPED = Path(skimage.__file__).parent / "data"
PHOTOS = ("chelsea.png", "coffee.png", "motorcycle_left.png", "retina.jpg", "astronaut.png")
ACCEPT = ("jpeg", "webp", "avif")


def _shipped(name: str, side: int = 320) -> Image.Image:
    with Image.open(SHIPPED / name) as opened:
        im = opened.convert("RGB")
    im.thumbnail((side, side), Image.Resampling.LANCZOS)
    return im


def _score(source: Image.Image, data: bytes) -> float:
    with Image.open(io.BytesIO(data)) as out:
        return ssimulacra2(np.asarray(source), np.asarray(out.convert("RGB")))


def _fake(quality: float, slope_per_point: float = 0.0, log2_bpp: float = 0.0) -> Model:
    """A model predicting `quality` and 2**log2_bpp bytes per pixel whatever the image, with
    the given slope."""
    n = len(FEATURES)
    coef = np.zeros(2 * n + 2)
    coef[0] = quality
    coef[1 + n] = slope_per_point * 10.0
    bpp = np.zeros(2 * n + 2)
    bpp[0] = log2_bpp
    return Model(np.zeros(n), np.ones(n), coef, bpp, margin=0.0)


def _counted_encodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The formats predicted.py encodes from now on, in order."""
    seen: list[str] = []
    real = predicted_module.encode

    def counting(frames: list[Image.Image], fmt: str, q: int | None, extras: Extras) -> bytes:
        seen.append(fmt)
        return real(frames, fmt, q, extras)

    monkeypatch.setattr(predicted_module, "encode", counting)
    return seen


def test_the_committed_models_cover_the_codecs_of_both_efforts() -> None:
    expected = {
        "jpeg",
        "webp",
        "avif@speed6",
        "avif@speed9",
        "avif-4:4:4@speed6",
        "avif-4:4:4@speed9",
    }
    assert expected <= set(models())


@pytest.mark.parametrize("effort", ["balanced", "fast"])
@pytest.mark.parametrize("name", PHOTOS)
def test_prediction_and_verification_never_deliver_below_target(name: str, effort: str) -> None:
    im = _shipped(name)
    for quality, target in (("auto", 80.0), ("high", 85.0)):
        result = optimize(
            encode(im, "PNG"), OptimizeOptions(accept=ACCEPT, quality=quality, effort=effort)
        )
        assert result.main.ssimulacra2 is not None and result.main.ssimulacra2 >= target
        assert _score(im, result.main.data) >= target


def test_a_good_prediction_is_one_encode(monkeypatch: pytest.MonkeyPatch) -> None:
    im = _shipped("chelsea.png")
    monkeypatch.setattr(predicted_module, "models", lambda: {"webp": _fake(95.0)})
    monkeypatch.setattr(predicted_module, "STEP_DOWN_OVERSHOOT", {})  # any pass is good here
    found = predicted_module.predicted(
        im, [Candidate("webp", "lossy")], 80.0, Extras(), "fast", Judge(im)
    )
    assert found is not None and found.encodes == 1 and found.scored.quality == 95
    assert found.scored.score >= 80.0


def test_a_far_overshoot_at_fast_steps_down_and_stays_at_target(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    im = _shipped("chelsea.png")
    monkeypatch.setattr(predicted_module, "models", lambda: {"webp": _fake(95.0, 1.5)})
    found = predicted_module.predicted(
        im, [Candidate("webp", "lossy")], 80.0, Extras(), "fast", Judge(im)
    )
    assert found is not None and found.encodes == 2
    assert found.scored.quality is not None and found.scored.quality < 95
    assert found.scored.score >= 80.0 and _score(im, found.scored.data) >= 80.0


def test_a_low_prediction_gets_one_corrective_step(monkeypatch: pytest.MonkeyPatch) -> None:
    im = _shipped("chelsea.png")
    monkeypatch.setattr(predicted_module, "models", lambda: {"webp": _fake(40.0, 6.0)})
    monkeypatch.setattr(predicted_module, "STEP_DOWN_OVERSHOOT", {})  # any pass is kept
    found = predicted_module.predicted(
        im, [Candidate("webp", "lossy")], 80.0, Extras(), "fast", Judge(im)
    )
    assert found is not None and found.encodes == 2
    assert found.scored.quality is not None and found.scored.quality > 40
    assert found.scored.score >= 80.0 and _score(im, found.scored.data) >= 80.0


def test_a_prediction_that_cannot_reach_the_target_falls_back_to_the_max_search(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    im = _shipped("chelsea.png")
    data = encode(im, "PNG")
    options = OptimizeOptions(accept=("jpeg", "webp"), effort="fast")
    encodes: list[str] = []
    real = predicted_module.encode

    def stuck(frames: list[Image.Image], fmt: str, q: int | None, extras: Extras) -> bytes:
        """An encoder whose file is the same whatever the quality asked, far below target."""
        encodes.append(fmt)
        return real(frames, fmt, 20, extras)

    monkeypatch.setattr(predicted_module, "encode", stuck)
    monkeypatch.setattr(
        predicted_module, "models", lambda: {"jpeg": _fake(20.0), "webp": _fake(20.0)}
    )
    missed = optimize(data, options)
    # The predicted encode and its correction, both below target and scoring the same: no
    # line to follow for a third.
    assert len(encodes) == 2
    exhaustive = optimize(data, OptimizeOptions(accept=("jpeg", "webp"), effort="max"))
    assert missed.main.data == exhaustive.main.data
    assert missed.main.ssimulacra2 is not None and missed.main.ssimulacra2 >= 80.0


class _LinearJudge:
    """Scores an encode 60 + quality / 2 (the quality read back from the encoder's log)."""

    def __init__(self) -> None:
        self.quality_of: dict[bytes, int] = {}

    def encode(self, frames: list[Image.Image], fmt: str, q: int | None, extras: Extras) -> bytes:
        data = f"{fmt}@{q}".encode()
        self.quality_of[data] = q or 0
        return data

    def score_bytes(self, data: bytes) -> float:
        return 60.0 + self.quality_of[data] / 2


@pytest.mark.parametrize(("predicted_q", "encodes", "delivered"), [(30, 3, 41), (20, 3, 41)])
def test_a_correction_that_still_misses_gets_one_step_along_the_measured_scores(
    monkeypatch: pytest.MonkeyPatch, predicted_q: int, encodes: int, delivered: int
) -> None:
    """Target 80 is reached at quality 40; the model's slope says nothing (0) and the
    correction moves one setting: the third encode follows the two measured scores
    (half a point per quality) to RETRY_AIM above the target."""
    judge = _LinearJudge()
    monkeypatch.setattr(predicted_module, "encode", judge.encode)
    monkeypatch.setattr(predicted_module, "CORRECTION_GAIN", 0.0)
    found, n = predicted_module._verified(
        _shipped("chelsea.png", 64),
        Candidate("webp", "lossy"),
        _fake(float(predicted_q)),
        np.zeros(len(FEATURES)),
        80.0,
        Extras(effort="fast"),
        judge,  # type: ignore[arg-type]
    )
    assert n == encodes and found is not None
    assert found.quality == delivered and found.score >= 80.0


def test_a_third_miss_gives_up(monkeypatch: pytest.MonkeyPatch) -> None:
    judge = _LinearJudge()
    monkeypatch.setattr(predicted_module, "encode", judge.encode)
    monkeypatch.setattr(predicted_module, "CORRECTION_GAIN", 0.0)
    monkeypatch.setattr(predicted_module, "RETRY_AIM", -5.0)  # the third aims below target
    found, n = predicted_module._verified(
        _shipped("chelsea.png", 64),
        Candidate("webp", "lossy"),
        _fake(20.0),
        np.zeros(len(FEATURES)),
        80.0,
        Extras(effort="fast"),
        judge,  # type: ignore[arg-type]
    )
    assert found is None and n == 3


def test_fast_encodes_one_format_and_balanced_at_most_two(monkeypatch: pytest.MonkeyPatch) -> None:
    im = _shipped("retina.jpg")
    seen = _counted_encodes(monkeypatch)
    cands = [Candidate(f, "lossy") for f in ("jpeg", "webp", "avif")]
    for effort, most in (("fast", 1), ("balanced", 2)):
        seen.clear()
        found = predicted_module.predicted(im, cands, 80.0, Extras(), effort, Judge(im))
        assert found is not None
        assert 1 <= len(set(seen)) <= most


@pytest.mark.parametrize(("jpeg_bpp", "expected"), [(-2.9, ["webp", "jpeg"]), (-1.0, ["webp"])])
def test_a_runner_up_predicted_below_the_first_formats_actual_size_is_encoded_too(
    monkeypatch: pytest.MonkeyPatch, jpeg_bpp: float, expected: list[str]
) -> None:
    """The ranking is a prediction: WebP is predicted smallest, but at its quality it comes out
    several times larger than JPEG was predicted (about 1.1 bits a pixel), so JPEG is encoded
    too and the smaller kept. A runner-up predicted above the first's actual size is not."""
    im = _shipped("chelsea.png")
    seen = _counted_encodes(monkeypatch)
    monkeypatch.setattr(predicted_module, "STEP_DOWN_OVERSHOOT", {})
    monkeypatch.setattr(
        predicted_module,
        "models",
        lambda: {"webp": _fake(98.0, log2_bpp=-3.0), "jpeg": _fake(70.0, log2_bpp=jpeg_bpp)},
    )
    cands = [Candidate(f, "lossy") for f in ("jpeg", "webp")]
    found = predicted_module.predicted(im, cands, 70.0, Extras(), "balanced", Judge(im))
    assert found is not None and seen == expected
    assert found.format == expected[-1]
    assert found.scored.score >= 70.0


def test_a_far_overshooting_correction_steps_down_between_its_two_encodes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    im = _shipped("chelsea.png")
    monkeypatch.setattr(predicted_module, "models", lambda: {"webp": _fake(40.0, 6.0)})
    corrected, _ = predicted_module._verified(
        im,
        Candidate("webp", "lossy"),
        _fake(40.0, 6.0),
        np.zeros(len(FEATURES)),
        80.0,
        Extras(effort="balanced"),
        Judge(im),
    )
    found = predicted_module.predicted(
        im, [Candidate("webp", "lossy")], 80.0, Extras(), "balanced", Judge(im)
    )
    assert found is not None and found.encodes == 3
    assert corrected is not None and found.scored.quality is not None
    assert found.scored.quality > 40
    assert found.scored.score >= 80.0 and _score(im, found.scored.data) >= 80.0


def test_balanced_with_cheap_encoders_predicts_at_any_size(monkeypatch: pytest.MonkeyPatch) -> None:
    searches: list[str] = []
    real = choose_module._searched

    def spying(*args: object, **kwargs: object) -> object:
        searches.append("search")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(choose_module, "_searched", spying)
    monkeypatch.setattr(
        predicted_module, "models", lambda: {"jpeg": _fake(95.0), "webp": _fake(95.0)}
    )
    # 2.2 MP: above the 2.1 MP up to which such outputs used to be predicted (and searched above)
    large = _shipped("motorcycle_left.png", 1600).resize((1800, 1215), Image.Resampling.LANCZOS)
    data = encode(large, "PNG")
    options = OptimizeOptions(accept=("jpeg", "webp"), effort="balanced")
    result = optimize(data, options)
    assert not searches
    assert result.main.ssimulacra2 is not None and result.main.ssimulacra2 >= 80.0


def test_a_large_photo_is_scouted_on_its_sample_and_encoded_once_at_full_size(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A prediction far too low (quality 30): the sample's encodes find the quality, so the one
    # full-size encode lands at the target instead of needing corrections.
    im = _shipped("motorcycle_left.png", 1600)  # 741x500: a 512x512 sample is a mosaic
    sizes: list[tuple[tuple[int, int], int | None]] = []
    real = predicted_module.encode

    def spying(frames: list[Image.Image], fmt: str, q: int | None, extras: Extras) -> bytes:
        sizes.append((frames[0].size, q))
        return real(frames, fmt, q, extras)

    monkeypatch.setattr(predicted_module, "encode", spying)
    monkeypatch.setattr(predicted_module, "models", lambda: {"jpeg": _fake(30.0, 1.5)})
    monkeypatch.setattr(predicted_module, "SCOUTED_SIZE", {"balanced": 1.0})
    found = predicted_module.predicted(
        im, [Candidate("jpeg", "lossy")], 80.0, Extras(), "balanced", Judge(im)
    )
    assert found is not None and found.scored.score >= 80.0
    assert _score(im, found.scored.data) >= 80.0
    full = [q for size, q in sizes if size == im.size]
    sample = [q for size, q in sizes if size != im.size]
    assert sample and sample[0] is not None and sample[0] < 35
    assert len(sample) <= predicted_module.SAMPLE_ROUNDS
    assert len(full) == 1 and full[0] is not None and full[0] > 60
    assert found.encodes == len(sizes)
    # Not scouted (at `fast`, or a smaller image): the same prediction starts at quality 30 at
    # full size.
    sizes.clear()
    predicted_module.predicted(im, [Candidate("jpeg", "lossy")], 80.0, Extras(), "fast", Judge(im))
    assert sizes[0] == (im.size, 30)
    sizes.clear()
    monkeypatch.setattr(predicted_module, "SCOUTED_SIZE", {"balanced": 10.0})
    predicted_module.predicted(
        im, [Candidate("jpeg", "lossy")], 80.0, Extras(), "balanced", Judge(im)
    )
    assert sizes[0] == (im.size, 30)


def test_a_grey_photo_is_predicted_and_a_few_grey_levels_are_a_graphic() -> None:
    grey = _shipped("camera.png")
    assert grey.convert("L").getcolors(256) is not None  # every grey image has few "colours"
    assert not is_graphic(grey.convert("L"))
    levels = Image.fromarray((np.asarray(grey.convert("L")) // 32 * 32).astype(np.uint8), "L")
    assert is_graphic(levels)


def test_a_grey_photo_in_a_colour_container_is_judged_by_its_grey_levels() -> None:
    # A black-and-white camera JPEG decodes to RGB with R = G = B: 256 "colours", fewer than a
    # graphic's limit, yet a photo; a few levels stay a graphic, and a few colours too.
    grey = _shipped("camera.png")
    assert grey.mode == "RGB"
    assert not is_graphic(grey)
    # With transparency grey is no hint of a photo: antialiased black ink is grey.
    ink = Image.new("RGBA", grey.size, (0, 0, 0, 0))
    ink.putalpha(Image.fromarray(np.asarray(grey.convert("L")), "L"))
    assert is_graphic(ink)
    levels = Image.fromarray((np.asarray(grey.convert("L")) // 32 * 32).astype(np.uint8), "L")
    assert is_graphic(levels.convert("RGB"))
    tinted = np.asarray(grey).copy()
    tinted[..., 0] = tinted[..., 0] // 2 * 2  # 128 reds over 256 greens: not grey
    assert is_graphic(Image.fromarray(tinted, "RGB"))


def test_a_grey_photo_at_fast_is_one_predicted_encode(monkeypatch: pytest.MonkeyPatch) -> None:
    searched: list[str] = []
    real = choose_module._searched

    def spying(*args: object, **kwargs: object) -> object:
        searched.append("search")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(choose_module, "_searched", spying)
    im = _shipped("camera.png").convert("L")
    result = optimize(encode(im, "PNG"), OptimizeOptions(accept=ACCEPT, effort="fast"))
    assert not searched
    assert _score(im.convert("RGB"), result.main.data) >= 80.0


@pytest.mark.parametrize("effort", ["fast", "balanced"])
def test_below_max_a_searched_graphic_gets_no_polish_and_still_meets_the_target(
    monkeypatch: pytest.MonkeyPatch, effort: str
) -> None:
    def no_polish(*args: object, **kwargs: object) -> None:
        raise AssertionError("the slowest AVIF encode is max's alone")

    monkeypatch.setattr(type(codec("avif")), "polish", no_polish)
    im = graphic(160, 120)
    choice = choose([im], ("avif",), Target(score=80.0), Extras(), effort=effort)
    assert choice.score >= 80.0
    assert choice.score == pytest.approx(Judge(im).score_bytes(choice.data))


def test_balanced_scouts_avif_with_the_fast_encoder_then_encodes_slowly_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    im = _shipped("motorcycle_left.png")
    efforts: list[str] = []
    real = predicted_module.encode

    def counting(frames: list[Image.Image], fmt: str, q: int | None, extras: Extras) -> bytes:
        efforts.append(extras.effort)
        return real(frames, fmt, q, extras)

    monkeypatch.setattr(predicted_module, "encode", counting)
    monkeypatch.setattr(predicted_module, "SECOND_FORMAT_WITHIN", 10.0)  # both layouts scouted
    cands = [Candidate("avif", "lossy"), Candidate("avif", "lossy", "4:4:4")]
    found = predicted_module.predicted(im, cands, 80.0, Extras(), "balanced", Judge(im))
    assert found is not None
    assert efforts[:2] == ["fast", "fast"]  # one scout per layout, then the slow encodes
    slow = efforts[2:]
    assert slow and set(slow) == {"balanced"}
    assert len(slow) <= 3  # the best-scouted layout, corrected and stepped down at most once
    assert found.scored.score >= 80.0 and _score(im, found.scored.data) >= 80.0
