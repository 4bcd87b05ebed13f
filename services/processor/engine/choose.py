"""Pick format and encoder quality: the smallest accepted file that meets the target."""

from __future__ import annotations

import io
import math
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import partial

import numpy as np
from PIL import Image

from .codecs import CODECS, Candidate, Extras, codec
from .encode import encode
from .predicted import predicted
from .search import Judge, Opened, Scored, lowest_passing, mosaic, refine_down, verify_up

GRAPHIC_MAX_COLOURS = 1024
# A grey image has at most 256 levels, so the colour count alone made every one a graphic (and
# sent grey photos to the exhaustive search at every effort); grey photos use 140-256 levels
# (skimage's brick 145, camera 256), drawings and scans of text far fewer.
GRAPHIC_MAX_GREYS = 64
ANIMATION_SAMPLES = 3
# The mosaic aims this much above the target, so the full-size check usually passes at once
# (a failed check costs a full-size encode and score, several times the whole search).
SAMPLE_MARGIN = 0.75
# Re-check the runner-up at full size when its estimate is this close to the winner's; for
# another chroma layout of a format already checked the sample's estimate is closer to the
# truth, and a full-size AVIF encode costs seconds.
RUNNER_UP_MARGIN = 1.15
SAME_FORMAT_MARGIN = 1.06
# Candidates searched at once on the sample (a job's own threads; the worker runs jobs side by
# side too).
SEARCH_THREADS = 2
# At a fixed quality the source side of the score is prepared while the encoder runs, keeping
# its planes (~64 bytes a pixel) up to this size; larger outputs are scored band by band.
PREPARED_MAX_PIXELS = 4_200_000
# A full-size score this far above the target means the mosaic overestimated the quality the
# whole image needs (e.g. a dark image with a few detailed tiles): search down at full size,
# over a wide range (16 settings) from OVERSHOOT on, over the next 4 settings from
# SMALL_OVERSHOOT (the output encoder is slower than the search's and scores a little higher).
OVERSHOOT = 2.0
SMALL_OVERSHOOT = 0.75


@dataclass(frozen=True)
class Target:
    """Either a score to meet, a fixed encoder quality, or lossless."""

    score: float | None = None
    fixed_quality: int | None = None
    lossless: bool = False


@dataclass
class Choice:
    """The encode that won, with what it was."""

    data: bytes
    format: str
    quality: int | None
    score: float
    # What decoding these bytes showed, when the judge decoded them to score them.
    opened: Opened | None = None


def is_graphic(im: Image.Image) -> bool:
    """Few distinct colours means drawn content: palette or lossless coding wins there. An
    opaque grey photo in a colour container (a black-and-white camera JPEG decodes to R = G = B)
    is judged by its grey levels, as in grey mode. (Not with transparency: black ink with
    antialiased alpha edges is grey too, and a drawing.)"""
    if im.mode == "L":
        return im.getcolors(GRAPHIC_MAX_GREYS) is not None
    colours = im.getcolors(GRAPHIC_MAX_COLOURS)
    if colours is None:
        return False
    if len(colours) > GRAPHIC_MAX_GREYS and im.mode == "RGB":
        return not all(_is_grey(c) for _, c in colours)
    return True


def _is_grey(colour: float | tuple[int, ...]) -> bool:
    return isinstance(colour, tuple) and colour[0] == colour[1] == colour[2]


def candidates(
    formats: tuple[str, ...], target: Target, graphic: bool, alpha: bool, animated: bool
) -> list[Candidate]:
    """The encodes worth trying for this kind of image."""
    if animated:
        formats = tuple(f for f in formats if codec(f).animation) or formats
    if alpha and any(codec(f).alpha for f in formats):
        formats = tuple(f for f in formats if codec(f).alpha)
    if target.lossless and any(codec(f).lossless for f in formats):
        formats = tuple(f for f in formats if codec(f).lossless)
    alone = len(formats) == 1
    return [
        c for f in formats for c in codec(f).candidates(graphic, animated, target.lossless, alone)
    ]


