"""The `balanced` and `fast` efforts: encoder settings predicted, then verified at full size.

Per output: rank the accepted lossy formats by their predicted size at the target (at
`balanced` the second too when close, AVIF scouted with a faster encoder), encode the first
once at the predicted quality, and score it at full size; at `balanced` the second as well
when the first came out larger than the second was predicted. An encode below the target gets
one corrective step from the measured score and the model's local slope, scored again, and
when that still misses one more along the line through the two measured points; one that
overshoots by far gets one step down. A format that still misses is dropped; when every one
misses, the caller falls back to the exhaustive search (`max`), so the target is never traded
away.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import structlog
from PIL import Image

from .codecs import Candidate, Codec, Extras, codec
from .encode import encode
from .predict import FEATURES, Model, Sampled, model_key, models, sampled
from .search import Judge, Scored

log = structlog.get_logger(__name__)

FORMATS_TRIED = {"balanced": 2, "fast": 1}
# At `balanced` the second-ranked format is encoded too when its predicted size is within this
# factor of the first's (the prediction's own error is about that large).
SECOND_FORMAT_WITHIN = 1.15
# A corrective step aims this far above the target, so that it lands above it (scores are not
# strictly monotone in the encoder quality: neighbouring AVIF qualities differ by ~0.5).
CORRECTION_AIM = 0.5
# The step is this much larger than the model's slope asks (scores flatten where a codec tops
# out). It aimed 1.0 above with 1.5 times the slope while a second miss cost the whole search:
# most first encodes miss by about a point, so most corrections overshot by 2-3 points and
# paid a third round to step back down.
CORRECTION_GAIN = 1.0
# A correction that still misses gets one more step, along the line through the two measured
# points (the image's own slope) and aimed this far above the target, before the search.
RETRY_AIM = 0.5
# A layout that subsamples chroma is not tried when what subsampling alone leaves of the image
# (predict.chroma_ceiling) is not this far above the target.
CEILING_MARGIN = 0.5
# A verified encode this far above the target tries one step down (at `fast` only a large
# overshoot: the models were fitted on colour photos and overshoot grey ones by ~6 points, a
# third more bytes; a step costs one more speed-9 encode and score).
STEP_DOWN_OVERSHOOT = {"balanced": 1.5, "fast": 2.5}
# A step down aims this far above the target: closer than a correction may (a step down that
# misses costs its encode, the passing encode stays).
STEP_DOWN_AIM = 0.3
# Where an effort's encoder is slow (AVIF at `balanced`: libaom speed 6), the image is first
# encoded once with the `fast` effort's encoder (speed 9, about a tenth of the time) at that
# model's quality and scored: the measured score, the fast model's slope and the two models'
# difference put the one slow encode near the target, instead of a held-out residual quantile
# above it (a margin paid in bytes by every image) or a miss paid with a second slow encode.
SCOUT_EFFORT = {"balanced": "fast"}
# The slow encode aims this many score points above the target.
SCOUT_AIM = 0.4
# At `balanced`, where the output encoder is the sample's (JPEG, WebP), the features' sample
# (a mosaic of full-resolution tiles, a quarter of a 1 MP image) is encoded at the predicted
# quality and scored first: its score corrects the quality before the one full-size encode.
# The mosaic scores higher than the whole image at the same setting (22 photos at 1 MP, JPEG
# q55-85: 0.75 points on average, standard deviation 0.68), so the sample aims this far above
# the target.
SAMPLE_AIM = 0.75
# The sample is encoded until it scores within this window around its aim (at most
# SAMPLE_ROUNDS times; the last steps interpolate between samples on either side of it).
SAMPLE_BELOW, SAMPLE_ABOVE = 0.25, 0.75
SAMPLE_ROUNDS = 3
# Only an image this many times the sample's size (0.26 MP) is scouted on the sample. Below,
# the sample's encodes cost more than the full-size rounds they save: 72 photos at 1 MP, API
# defaults, 12-48% more CPU over six settings (4-8% fewer bytes); 8 photos at 1.9 MP 23% more
# (0.8% fewer). At 3.1 MP the same CPU and 3% fewer bytes.
SCOUTED_SIZE = {"balanced": 10.0}
# (Not at `fast`: 8 corpus photos to 2048 px with AVIF accepted, 29% more CPU for 1.9% fewer
# bytes.)


@dataclass
class Predicted:
    """The verified encode that won, its format, and how many encodes it took."""

    scored: Scored
    format: str
    encodes: int


def predicted(
    im: Image.Image,
    cands: list[Candidate],
    target: float,
    extras: Extras,
    effort: str,
    judge: Judge,
) -> Predicted | None:
    """The first verified encode of the predicted formats, best first; None when none
    verifies."""
    seen = sampled(im, judge.opaque_reference)
    feats = seen.features
    ceiling = float(feats[FEATURES.index("chroma_ceiling")]) * 100.0
    pixels = im.width * im.height
    ranked: list[tuple[float, Candidate, Model]] = []
    for c in cands:
        plugin = codec(c.format)
        model = models().get(model_key(c.format, plugin.encoder_variant(effort), c.chroma))
        if c.kind != "lossy" or model is None:
            continue
        quality = round(model.quality_for(feats, target) + model.margin)
        if ceiling < target + CEILING_MARGIN and not plugin.keeps_chroma(quality, c.chroma):
            continue
        ranked.append((model.bytes_for(feats, target, pixels), c, model))
    if not ranked:
        return None
    ranked.sort(key=lambda r: r[0])
    tried = [
        r for r in ranked[: FORMATS_TRIED[effort]] if r[0] <= ranked[0][0] * SECOND_FORMAT_WITHIN
    ]
    best: Predicted | None = None
    encodes = 0
    plans: list[tuple[float, Candidate, Model, int | None]] = []
    for estimate, c, model in tried:
        final = c.extras(replace(extras, effort=effort), final=True)
        scout = _scout(im, c, model, feats, target, final, judge) or _sample_scout(
            im, seen, c, model, target, final
        )
        start: int | None = None
        if scout is not None:
            start, estimate, scouted = scout
            encodes += scouted
        plans.append((estimate, c, model, start))
    # Only the first format (ranked on the scouts' measured sizes where scouted, else on the
    # predicted ones) is verified at full size; the next only when it misses twice. With the
    # default accept list two full-size encodes, each corrected or stepped down, cost more
    # than the whole mosaic search they replace. A runner-up that was not scouted gets one
    # encode when the first came out larger than it was predicted (see _challenger).
    plans.sort(key=lambda plan: plan[0])
    for estimate, c, model, start in plans:
        if best is None:
            found, n = _verified(
                im, c, model, feats, target, replace(extras, effort=effort), judge, start
            )
            encodes += n
            if found is not None:
                best = Predicted(found, c.format, encodes)
            continue
        if start is None and estimate < len(best.scored.data):
            won, n = _challenger(
                im, c, model, feats, target, replace(extras, effort=effort), judge, best
            )
            encodes += n
            if won is not None:
                best = Predicted(won, c.format, encodes)
        break
    if best is not None:
        best.encodes = encodes
    else:
        log.info("prediction_missed", formats=[c.format for _, c, _ in tried], target=target)
    return best


def _verified(
    im: Image.Image,
    c: Candidate,
    model: Model,
    feats: np.ndarray,
    target: float,
    extras: Extras,
    judge: Judge,
    start: int | None = None,
) -> tuple[Scored | None, int]:
    """The predicted encode (at `start` when scouted), corrected once if needed; (None,
    encodes) when it misses twice. The effort is the one `extras` encodes with."""
    effort = extras.effort
    plugin = codec(c.format)
    lo, hi = plugin.quality_range
    at = _scoring(im, c, extras, judge)
    q = start if start is not None else _predicted_quality(plugin, model, feats, target)
    first = at(q)
    slope = model.slope(feats, target)
    if first.score >= target:
        return _stepped_down(plugin, at, first, target, slope, effort)
    deficit = (target - first.score + CORRECTION_AIM) * slope * CORRECTION_GAIN
    up = _other_setting(plugin, q, q + math.ceil(deficit), lo, hi, 1)
    if up is None:
        return None, 1
    second = at(up)
    if second.score < target:
        return _retried(plugin, at, (q, first.score), (up, second.score), target, lo, hi)
    if second.score - target < STEP_DOWN_OVERSHOOT.get(effort, math.inf):
        return second, 2
    # The correction landed far above (the model's slope was too steep for this image); the
    # two encodes now bracket the target, and the line between them places one step down
    # (also after a scout: hubble_deep_field at balanced went 78.76 -> 84.9 with its
    # correction).
    between = _on_line((q, first.score), (up, second.score), target + STEP_DOWN_AIM)
    down = _other_setting(plugin, up, math.ceil(between), q + 1, up, -1)
    if down is None or plugin.setting_key(down) == plugin.setting_key(q):
        return second, 2
    lower = at(down)
    keep = lower if lower.score >= target and len(lower.data) < len(second.data) else second
    return keep, 3


def _challenger(
    im: Image.Image,
    c: Candidate,
    model: Model,
    feats: np.ndarray,
    target: float,
    extras: Extras,
    judge: Judge,
    best: Predicted,
) -> tuple[Scored | None, int]:
    """The runner-up at its predicted quality, when the verified first format came out larger
    than the runner-up was predicted (the ranking was wrong: a smooth synthetic photo's WebP
    came out twice its JPEG, predicted within 2%); with the encodes that took. Scored only when
    smaller than the first, kept only when at the target, stepped down as a first format is,
    never corrected upwards: on the camera photos of `bench.throughput` two more full-size
    rounds lost (chandelier: 0.40 -> 0.53 s). (A scouted runner-up, another AVIF layout, is not
    tried: on 31 photos with AVIF accepted that cost 20% more time for 0.7% fewer bytes.)"""
    plugin = codec(c.format)
    q = _predicted_quality(plugin, model, feats, target)
    data = encode([im], c.format, q, c.extras(extras, final=True))
    if len(data) >= len(best.scored.data):
        return None, 1
    first = Scored(data, q, judge.score_bytes(data))
    if first.score < target:
        return None, 1
    at = _scoring(im, c, extras, judge)
    return _stepped_down(plugin, at, first, target, model.slope(feats, target), extras.effort)


def _scoring(
    im: Image.Image, c: Candidate, extras: Extras, judge: Judge
) -> Callable[[int], Scored]:
    """Encode the image as `c` at a quality with the output's encoder, scored at full size."""
    final = c.extras(extras, final=True)

    def at(q: int) -> Scored:
        data = encode([im], c.format, q, final)
        return Scored(data, q, judge.score_bytes(data))

    return at


