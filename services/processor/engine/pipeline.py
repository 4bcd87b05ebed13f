"""optimize(): bytes in, smallest acceptable encodes out."""

from __future__ import annotations

import errno
import io
import time
from dataclasses import dataclass

import cv2
import structlog
from PIL import Image

from picopt.formats import ALWAYS_ACCEPTED
from picopt.formats import FORMATS as FORMAT_TABLE

from .api import (
    EFFORTS,
    FITS,
    FORMATS,
    KEEP,
    QUALITY_PRESETS,
    EngineError,
    Limits,
    OptimizedImage,
    OptimizeOptions,
    OptimizeResult,
)
from .choose import ANIMATION_SAMPLES, Target, choose
from .codecs import CODECS, Extras
from .decode import Decoded, decode
from .geometry import Plan, plan
from .metadata import kept_exif, kept_xmp, with_orientation
from .placeholders import blurhash_of, lqip_of
from .resize import apply_plan
from .search import Opened, digest
from .strip import strip_losslessly

log = structlog.get_logger(__name__)

DEFAULT_ACCEPT = ("jpeg", "png", "webp")
# With no explicit accept list, an unchanged GIF may come back as itself (`no_gain`): every
# client displays GIF, and re-encoding some animations only makes them bigger.
WEB_SAFE_EXTRA = ("gif",)
# The optional last AVIF encodes (choose._polished: one or two at libaom speed 3, ~11 s each
# for 2 MP on this machine) start only while the job has used less than this share of its
# timeout.
POLISH_TIME_SHARE = 0.4
# Peak memory of a judge for one image and one scored encode, per pixel: 33 (grey) to 37 (RGB)
# bytes measured on a 4000x3000 image. A score target is kept only while that fits in this
# share of the job's memory ceiling (decoded frames and encoders need the rest).
JUDGE_BYTES_PER_PIXEL = 40
JUDGE_MEMORY_SHARE = 0.6


def target_of(options: OptimizeOptions) -> Target:
    """Read `quality`: auto/preset, lossless, a fixed encoder quality, or `target_score`."""
    q = str(options.quality).strip().lower()
    if options.target_score is not None:
        return Target(score=float(options.target_score))
    if q == "auto":
        return Target(score=QUALITY_PRESETS["balanced"])
    if q in QUALITY_PRESETS:
        return Target(score=QUALITY_PRESETS[q])
    if q == "lossless":
        return Target(lossless=True)
    if q.isascii() and q.isdigit() and 1 <= int(q) <= 100:
        return Target(fixed_quality=int(q))
    raise EngineError("invalid_options", f"Unknown quality {options.quality!r}.")


def output_formats(options: OptimizeOptions) -> tuple[str, ...]:
    if options.format != "auto":
        if options.format not in FORMATS:
            raise EngineError("invalid_options", f"Unknown output format {options.format!r}.")
        return (options.format,)
    accept = tuple(f for f in (options.accept or DEFAULT_ACCEPT) if f in FORMATS and f != "gif")
    if not accept:
        raise EngineError("invalid_options", "None of the accepted formats can be produced.")
    return accept


def _validate(options: OptimizeOptions) -> None:
    if options.fit not in FITS:
        raise EngineError("invalid_options", f"Unknown fit {options.fit!r}.")
    if options.keep_metadata not in KEEP:
        raise EngineError("invalid_options", f"Unknown metadata policy {options.keep_metadata!r}.")
    if options.effort not in EFFORTS:
        raise EngineError("invalid_options", f"Unknown effort {options.effort!r}.")
    sizes = [options.width, options.height, *options.widths]
    if any(s is not None and (s < 1 or s > 100_000) for s in sizes):
        raise EngineError("invalid_options", "Widths and heights must be between 1 and 100000.")


def _plans(options: OptimizeOptions, w: int, h: int) -> list[Plan]:
    """The main output's plan, then one per distinct responsive width with the main aspect
    ratio: widths above the source (without `enlarge`) all give the one full-size variant."""
    main = plan(w, h, options.width, options.height, options.fit, options.enlarge)
    variants: list[Plan] = []
    for width in options.widths:
        height = round(width * main.out_h / main.out_w) if options.height else None
        variant = plan(w, h, width, height, options.fit, options.enlarge)
        if variant not in variants:
            variants.append(variant)
    return [main, *variants]