def choose(
    frames: list[Image.Image],
    formats: tuple[str, ...],
    target: Target,
    extras: Extras,
    polish_until: float = math.inf,
    effort: str = "max",
) -> Choice:
    """The smallest accepted encode that meets the target.

    At `max` every way worth trying is searched; the last, slowest encode (the codec's
    `polish`) only starts before `polish_until` (a `time.perf_counter()` value), so a job
    already slow on a busy machine skips it. At `balanced` and `fast` a still photo gets
    predicted settings, verified at full size (predicted.py), and `max`'s search only when the
    prediction misses; what they search (graphics, animations) they search with their own
    encoder speeds and no polish.
    """
    graphic = is_graphic(frames[0])
    extras = replace(extras, graphic=graphic, effort=effort)
    alpha = any(f.mode == "RGBA" for f in frames)
    cands = candidates(formats, target, graphic, alpha, len(frames) > 1)
    if target.lossless or target.fixed_quality is not None:
        return _fixed(frames, cands, target, extras)
    judge = AnimationJudge(frames, extras.durations) if len(frames) > 1 else Judge(frames[0])
    choice = _judged(frames, cands, target.score or 80.0, extras, judge, polish_until, effort)
    choice.opened = judge.opened(choice.data)
    return choice


def _judged(
    frames: list[Image.Image],
    cands: list[Candidate],
    score: float,
    extras: Extras,
    judge: Judge,
    polish_until: float,
    effort: str,
) -> Choice:
    """The smallest encode verified at `score`: predicted below `max`, else searched."""
    if _predicts(effort, frames, extras.graphic):
        found = predicted(frames[0], cands, score, extras, effort, judge)
        if found is not None:
            return Choice(found.scored.data, found.format, found.scored.quality, found.scored.score)
        effort = "max"  # the floor is never traded: a missed prediction gets the whole search
        extras = replace(extras, effort=effort)
    choice, final = _searched(frames, cands, score, extras, judge)
    polishing = effort == "max" and time.perf_counter() < polish_until
    if final is not None and choice.quality is not None and polishing:
        best = Scored(choice.data, choice.quality, choice.score)
        polished = codec(choice.format).polish(frames[0], best, score, final, judge)
        if polished is not best:
            return Choice(polished.data, choice.format, polished.quality, polished.score)
    return choice


def _predicts(effort: str, frames: list[Image.Image], graphic: bool) -> bool:
    """Whether predicted settings serve this output: a still photo below `max`, at any size.
    (Large outputs with only cheap encoders were searched: before the sample scout and the
    closer corrections a full-size round cost more than the mosaic search. Now 8 corpus photos
    to 2048 px at API defaults take 7.5 s of CPU predicted against 11.6 s searched, 0.3% fewer
    bytes; kept at 9-12 MP, 6.7 s against 7.7 s.)"""
    return effort != "max" and len(frames) == 1 and not graphic


def _judge_of(frames: list[Image.Image], durations: tuple[int, ...]) -> Judge:
    if len(frames) > 1:
        return AnimationJudge(frames, durations)
    return Judge(frames[0], cache=frames[0].width * frames[0].height <= PREPARED_MAX_PIXELS)


def _fixed(
    frames: list[Image.Image], cands: list[Candidate], target: Target, extras: Extras
) -> Choice:
    """Encode each candidate once; the judge is built on a second thread meanwhile."""
    cands = [c for c in cands if c.chroma is None]  # at a fixed quality 4:2:0 is smaller
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="judge") as pool:
        judging: Future[Judge] | None = None
        if any(c.kind != "lossless" for c in cands):
            judging = pool.submit(_judge_of, frames, extras.durations)
        best: Choice | None = None
        for c in cands:
            q = None if c.kind == "lossless" else (target.fixed_quality or 100)
            data = encode(frames, c.format, q, c.extras(extras, final=True))
            if best is None or len(data) < len(best.data):
                best = Choice(data, c.format, q, 0.0)
        assert best is not None
        if best.quality is None:
            best.score = 100.0
        else:
            assert judging is not None
            judge = judging.result()
            best.score = judge.score_bytes(best.data)
            best.opened = judge.opened(best.data)
    return best