def _predicted_quality(plugin: Codec, model: Model, feats: np.ndarray, target: float) -> int:
    """The model's quality for the target with its held-out margin, within the codec's range."""
    lo, hi = plugin.quality_range
    return _clamp(round(model.quality_for(feats, target) + model.margin), lo, hi)


def _stepped_down(
    plugin: Codec,
    at: Callable[[int], Scored],
    first: Scored,
    target: float,
    slope: float,
    effort: str,
) -> tuple[Scored, int]:
    """A verified encode, or one step down from it when it overshoots far (STEP_DOWN_OVERSHOOT)
    and the lower setting still verifies smaller; with the encodes that took (1 or 2)."""
    if first.score - target < STEP_DOWN_OVERSHOOT.get(effort, math.inf):
        return first, 1
    assert first.quality is not None
    lo, hi = plugin.quality_range
    q = first.quality
    down = _other_setting(
        plugin, q, q - math.floor((first.score - target - STEP_DOWN_AIM) * slope), lo, hi, -1
    )
    if down is None:
        return first, 1
    lower = at(down)
    keep = lower if lower.score >= target and len(lower.data) < len(first.data) else first
    return keep, 2


def _retried(
    plugin: Codec,
    at: Callable[[int], Scored],
    first: tuple[int, float],
    second: tuple[int, float],
    target: float,
    lo: int,
    hi: int,
) -> tuple[Scored | None, int]:
    """The third encode, after two below the target at (quality, score) `first` and `second`:
    the secant through them, aimed RETRY_AIM above; (None, 3) when it misses too, (None, 2)
    when the two points give no direction (the second scored no better)."""
    if second[1] <= first[1]:
        return None, 2
    wanted = math.ceil(_on_line(first, second, target + RETRY_AIM))
    again = _other_setting(plugin, second[0], wanted, lo, hi, 1)
    if again is None:
        return None, 2
    third = at(again)
    return (third, 3) if third.score >= target else (None, 3)


