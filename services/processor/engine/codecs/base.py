"""The codec plug-in shape: what every output format tells the engine, and what travels with
the pixels into an encoder."""

from __future__ import annotations

import io
from dataclasses import dataclass, field, replace
from typing import Protocol

from PIL import Image

from picopt import formats

from ..search import Judge, Scored


@dataclass(frozen=True)
class Extras:
    """What travels with the pixels: animation timing and the metadata the policy keeps."""

    durations: tuple[int, ...] = ()
    loop: int = 0
    icc_profile: bytes | None = None
    exif: bytes | None = None
    xmp: bytes | None = None
    graphic: bool = False
    chroma: str | None = None  # AVIF chroma subsampling; None: 4:4:4 for graphics, else 4:2:0
    avif_strength: int = 100  # libaom deltaq-strength (percent)
    final: bool = False  # the output itself, not a search sample: worth a slower encoder
    polish: bool = False  # the one last encode of the winner: the slowest encoder
    effort: str = "max"  # the job's effort (api.EFFORTS): some encoders are faster below max
    options: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Candidate:
    """One way to encode an image that the search tries."""

    format: str
    kind: str  # "lossy", "palette" or "lossless"
    # A chroma layout other than the codec's default (AVIF photos: see codecs/avif.py).
    chroma: str | None = None

    def extras(self, extras: Extras, final: bool = False) -> Extras:
        return replace(extras, chroma=self.chroma, final=final)


class Codec(Protocol):
    """One output format. Encoders take 8-bit L/RGB frames, and RGBA where `alpha` is true
    (the engine flattens transparency for the others); `quality=None` means lossless (or the
    codec's best where it has no lossless mode)."""

    name: str
    alpha: bool
    animation: bool
    lossless: bool  # a lossless mode exists
    quality_range: tuple[int, int]  # what the search may try
    # An encoder quality for pictures without fine detail (the blurred copies of the `blur`
    # safety policy); None: the codec stays lossless for them.
    low_detail_quality: int | None
    # Outputs are made with a slower encoder than the search's samples (so a sample that is
    # the image itself still needs its full-size check, and a small overshoot is worth a step
    # down at full size).
    final_encoder_differs: bool = False

    def encode(self, im: Image.Image, quality: int | None, extras: Extras) -> bytes:
        """One still image."""
        ...

    def limit(self, frames: list[Image.Image], extras: Extras) -> str | None:
        """Why this format cannot hold these frames at all (its size limits, from the shared
        format table), None when it can: a candidate that cannot is skipped, never tried."""
        row = formats.get(self.name)
        width, height = frames[0].size
        if row.holds(width, height):
            return None
        if max(width, height) > row.max_side:
            return f"at most {row.max_side} pixels a side"
        return f"at most {row.max_pixels} pixels"

    def encode_animation(
        self, frames: list[Image.Image], quality: int | None, extras: Extras
    ) -> bytes:
        """Several frames with `extras.durations` and `extras.loop`."""
        raise ValueError(f"{self.name} cannot hold an animation")

    def candidates(
        self, graphic: bool, animated: bool, lossless: bool, alone: bool
    ) -> list[Candidate]:
        """The encodes of this codec worth trying for this kind of image; `alone` when it is
        the only format the caller accepts."""
        ...

    def final_differs_at(self, effort: str) -> bool:
        """Whether outputs at `effort` use another encoder than search samples."""
        return self.final_encoder_differs

    def keeps_chroma(self, quality: int, chroma: str | None) -> bool:
        """Whether an encode at `quality` in layout `chroma` keeps colour at full resolution
        (else its score cannot pass what chroma subsampling alone leaves)."""
        return True

    def encoder_variant(self, effort: str) -> str:
        """Which encoder settings `effort` uses, for codecs whose encoder changes with it ("":
        one encoder at every effort); outputs of different variants need their own model."""
        return ""

    def setting_key(self, quality: int) -> int:
        """Qualities with the same key give the very same file (so one encode serves both)."""
        return quality

    def finer_step(
        self,
        frames: list[Image.Image],
        verified: Scored,
        target: float,
        final: Extras,
        judge: Judge,
    ) -> tuple[Scored, Extras]:
        """A step below `verified` finer than the next quality, with the settings it used."""
        return verified, final

    def polish(
        self, im: Image.Image, best: Scored, target: float, final: Extras, judge: Judge
    ) -> Scored:
        """The winner once more with the slowest encoder, when that pays; else `best`."""
        return best

    def recompress(self, data: bytes, width: int, height: int, effort: str) -> bytes:
        """The winning file's very pixels in fewer bytes, where `effort` pays for it (PNG at
        max); else `data`."""
        return data


def lossy_and_lossless(name: str, graphic: bool, lossless: bool) -> list[Candidate]:
    """The candidates of a codec with both modes: lossless when asked; else lossy, and for
    drawn content lossless too (few colours often code smaller without loss)."""
    if lossless:
        return [Candidate(name, "lossless")]
    lossy = [Candidate(name, "lossy")]
    return [*lossy, Candidate(name, "lossless")] if graphic else lossy


def encode_frames(
    codec: Codec, frames: list[Image.Image], quality: int | None, extras: Extras
) -> bytes:
    """A still or an animation through `codec`, transparency flattened where it has none."""
    if not codec.alpha:
        frames = [flatten(f) for f in frames]
    if len(frames) > 1:
        return codec.encode_animation(frames, quality, extras)
    return codec.encode(frames[0], quality, extras)


def flatten(im: Image.Image) -> Image.Image:
    """Composite transparency onto white for formats without alpha."""
    if im.mode != "RGBA":
        return im
    canvas = Image.new("RGB", im.size, (255, 255, 255))
    canvas.paste(im, mask=im.getchannel("A"))
    return canvas


def save(im: Image.Image, pil_format: str, extras: Extras, **params: object) -> bytes:
    """Encode through Pillow with the metadata the policy keeps and nothing else."""
    buf = io.BytesIO()
    if extras.icc_profile:
        params["icc_profile"] = extras.icc_profile
    if extras.exif:
        params["exif"] = extras.exif
    if extras.xmp:
        params["xmp"] = extras.xmp
    im.info = {}
    im.save(buf, pil_format, **params)
    return buf.getvalue()


def animation_params(frames: list[Image.Image], extras: Extras) -> dict[str, object]:
    """Pillow's save-all parameters for an animation."""
    return {
        "save_all": True,
        "append_images": frames[1:],
        "duration": list(extras.durations) or [100] * len(frames),
        "loop": extras.loop,
    }
