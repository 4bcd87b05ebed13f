"""AVIF through Pillow's libavif with libaom: lossy stills (three chroma layouts for photos),
animations; slower encoder speeds for outputs than for search samples."""

from __future__ import annotations

from dataclasses import replace

from PIL import Image

from ..isobmff import with_avif_plays
from ..search import Judge, Scored
from .base import Candidate, Codec, Extras, animation_params, encode_frames, save

SPEED = 6
# libaom's tuning for still images that maximises SSIMULACRA2 (libaom >= 3.13; libavif's own
# default is tune=iq): at equal score, on corpus photos (bytes interpolated to score 80 between
# neighbouring qualities), 2.3% smaller at speed 6 (ten photos), 1.2% at speed 4 in 4:2:0 and
# 0.6% in 4:4:4 (eight photos).
TUNE = ("tune", "ssimulacra2")
# libaom's deltaq-strength (percent, default 100): a weaker spread of per-block quantisers
# gives a step finer than libavif's next quality (see Avif.finer_step).
WEAK_STRENGTH = 75
# Outputs (not search samples) up to about 2 MP are encoded at libaom speed 4: 4-10% smaller
# at equal SSIMULACRA2 than speed 6 for 3-10x the encode time, still a few seconds at 2 MP.
FINAL_SPEED = 4
FINAL_MAX_PIXELS = 2_100_000
# The winning AVIF is encoded once more at speed 3 with the same settings (see Avif.polish):
# 0-2.5% smaller and up to 0.45 points higher at equal quality on corpus photos, for one
# encode about twice as slow as a speed-4 one.
POLISH_SPEED = 3
# Below `max` an output is one encode at a speed fixed per effort (libavif lets libaom use both
# cores: Pillow's max_threads defaults to the CPUs this process may run on). On a 1.7 MP photo
# at quality 60: speed 6 153.6 KB at score 81.2, speed 9 183.6 KB at 80.8, about 4x faster.
SPEED_BY_EFFORT = {"balanced": 6, "fast": 9}
# libavif's quality 100 is lossless.
LOSSLESS_QUALITY = 100
# At and above this quality the chroma is kept at full resolution.
FULL_CHROMA_QUALITY = 90
# An output still this far above the target tries the weaker deltaq strength (one more
# full-size encode; on coffee_cup at quality 67: 80.83 -> 80.41 and 3.8% smaller).
STRENGTH_OVERSHOOT = 0.25
# A winner this far above the target tries its polish encode one quantizer lower.
POLISH_STEP_OVERSHOOT = 0.3


