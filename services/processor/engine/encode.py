"""One encoder per output format, all taking 8-bit L/RGB/RGBA frames and returning bytes.

`quality=None` means lossless. JPEG goes through libvips' mozjpeg (trellis quantisation) when
pyvips is installed, else through Pillow followed by a lossless mozjpeg pass.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import imagequant
import mozjpeg_lossless_optimization
import oxipng
import pillow_jxl  # noqa: F401  (registers the JXL plugin with Pillow)
from PIL import Image

from .jpeg_markers import add_jpeg_metadata

try:
    import pyvips
except (ImportError, OSError):  # the libvips binary is optional
    pyvips = None

LOSSLESS_FORMATS = ("png", "webp", "jxl", "gif")
ANIMATED_FORMATS = ("webp", "avif", "png", "gif")
ALPHA_FORMATS = ("png", "webp", "avif", "jxl", "gif")
AVIF_SPEED = 6
# libaom's tuning for still images that maximises SSIMULACRA2 (libaom >= 3.13; libavif's own
# default is tune=iq): at equal score, on corpus photos (bytes interpolated to score 80 between
# neighbouring qualities), 2.3% smaller at speed 6 (ten photos), 1.2% at speed 4 in 4:2:0 and
# 0.6% in 4:4:4 (eight photos).
AVIF_TUNE = ("tune", "ssimulacra2")
# libaom's deltaq-strength (percent, default 100): a weaker spread of per-block quantisers
# gives a step finer than libavif's next quality (see choose._weaker_deltaq).
AVIF_WEAK_STRENGTH = 75
# Outputs (not search samples) up to about 2 MP are encoded at libaom speed 4: 4-10% smaller
# at equal SSIMULACRA2 than speed 6 for 3-10x the encode time, still a few seconds at 2 MP.
AVIF_FINAL_SPEED = 4
AVIF_FINAL_MAX_PIXELS = 2_100_000
# The winning AVIF is encoded once more at speed 3 with the same settings (see
# choose._polished): 0-2.5% smaller and up to 0.45 points higher at equal quality on corpus
# photos, for one encode about twice as slow as a speed-4 one.
AVIF_POLISH_SPEED = 3
WEBP_METHOD = 4


@dataclass(frozen=True)
class Extras:
    """What travels with the pixels: animation timing and the metadata the policy keeps."""

    durations: tuple[int, ...] = ()
    loop: int = 0
    icc_profile: bytes | None = None
    exif: bytes | None = None
    graphic: bool = False
    chroma: str | None = None  # AVIF chroma subsampling; None: 4:4:4 for graphics, else 4:2:0
    avif_strength: int = 100  # libaom deltaq-strength (percent)
    final: bool = False  # the output itself, not a search sample: worth a slower encoder
    polish: bool = False  # the one last encode of the winner: the slowest encoder
    options: dict[str, object] = field(default_factory=dict)


def encode(frames: list[Image.Image], fmt: str, quality: int | None, extras: Extras) -> bytes:
    """Encode `frames` as `fmt` at encoder `quality` (1-100, None for lossless)."""
    if fmt not in ALPHA_FORMATS:
        frames = [_flatten(f) for f in frames]
    if len(frames) > 1:
        return _encode_animation(frames, fmt, quality, extras)
    im = frames[0]
    if fmt == "jpeg":
        return _jpeg(im, quality or 95, extras)
    if fmt == "png":
        return _png(im, quality, extras)
    if fmt == "webp":
        return _webp(im, quality, extras)
    if fmt == "avif":
        return _avif(im, quality or 100, extras)
    if fmt == "jxl":
        return _jxl(im, quality, extras)
    if fmt == "gif":
        return _save(im, "GIF", extras, optimize=True)
    raise ValueError(f"unknown output format {fmt}")


def _flatten(im: Image.Image) -> Image.Image:
    """Composite transparency onto white for formats without alpha."""
    if im.mode != "RGBA":
        return im
    canvas = Image.new("RGB", im.size, (255, 255, 255))
    canvas.paste(im, mask=im.getchannel("A"))
    return canvas


def _save(im: Image.Image, pil_format: str, extras: Extras, **params: object) -> bytes:
    buf = io.BytesIO()
    if extras.icc_profile:
        params["icc_profile"] = extras.icc_profile
    if extras.exif:
        params["exif"] = extras.exif
    im.info = {}
    im.save(buf, pil_format, **params)
    return buf.getvalue()


def _jpeg(im: Image.Image, quality: int, extras: Extras) -> bytes:
    if pyvips is not None:
        return add_jpeg_metadata(
            _vips_jpeg(im, quality, extras.graphic), extras.exif, extras.icc_profile
        )
    data = _save(
        im,
        "JPEG",
        extras,
        quality=quality,
        optimize=True,
        progressive=True,
        subsampling="4:4:4" if extras.graphic or quality >= 90 else "4:2:0",
    )
    return mozjpeg_lossless_optimization.optimize(
        data, copy=mozjpeg_lossless_optimization.COPY_MARKERS.ALL
    )


def _vips_jpeg(im: Image.Image, quality: int, graphic: bool) -> bytes:
    """mozjpeg through libvips: trellis quantisation, deringing, optimised progressive scans.

    Quantisation table 2 (tuned for MS-SSIM) measured 4% smaller than table 3 at equal
    SSIMULACRA2 on photos; 4:4:4 costs ~18% more for photos, so only graphics get it.
    """
    vi = pyvips.Image.new_from_memory(
        im.tobytes(), im.width, im.height, len(im.getbands()), "uchar"
    )
    vi = vi.copy(interpretation="b-w" if im.mode == "L" else "srgb")
    return vi.jpegsave_buffer(
        Q=quality,
        optimize_coding=True,
        interlace=True,
        trellis_quant=True,
        overshoot_deringing=True,
        optimize_scans=True,
        quant_table=2,
        subsample_mode="off" if graphic or quality >= 90 else "on",
        keep=pyvips.enums.ForeignKeep.NONE,
    )


def _png(im: Image.Image, quality: int | None, extras: Extras) -> bytes:
    """Lossless PNG through oxipng; below quality 100, an imagequant palette first."""
    if quality is not None and quality < 100:
        im = imagequant.quantize_pil_image(
            im.convert("RGBA"), dithering_level=1.0, max_colors=256, max_quality=quality
        )
    raw = _save(im, "PNG", extras, compress_level=1)
    return oxipng.optimize_from_memory(raw, level=2)


def _webp(im: Image.Image, quality: int | None, extras: Extras) -> bytes:
    if quality is None:
        return _save(im, "WEBP", extras, lossless=True, quality=80, method=WEBP_METHOD, exact=False)
    return _save(im, "WEBP", extras, quality=quality, method=WEBP_METHOD, alpha_quality=100)


def _avif(im: Image.Image, quality: int, extras: Extras) -> bytes:
    advanced = [AVIF_TUNE]
    if extras.avif_strength != 100:
        advanced.append(("deltaq-strength", str(extras.avif_strength)))
    return _save(
        im,
        "AVIF",
        extras,
        quality=quality,
        speed=_avif_speed(im, extras),
        subsampling=_avif_chroma(quality, extras),
        advanced=tuple(advanced),
    )


def avif_quantizer(quality: int) -> int:
    """libavif's AV1 quantizer (63-0) for a quality (0-100): neighbouring qualities often share
    one, and so give the very same file."""
    return ((100 - quality) * 63 + 50) // 100


def _avif_chroma(quality: int, extras: Extras) -> str:
    if extras.graphic or quality >= 90:
        return "4:4:4"
    return extras.chroma or "4:2:0"


def slow_avif_fits(im: Image.Image) -> bool:
    """Whether an output this size gets the slower libaom speeds (final and polish)."""
    return im.width * im.height <= AVIF_FINAL_MAX_PIXELS


def _avif_speed(im: Image.Image, extras: Extras) -> int:
    if extras.final and slow_avif_fits(im):
        return AVIF_POLISH_SPEED if extras.polish else AVIF_FINAL_SPEED
    return AVIF_SPEED


def _jxl(im: Image.Image, quality: int | None, extras: Extras) -> bytes:
    if quality is None:
        return _save(im, "JXL", extras, lossless=True, effort=7)
    return _save(im, "JXL", extras, quality=quality, effort=7)


def _encode_animation(
    frames: list[Image.Image], fmt: str, quality: int | None, extras: Extras
) -> bytes:
    durations = list(extras.durations) or [100] * len(frames)
    common: dict[str, object] = {
        "save_all": True,
        "append_images": frames[1:],
        "duration": durations,
        "loop": extras.loop,
    }
    first = frames[0]
    if fmt == "webp":
        if quality is None:
            return _save(
                first, "WEBP", extras, lossless=True, quality=80, method=WEBP_METHOD, **common
            )
        return _save(first, "WEBP", extras, quality=quality, method=WEBP_METHOD, **common)
    if fmt == "avif":
        return _save(first, "AVIF", extras, quality=quality or 100, speed=AVIF_SPEED, **common)
    if fmt == "png":
        return _save(first, "PNG", extras, optimize=True, **common)
    if fmt == "gif":
        return _save(first, "GIF", extras, optimize=True, disposal=2, **common)
    raise ValueError(f"{fmt} cannot hold an animation")
