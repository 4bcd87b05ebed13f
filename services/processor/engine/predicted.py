"""The `balanced` and `fast` efforts: encoder settings predicted, then verified at full size.

Per output: rank the accepted lossy formats by their predicted size at the target, encode the
first (and at `balanced` the second when its predicted size is close) once at the predicted
quality, and score it at full size. An encode below the target gets one corrective step from
the measured score and the model's local slope, scored again; at `balanced` one that overshoots
by far gets one step down. A format that still misses is dropped; when every one misses, the
caller falls back to the exhaustive search (`max`), so the target is never traded away.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import structlog
from PIL import Image

from .codecs import Candidate, Codec, Extras, codec
from .encode import encode
from .predict import FEATURES, Model, features, model_key, models
from .search import Judge, Scored

log = structlog.get_logger(__name__)

FORMATS_TRIED = {"balanced": 2, "fast": 1}
# At `balanced` the second-ranked format is encoded too when its predicted size is within this
# factor of the first's (the prediction's own error is about that large).
SECOND_FORMAT_WITHIN = 1.15
# A corrective step aims this far above the target, so that it lands above it (scores are not
# strictly monotone in the encoder quality: neighbouring AVIF qualities differ by ~0.5).
CORRECTION_AIM = 1.0
# The step is this much larger than the model's slope asks: a second miss costs the whole
# search, a step too far a few percent of bytes (scores flatten where a codec tops out).
CORRECTION_GAIN = 1.5
# A layout that subsamples chroma is not tried when what subsampling alone leaves of the image
# (predict.chroma_ceiling) is not this far above the target.
CEILING_MARGIN = 0.5
# At `balanced`, a verified encode this far above the target tries one step down.
STEP_DOWN_OVERSHOOT = 1.5


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
    """The smallest verified encode among the predicted formats, None when none verifies."""
    feats = features(im, judge.opaque_reference)
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
    for _, c, model in tried:
        found, n = _verified(
            im, c, model, feats, target, replace(extras, effort=effort), effort, judge
        )
        encodes += n
        if found is not None and (best is None or len(found.data) < len(best.scored.data)):
            best = Predicted(found, c.format, encodes)
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
    effort: str,
    judge: Judge,
) -> tuple[Scored | None, int]:
    """The predicted encode, corrected once if needed; (None, encodes) when it misses twice."""
    plugin = codec(c.format)
    lo, hi = plugin.quality_range
    final = c.extras(extras, final=True)

    def at(q: int) -> Scored:
        data = encode([im], c.format, q, final)
        return Scored(data, q, judge.score_bytes(data))

    q = _clamp(round(model.quality_for(feats, target) + model.margin), lo, hi)
    first = at(q)
    slope = model.slope(feats, target)
    if first.score >= target:
        if effort != "balanced" or first.score - target < STEP_DOWN_OVERSHOOT:
            return first, 1
        down = _other_setting(
            plugin, q, q - math.floor((first.score - target - CORRECTION_AIM) * slope), lo, hi, -1
        )
        if down is None:
            return first, 1
        lower = at(down)
        keep = lower if lower.score >= target and len(lower.data) < len(first.data) else first
        return keep, 2
    deficit = (target - first.score + CORRECTION_AIM) * slope * CORRECTION_GAIN
    up = _other_setting(plugin, q, q + math.ceil(deficit), lo, hi, 1)
    if up is None:
        return None, 1
    second = at(up)
    return (second if second.score >= target else None), 2


def _clamp(q: int, lo: int, hi: int) -> int:
    return min(hi, max(lo, q))


def _other_setting(plugin: Codec, q: int, wanted: int, lo: int, hi: int, step: int) -> int | None:
    """`wanted` within the codec's range, moved on in the direction of `step` (+1 or -1) until
    it gives another file than `q`; None when the range ends first."""
    wanted = _clamp(max(wanted, q + 1) if step > 0 else min(wanted, q - 1), lo, hi)
    while lo <= wanted <= hi and plugin.setting_key(wanted) == plugin.setting_key(q):
        wanted += step
    return wanted if lo <= wanted <= hi else None