def optimize(
    data: bytes, options: OptimizeOptions | None = None, limits: Limits | None = None
) -> OptimizeResult:
    """Decode, resize, and encode each requested output as small as the quality target allows.

    Every output decodes and is not bigger than the input, or is the input itself (`no_gain`),
    or says why it is bigger (`larger_reason`); anything else is an EngineError with a stable
    code. An exception of any other kind is a bug and leaves as `internal_error`.
    """
    started = time.perf_counter()
    try:
        result = _optimize(data, options or OptimizeOptions(), limits or Limits(), started)
    except EngineError:
        raise
    except MemoryError as exc:
        raise EngineError("too_large", "The image needs more memory than the job may use.") from exc
    except Exception as exc:
        if _out_of_memory(exc):
            raise EngineError(
                "too_large", "The image needs more memory than the job may use."
            ) from exc
        log.exception("engine_failed", error=type(exc).__name__)
        raise EngineError("internal_error", f"Unexpected failure: {type(exc).__name__}.") from exc
    result.ms = round((time.perf_counter() - started) * 1000, 1)
    log.info(
        "image_optimized",
        format_in=result.format_in,
        format_out=result.main.format,
        bytes_in=result.bytes_in,
        bytes_out=len(result.main.data),
        ms=result.ms,
    )
    return result


def _optimize(
    data: bytes, options: OptimizeOptions, limits: Limits, started: float
) -> OptimizeResult:
    _validate(options)
    target = target_of(options)
    formats = output_formats(options)
    keep = options.keep_metadata

    def size_hint(w: int, h: int) -> tuple[int, int] | None:
        plans = _plans(options, w, h)
        widest = max(plans, key=lambda p: p.scaled_w)
        return None if widest.scaled_w >= w else (widest.scaled_w, widest.scaled_h)

    decoded = decode(data, limits, keep_icc=keep in ("icc", "all"), size_hint=size_hint)
    kept = Kept(kept_exif(decoded.exif, keep), kept_xmp(decoded.xmp, keep))
    extras = Extras(
        durations=tuple(decoded.durations),
        loop=decoded.loop,
        icc_profile=decoded.icc_profile,
        exif=kept.exif,
        xmp=kept.xmp,
    )
    source_frames = _still_unless_movable(decoded.frames, formats)
    oriented_w, oriented_h = decoded.source_size
    polish_until = started + limits.timeout_s * POLISH_TIME_SHARE
    web_safe = options.format == "auto" and not options.accept
    input_formats = formats + (WEB_SAFE_EXTRA if web_safe else ())
    outputs: list[OptimizedImage] = []
    done: dict[Plan, OptimizedImage] = {}
    for p in _plans(options, oriented_w, oriented_h):
        if p in done:  # a variant the size of the main output is that output
            outputs.append(done[p])
            continue
        frames = apply_plan(source_frames, p)
        holding = _holding(frames, formats, extras, explicit=options.format != "auto")
        frames = _still_unless_movable(frames, holding)
        affordable, holding = _affordable(target, frames, holding, limits)
        choice = choose(frames, holding, affordable, extras, polish_until, options.effort)
        if len(frames) == 1 and time.perf_counter() < polish_until:
            choice.data = CODECS[choice.format].recompress(
                choice.data, frames[0].width, frames[0].height, options.effort
            )
        out = OptimizedImage(
            data=choice.data,
            format=choice.format,
            width=frames[0].width,
            height=frames[0].height,
            ssimulacra2=round(choice.score, 2),
            frames=len(frames),
            quality=choice.quality,
        )
        # A stand-in format (PNG for a WebP-only caller and a 20000 px banner) is acceptable
        # as the input's own format too.
        out = _settled(out, data, decoded, input_formats + holding, kept, choice.opened)
        done[p] = out
        outputs.append(out)
    result = OptimizeResult(
        format_in=decoded.format,
        bytes_in=len(data),
        width_in=oriented_w,
        height_in=oriented_h,
        outputs=outputs,
    )
    if options.placeholder:
        result.blurhash = blurhash_of(decoded.frames[0])
        result.lqip = lqip_of(decoded.frames[0])
    return result


def _affordable(
    target: Target, frames: list[Image.Image], holding: tuple[str, ...], limits: Limits
) -> tuple[Target, tuple[str, ...]]:
    """A score target needs the image scored at full size (about JUDGE_BYTES_PER_PIXEL); an
    image too large for that within the job's memory is encoded losslessly, which meets any
    target, as PNG when it may be (oxipng needs the least memory: a 98 MP mostly empty PNG
    under a 2 GB ceiling; lossless WebP ran out)."""
    if target.score is None:
        return target, holding
    scored = frames[0].width * frames[0].height * min(len(frames), ANIMATION_SAMPLES)
    budget = limits.max_memory_mb * 1024 * 1024 * JUDGE_MEMORY_SHARE
    if scored * JUDGE_BYTES_PER_PIXEL <= budget:
        return target, holding
    log.info("lossless_to_fit_memory", pixels=scored, max_memory_mb=limits.max_memory_mb)
    return Target(lossless=True), ("png",) if "png" in holding else holding


