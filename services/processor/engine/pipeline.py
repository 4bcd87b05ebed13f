"""optimize(): bytes in, smallest acceptable encodes out."""

from __future__ import annotations

import time

import structlog

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
from .choose import Target, choose
from .codecs import Extras
from .decode import Decoded, decode
from .geometry import Plan, plan
from .metadata import kept_exif, with_orientation
from .placeholders import blurhash_of, lqip_of
from .resize import apply_plan
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
    if q.isdigit() and 1 <= int(q) <= 100:
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
    """The main output's plan, then one per responsive width with the main aspect ratio."""
    main = plan(w, h, options.width, options.height, options.fit, options.enlarge)
    plans = [main]
    for width in options.widths:
        height = round(width * main.out_h / main.out_w) if options.height else None
        plans.append(plan(w, h, width, height, options.fit, options.enlarge))
    return plans


def optimize(
    data: bytes, options: OptimizeOptions | None = None, limits: Limits | None = None
) -> OptimizeResult:
    """Decode, resize, and encode each requested output as small as the quality target allows."""
    started = time.perf_counter()
    options = options or OptimizeOptions()
    limits = limits or Limits()
    _validate(options)
    target = target_of(options)
    formats = output_formats(options)
    keep = options.keep_metadata

    def size_hint(w: int, h: int) -> tuple[int, int] | None:
        plans = _plans(options, w, h)
        widest = max(plans, key=lambda p: p.scaled_w)
        return None if widest.scaled_w >= w else (widest.scaled_w, widest.scaled_h)

    decoded = decode(data, limits, keep_icc=keep in ("icc", "all"), size_hint=size_hint)
    exif = kept_exif(decoded.exif, keep)
    extras = Extras(
        durations=tuple(decoded.durations),
        loop=decoded.loop,
        icc_profile=decoded.icc_profile,
        exif=exif,
    )
    oriented_w, oriented_h = decoded.source_size
    polish_until = started + limits.timeout_s * POLISH_TIME_SHARE
    outputs: list[OptimizedImage] = []
    for i, p in enumerate(_plans(options, oriented_w, oriented_h)):
        frames = apply_plan(decoded.frames, p)
        choice = choose(frames, formats, target, extras, polish_until)
        out = OptimizedImage(
            data=choice.data,
            format=choice.format,
            width=frames[0].width,
            height=frames[0].height,
            ssimulacra2=round(choice.score, 2),
            frames=len(frames),
            quality=choice.quality,
        )
        if i == 0:
            web_safe = options.format == "auto" and not options.accept
            fallback_formats = formats + (WEB_SAFE_EXTRA if web_safe else ())
            out = _never_bigger(out, data, decoded, fallback_formats, exif, frames[0].size)
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


def _never_bigger(
    out: OptimizedImage,
    data: bytes,
    decoded: Decoded,
    formats: tuple[str, ...],
    exif: bytes | None,
    size: tuple[int, int],
) -> OptimizedImage:
    """If the best encode is not smaller than the input, return the input stripped (`no_gain`)."""
    if len(out.data) < len(data) or decoded.format not in formats:
        return out
    if size != decoded.source_size:
        return out
    if decoded.orientation != 1:
        if decoded.format not in ("jpeg", "png"):
            return out
        exif = with_orientation(exif, decoded.orientation)
    stripped = strip_losslessly(data, decoded.format, exif)
    if stripped is None or len(stripped) >= len(out.data):
        return out
    return OptimizedImage(
        data=stripped,
        format=decoded.format,
        width=size[0],
        height=size[1],
        ssimulacra2=100.0,
        no_gain=True,
        frames=len(decoded.frames),
    )