def _on_line(first: tuple[int, float], second: tuple[int, float], score: float) -> float:
    """The quality where the line through two (quality, score) encodes reaches `score`."""
    (q1, s1), (q2, s2) = first, second
    return q1 + (score - s1) * (q2 - q1) / (s2 - s1)


def _scout(
    im: Image.Image,
    c: Candidate,
    model: Model,
    feats: np.ndarray,
    target: float,
    final: Extras,
    judge: Judge,
) -> tuple[int, float, int] | None:
    """Where a cheaper encoder's scout (see SCOUT_EFFORT) puts the first slow encode: its
    quality, its estimated size and the encodes that took; None when this codec has no scout
    at this effort."""
    plugin = codec(c.format)
    scout_effort = SCOUT_EFFORT.get(final.effort)
    if scout_effort is None:
        return None
    variant = plugin.encoder_variant(scout_effort)
    if variant == plugin.encoder_variant(final.effort):
        return None
    scout = models().get(model_key(c.format, variant, c.chroma))
    if scout is None:
        return None
    lo, hi = plugin.quality_range
    q_scout = _clamp(round(scout.quality_for(feats, target)), lo, hi)
    data = encode([im], c.format, q_scout, replace(final, effort=scout_effort))
    measured = judge.score_bytes(data)
    at_target = q_scout + (target - measured) * scout.slope(feats, target)
    offset = model.quality_for(feats, target) - scout.quality_for(feats, target)
    q = _clamp(round(at_target + offset + SCOUT_AIM * model.slope(feats, target)), lo, hi)
    pixels = im.width * im.height
    # The scout's size moved to the target along the fast model, then to the slow encoder.
    estimate = len(data) * model.bytes_for(feats, target, pixels)
    estimate /= scout.bytes_for(feats, measured, pixels)
    return q, estimate, 1