def _searched(
    frames: list[Image.Image], cands: list[Candidate], target: float, extras: Extras, judge: Judge
) -> tuple[Choice, Extras | None]:
    """Search each lossy candidate on a sample, then verify the most promising at full size.

    The winner comes with the encoder settings that made it, None when it is a fallback.
    """
    full_pixels = frames[0].width * frames[0].height
    sample = mosaic(frames[0]) if len(frames) == 1 else frames[len(frames) // 2]
    exact = sample is frames[0] and len(frames) == 1
    # A sample that is the image itself is judged by the image's own judge: one reference
    # prepared, and the winner's decode remembered (Judge.opened).
    sample_judge = judge if exact else Judge(sample)

    def lossless(c: Candidate) -> tuple[float, Candidate, Scored]:
        data = encode(frames, c.format, None, extras)
        return float(len(data)), c, Scored(data, None, 100.0)

    def lossy(c: Candidate, own: Image.Image) -> tuple[float, Candidate, Scored] | None:
        lo, hi = codec(c.format).quality_range
        sample_target = target if exact else target + SAMPLE_MARGIN
        found = lowest_passing(
            partial(_encode_one, own, c.format, c.extras(extras)),
            sample_judge,
            sample_target,
            lo,
            hi,
        )
        if found is None:
            return None
        scale = 1.0 if exact else full_pixels * len(frames) / (sample.width * sample.height)
        return len(found.data) * scale, c, found

    # The lossy candidates' searches are independent: two at a time, one encodes while the
    # other scores (encoders release the GIL). Each searches its own copy of the sample:
    # Pillow's save() keeps the call's settings on the image object, so two threads saving
    # one image mix their settings (seen: AVIF files below the target, and later encodes of
    # that image changed). Results are taken in the candidates' order, as one at a time.
    with ThreadPoolExecutor(max_workers=SEARCH_THREADS, thread_name_prefix="search") as pool:
        searches = {
            i: pool.submit(lossy, c, sample.copy())
            for i, c in enumerate(cands)
            if c.kind != "lossless"
        }
        found_by_index: dict[int, tuple[float, Candidate, Scored] | None] = {
            i: lossless(c) for i, c in enumerate(cands) if c.kind == "lossless"
        }
        found_by_index |= {i: search.result() for i, search in searches.items()}
    estimates = [e for _, e in sorted(found_by_index.items()) if e is not None]
    estimates.sort(key=lambda e: e[0])
    best: Choice | None = None
    best_extras: Extras | None = None
    checked: set[str] = set()
    for estimate, c, found in estimates:
        if best is not None and estimate > len(best.data) * RUNNER_UP_MARGIN:
            break
        margin = SAME_FORMAT_MARGIN if c.format in checked else RUNNER_UP_MARGIN
        if best is not None and estimate > len(best.data) * margin:
            continue
        # A sample that is the image itself needs no check, unless the output encoder differs.
        final_differs = codec(c.format).final_differs_at(extras.effort)
        verified, used = (
            (found, extras)
            if found.quality is None or (exact and not final_differs)
            else _verify(frames, c, found, target, extras, judge)
        )
        checked.add(c.format)
        if verified is not None and (best is None or len(verified.data) < len(best.data)):
            best = Choice(verified.data, c.format, verified.quality, verified.score)
            best_extras = used if len(frames) == 1 else None
    if best is None:
        fallback = _lossless_fallback(frames, cands, extras) or _best_effort(
            frames, cands, extras, judge
        )
        return fallback, None
    return best, best_extras


def _lossless_fallback(
    frames: list[Image.Image], cands: list[Candidate], extras: Extras
) -> Choice | None:
    """No lossy setting reaches the target: the smallest lossless encode always does."""
    best: Choice | None = None
    for fmt in dict.fromkeys(c.format for c in cands if CODECS[c.format].lossless):
        data = encode(frames, fmt, None, extras)
        if best is None or len(data) < len(best.data):
            best = Choice(data, fmt, None, 100.0)
    return best


def _encode_one(im: Image.Image, fmt: str, extras: Extras, quality: int) -> bytes:
    return encode([im], fmt, quality, extras)


def _verify(
    frames: list[Image.Image],
    c: Candidate,
    found: Scored,
    target: float,
    extras: Extras,
    judge: Judge,
) -> tuple[Scored | None, Extras]:
    """The full-size encode meeting the target near the sample's quality, with its settings."""
    plugin = codec(c.format)
    lo, hi = plugin.quality_range
    assert found.quality is not None
    final = c.extras(extras, final=True)
    encoded: dict[int, bytes] = {}

    def encode_at(q: int) -> bytes:
        # A full-size encode costs seconds: qualities giving the same file share it.
        key = plugin.setting_key(q)
        if key not in encoded:
            encoded[key] = encode(frames, c.format, q, final)
        return encoded[key]

    verified = verify_up(encode_at, judge, target, found.quality, hi)
    if verified is None:
        return None, final
    overshoot = verified.score - target
    # The small step pays only where the output encoder differs from the search's; elsewhere
    # it would cost two more full-size encodes and scores for little.
    if verified.quality == found.quality and overshoot >= (
        SMALL_OVERSHOOT if plugin.final_differs_at(extras.effort) else OVERSHOOT
    ):
        attempts = 4 if overshoot >= OVERSHOOT else 2
        verified = refine_down(encode_at, judge, target, verified, lo, attempts=attempts)
    return plugin.finer_step(frames, verified, target, final, judge)


def _best_effort(
    frames: list[Image.Image], cands: list[Candidate], extras: Extras, judge: Judge
) -> Choice:
    """Nothing reached the target: the highest setting of the first candidate, scored honestly."""
    c = cands[0]
    q = None if c.kind == "lossless" else codec(c.format).quality_range[1]
    data = encode(frames, c.format, q, extras)
    return Choice(data, c.format, q, 100.0 if q is None else judge.score_bytes(data))


class AnimationJudge(Judge):
    """Scores an animation as its worst sampled frame.

    Encoders merge identical neighbouring frames (adding up their delays), so the output's
    frame i need not be the input's: when the counts differ, each sampled frame is compared
    with the output frame showing at the time it starts.
    """

    def __init__(self, frames: list[Image.Image], durations: tuple[int, ...] = ()) -> None:
        n = len(frames)
        self._indices = sorted(
            {round(i * (n - 1) / (ANIMATION_SAMPLES - 1)) for i in range(ANIMATION_SAMPLES)}
        )
        self._judges = {i: Judge(frames[i]) for i in self._indices}
        self._count = n
        starts = np.concatenate([[0], np.cumsum(durations or [0] * n)[:-1]]).tolist()
        self._starts = {i: int(starts[i]) for i in self._indices}
        self.size = frames[0].size

    @property
    def opaque_reference(self) -> None:
        return None

    def opened(self, data: bytes) -> None:
        """An animation's output is decoded again before it leaves (its frame count)."""
        return None

    def score_bytes(self, data: bytes) -> float:
        with Image.open(io.BytesIO(data)) as out:
            count = getattr(out, "n_frames", 1)
            if count == self._count:
                pairs = [(i, i) for i in self._indices]
            else:
                pairs = list(zip(self._indices, _frames_at(out, self._starts), strict=True))
            scores = []
            for i, shown in pairs:
                out.seek(shown)
                scores.append(self._judges[i].score_image(out.convert("RGBA")))
        return float(np.min(scores))


def _frames_at(out: Image.Image, starts: dict[int, int]) -> list[int]:
    """For each sampled start time (ms), the index of the output frame showing then."""
    bounds = []
    elapsed = 0
    for j in range(getattr(out, "n_frames", 1)):
        out.seek(j)
        out.load()  # WebP and AVIF set a frame's duration when it is loaded
        elapsed += round(float(out.info.get("duration") or 0))
        bounds.append(elapsed)
    last = len(bounds) - 1
    return [min(int(np.searchsorted(bounds, t, side="right")), last) for t in starts.values()]