def _out_of_memory(exc: Exception) -> bool:
    """Libraries that report an allocation failure their own way (OpenCV, zlib, libvips)."""
    if isinstance(exc, cv2.error):
        return bool(exc.code == cv2.Error.StsNoMem)
    if isinstance(exc, OSError) and exc.errno == errno.ENOMEM:
        return True
    text = str(exc).lower()
    # Pillow's WebP encoder reports libwebp's VP8_ENC_ERROR_OUT_OF_MEMORY (1) and
    # VP8_ENC_ERROR_BITSTREAM_OUT_OF_MEMORY (2) as "encoding error N".
    return (
        "insufficient memory" in text
        or "out of memory" in text
        or text in ("encoding error 1", "encoding error 2")
    )


def _still_unless_movable(frames: list[Image.Image], formats: tuple[str, ...]) -> list[Image.Image]:
    """An animation for a caller none of whose formats can move gets its first frame."""
    if len(frames) > 1 and not any(CODECS[f].animation for f in formats):
        return frames[:1]
    return frames


def _holding(
    frames: list[Image.Image], formats: tuple[str, ...], extras: Extras, explicit: bool
) -> tuple[str, ...]:
    """The formats that can hold these frames (size limits, GIF's palette): the others are never
    tried. When none of the accepted ones can, the formats every client displays (PNG, JPEG)
    stand in; a format asked for by name that cannot is `format_limit`."""
    limits = {f: CODECS[f].limit(frames, extras) for f in formats}
    holding = tuple(f for f, why in limits.items() if why is None)
    if not holding and not explicit:
        holding = tuple(f for f in ALWAYS_ACCEPTED if CODECS[f].limit(frames, extras) is None)
    if not holding:
        width, height = frames[0].size
        reasons = "; ".join(f"{FORMAT_TABLE[f].label} holds {why}" for f, why in limits.items())
        raise EngineError(
            "format_limit", f"The {width}x{height} image does not fit the format: {reasons}."
        )
    return holding


@dataclass(frozen=True)
class Kept:
    """The metadata the policy lets through, for fresh encodes and for the input itself."""

    exif: bytes | None
    xmp: bytes | None


def _settled(
    out: OptimizedImage,
    data: bytes,
    decoded: Decoded,
    input_formats: tuple[str, ...],
    kept: Kept,
    opened: Opened | None = None,
) -> OptimizedImage:
    """The one rule every output obeys: it decodes, and it is not bigger than the input, or it
    is the input itself (`no_gain`), or it says why it is bigger (`larger_reason`). `opened`:
    what the judge saw when it decoded the encode it scored."""
    _check_decodes(out, opened)
    if len(out.data) <= len(data):
        return out
    reason = _why_not_the_input(out, decoded, input_formats)
    if reason is None:
        exif = kept.exif
        if decoded.orientation != 1:
            exif = with_orientation(exif, decoded.orientation)
        stripped = strip_losslessly(data, decoded.format, exif, kept.xmp)
        if stripped is not None and len(stripped) < len(out.data):
            return OptimizedImage(
                data=stripped,
                format=decoded.format,
                width=out.width,
                height=out.height,
                ssimulacra2=100.0,
                no_gain=True,
                frames=len(decoded.frames),
            )
        reason = "format_not_accepted"
    out.larger_reason = reason
    log.info("output_larger_than_input", reason=reason, format_in=decoded.format)
    return out


def _why_not_the_input(
    out: OptimizedImage, decoded: Decoded, input_formats: tuple[str, ...]
) -> str | None:
    """Why the input itself cannot stand in for this output; None when it can."""
    if decoded.format not in input_formats:
        return "format_not_accepted"
    if (out.width, out.height) != decoded.source_size:
        return "resized"
    if decoded.orientation != 1 and decoded.format not in ("jpeg", "png"):
        return "orientation"
    return None


def _check_decodes(out: OptimizedImage, opened: Opened | None = None) -> None:
    """An encoder's output is opened and its first frame decoded before anyone gets it; its
    frame count is the file's (encoders merge identical neighbouring frames). The very bytes
    the judge decoded in full to score them are not decoded again."""
    if opened is not None and opened.digest == digest(out.data):
        size, frames = opened.size, opened.frames
    else:
        size, frames = _decoded_size(out)
    if size != (out.width, out.height):
        raise EngineError(
            "internal_error",
            f"The {out.format.upper()} encoder wrote {size[0]}x{size[1]} pixels "
            f"instead of {out.width}x{out.height}.",
        )
    out.frames = frames


def _decoded_size(out: OptimizedImage) -> tuple[tuple[int, int], int]:
    """The file's pixel size and frame count, its first frame decoded."""
    try:
        with Image.open(io.BytesIO(out.data)) as im:
            im.load()
            frames = getattr(im, "n_frames", 1)
            size = im.size
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise EngineError(
            "internal_error", f"The {out.format.upper()} encoder wrote a file that does not decode."
        ) from exc
    return size, frames