def _sample_scout(
    im: Image.Image, seen: Sampled, c: Candidate, model: Model, target: float, final: Extras
) -> tuple[int, float, int] | None:
    """Where encodes of the features' sample put the full-size encode (see SAMPLE_AIM): its
    quality, its estimated size and the sample encodes that took; None at an effort without
    it, where the image is not much larger than the sample (SCOUTED_SIZE), has transparency,
    or the output encoder is another one."""
    plugin = codec(c.format)
    larger = SCOUTED_SIZE.get(final.effort)
    if larger is None or im.mode == "RGBA" or plugin.final_differs_at(final.effort):
        return None
    if im.width * im.height < seen.sample.width * seen.sample.height * larger:
        return None
    lo, hi = plugin.quality_range
    aim = target + SAMPLE_AIM
    slope = model.slope(seen.features, target)
    plain = replace(final, exif=None, icc_profile=None, xmp=None)
    tried: dict[int, tuple[float, int]] = {}

    def at(q: int) -> None:
        data = encode([seen.sample], c.format, q, plain)
        tried[q] = (seen.score_bytes(data), len(data))

    def wanted() -> float:
        """The quality reaching the aim: between the closest samples on either side of it,
        else along the model's slope from the closest one."""
        below = [q for q, (s, _) in tried.items() if s < aim]
        above = [q for q, (s, _) in tried.items() if s >= aim]
        if below and above:
            hi_below, lo_above = max(below), min(above)
            return _on_line((hi_below, tried[hi_below][0]), (lo_above, tried[lo_above][0]), aim)
        q = max(below) if below else min(above)
        return q + (aim - tried[q][0]) * slope

    q = _clamp(round(model.quality_for(seen.features, aim)), lo, hi)
    at(q)
    for _ in range(SAMPLE_ROUNDS - 1):
        if -SAMPLE_BELOW <= tried[q][0] - aim <= SAMPLE_ABOVE:
            break
        step = 1 if tried[q][0] < aim else -1
        nxt = _other_setting(plugin, q, round(wanted()), lo, hi, step)
        if nxt is None or nxt in tried:
            break
        q = nxt
        at(q)
    close = [k for k, (s, _) in tried.items() if -SAMPLE_BELOW <= s - aim <= SAMPLE_ABOVE]
    chosen = min(close) if close else _clamp(math.ceil(wanted()), lo, hi)
    nearest = min(tried, key=lambda k: abs(tried[k][0] - aim))
    # The nearest sample's size, moved to the aim along the model, for the whole image.
    score, size = tried[nearest]
    estimate = size * model.bytes_for(seen.features, aim, im.width * im.height)
    estimate /= model.bytes_for(seen.features, score, seen.sample.width * seen.sample.height)
    return chosen, estimate, len(tried)


def _clamp(q: int, lo: int, hi: int) -> int:
    return min(hi, max(lo, q))


def _other_setting(plugin: Codec, q: int, wanted: int, lo: int, hi: int, step: int) -> int | None:
    """`wanted` within the codec's range, moved on in the direction of `step` (+1 or -1) until
    it gives another file than `q`; None when the range ends first."""
    wanted = _clamp(max(wanted, q + 1) if step > 0 else min(wanted, q - 1), lo, hi)
    while lo <= wanted <= hi and plugin.setting_key(wanted) == plugin.setting_key(q):
        wanted += step
    return wanted if lo <= wanted <= hi else None