class Avif(Codec):
    name = "avif"
    alpha = True
    animation = True
    lossless = False
    quality_range = (15, 95)
    low_detail_quality = 60
    final_encoder_differs = True

    def encode(self, im: Image.Image, quality: int | None, extras: Extras) -> bytes:
        q = quality or 100
        return save(
            im,
            "AVIF",
            extras,
            quality=q,
            speed=_speed(im, extras),
            subsampling=_chroma(q, extras),
            advanced=_advanced(q, extras),
        )

    def encode_animation(
        self, frames: list[Image.Image], quality: int | None, extras: Extras
    ) -> bytes:
        # The same chroma choice as a still: Pillow's default 4:2:0 cost dithered GIF frames
        # 35 points (55.8 at quality 95; 91.7 in 4:4:4).
        q = quality or 100
        common = animation_params(frames, extras)
        data = save(
            frames[0],
            "AVIF",
            extras,
            quality=q,
            speed=SPEED,
            subsampling=_chroma(q, extras),
            advanced=_advanced(q, extras),
            **common,
        )
        # libavif through Pillow always writes "repeat for ever"; a finite count is patched in.
        return with_avif_plays(data, extras.loop) if extras.loop else data

    def candidates(
        self, graphic: bool, animated: bool, lossless: bool, alone: bool
    ) -> list[Candidate]:
        """4:2:0 is not always smallest at equal score: for saturated or chroma-detailed photos
        4:4:4 often is, and 4:2:2 for some textures (on corpus photos trying all three saved 2%
        over 4:2:0 alone). Graphics are encoded in 4:4:4 anyway."""
        lossy = [Candidate(self.name, "lossy")]
        if lossless or graphic:
            return lossy
        return [
            *lossy,
            Candidate(self.name, "lossy", "4:4:4"),
            Candidate(self.name, "lossy", "4:2:2"),
        ]

    def keeps_chroma(self, quality: int, chroma: str | None) -> bool:
        return chroma == "4:4:4" or quality >= FULL_CHROMA_QUALITY

    def final_differs_at(self, effort: str) -> bool:
        return effort not in SPEED_BY_EFFORT  # below max one speed serves samples and outputs

    def encoder_variant(self, effort: str) -> str:
        return f"speed{SPEED_BY_EFFORT[effort]}" if effort in SPEED_BY_EFFORT else ""

    def setting_key(self, quality: int) -> int:
        return quantizer(quality)

    def finer_step(
        self,
        frames: list[Image.Image],
        verified: Scored,
        target: float,
        final: Extras,
        judge: Judge,
    ) -> tuple[Scored, Extras]:
        """The same quality with libaom's weaker deltaq strength: a finer step down than the
        next quality (libavif's steps are 4-10% apart in bytes where photos land)."""
        if verified.score - target < STRENGTH_OVERSHOOT:
            return verified, final
        assert verified.quality is not None
        weak = replace(final, avif_strength=WEAK_STRENGTH)
        data = encode_frames(self, frames, verified.quality, weak)
        if len(data) >= len(verified.data):
            return verified, final
        score = judge.score_bytes(data)
        return (
            (Scored(data, verified.quality, score), weak) if score >= target else (verified, final)
        )

    def polish(
        self, im: Image.Image, best: Scored, target: float, final: Extras, judge: Judge
    ) -> Scored:
        """The winner once more with the slowest encoder and the same settings, kept when
        smaller and still at the target. That encoder scores up to half a point higher at the
        same quality, so a winner with room to spare tries the next quantizer down first."""
        if not slow_fits(im) or best.quality is None:
            return best
        qualities = [best.quality]
        if best.score - target >= POLISH_STEP_OVERSHOOT:
            lower = best.quality - 1
            while lower > 1 and quantizer(lower) == quantizer(best.quality):
                lower -= 1
            qualities.insert(0, lower)
        for q in qualities:
            data = self.encode(im, q, replace(final, polish=True))
            if len(data) >= len(best.data):
                continue
            score = judge.score_bytes(data)
            if score >= target:
                return Scored(data, q, score)
        return best


def quantizer(quality: int) -> int:
    """libavif's AV1 quantizer (63-0) for a quality (0-100): neighbouring qualities often share
    one, and so give the very same file."""
    return ((100 - quality) * 63 + 50) // 100


def slow_fits(im: Image.Image) -> bool:
    """Whether an output this size gets the slower libaom speeds (final and polish)."""
    return im.width * im.height <= FINAL_MAX_PIXELS


def _advanced(quality: int, extras: Extras) -> tuple[tuple[str, str], ...]:
    """libaom's keys; at LOSSLESS_QUALITY libavif encodes losslessly and libaom refuses any
    tuning ("Invalid codec-specific option"), so none is set."""
    if quality >= LOSSLESS_QUALITY:
        return ()
    advanced = [TUNE]
    if extras.avif_strength != 100:
        advanced.append(("deltaq-strength", str(extras.avif_strength)))
    return tuple(advanced)


def _chroma(quality: int, extras: Extras) -> str:
    if extras.graphic or quality >= FULL_CHROMA_QUALITY:
        return "4:4:4"
    return extras.chroma or "4:2:0"


def _speed(im: Image.Image, extras: Extras) -> int:
    if extras.effort in SPEED_BY_EFFORT:
        return SPEED_BY_EFFORT[extras.effort]
    if extras.final and slow_fits(im):
        return POLISH_SPEED if extras.polish else FINAL_SPEED
    return SPEED
