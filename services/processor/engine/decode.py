"""Decoding with limits: orientation applied, colours in sRGB (or the kept profile), no metadata."""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pillow_heif
import pillow_jxl  # noqa: F401  (registers the JXL plugin with Pillow)
from PIL import Image, ImageCms, ImageFile, ImageOps, ImageSequence, UnidentifiedImageError

from . import isobmff, jxl_header, vips_decode
from .api import EngineError, Limits
from .detect import detect_format
from .resize import resample
from .strip import gif_xmp

pillow_heif.register_heif_opener()
ImageFile.LOAD_TRUNCATED_IMAGES = False

_PIL_FORMATS = {
    "jpeg": ("JPEG", "MPO"),
    "png": ("PNG",),
    "gif": ("GIF",),
    "webp": ("WEBP",),
    "tiff": ("TIFF",),
    "bmp": ("BMP", "DIB"),
    "avif": ("AVIF",),
    "heic": ("HEIF",),
    "jxl": ("JXL",),
}
_ANIMATED_FORMATS = {"gif", "webp", "avif", "png"}
# Where Pillow does not surface a format's XMP.
_XMP_READERS: dict[str, Callable[[bytes], bytes | None]] = {
    "jxl": jxl_header.xmp_of,
    "gif": gif_xmp,
}
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError, TypeError)
_SRGB = ImageCms.createProfile("sRGB")
_PRESCALE_MODES = {"RGB", "RGBA", "L", "CMYK"}
SizeHint = Callable[[int, int], tuple[int, int] | None]
# Orientations 5-8 swap width and height.
_TRANSPOSING_ORIENTATIONS = {5, 6, 7, 8}


@dataclass
class Decoded:
    """Pixels ready to resize and encode, plus what the metadata policy may need."""

    format: str
    frames: list[Image.Image]
    width: int
    height: int
    # Per frame, in milliseconds, as the file states them (0 stays 0: browsers show such frames
    # for 100 ms whatever the format).
    durations: list[int] = field(default_factory=list)
    # How many times the animation plays, 0 for ever (see _plays).
    loop: int = 0
    icc_profile: bytes | None = None
    exif: Image.Exif | None = None
    xmp: bytes | None = None
    orientation: int = 1
    source_size: tuple[int, int] = (0, 0)

    @property
    def animated(self) -> bool:
        return len(self.frames) > 1

    @property
    def has_alpha(self) -> bool:
        return self.frames[0].mode == "RGBA"


def decode(
    data: bytes,
    limits: Limits,
    keep_icc: bool = False,
    size_hint: SizeHint | None = None,
) -> Decoded:
    """Decode `data` within `limits`; `size_hint(w, h)` gives the final size for shrink-on-load."""
    if len(data) > limits.max_bytes:
        raise EngineError(
            "too_large", f"The file is {len(data)} bytes; the limit is {limits.max_bytes}."
        )
    fmt = detect_format(data)
    try:
        if fmt == "jxl":
            _check_jxl(data, limits)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data), formats=_PIL_FORMATS[fmt])
            return _decode_opened(data, im, fmt, limits, keep_icc, size_hint)
    except EngineError:
        raise
    except Image.DecompressionBombError as exc:
        raise EngineError("too_many_pixels", "The image has too many pixels.") from exc
    except UnidentifiedImageError as exc:
        raise EngineError(
            "corrupt_image", f"The file starts like {fmt.upper()} but cannot be read as one."
        ) from exc
    except MemoryError as exc:
        raise EngineError("too_large", "The image needs more memory than allowed.") from exc
    except _DECODE_ERRORS as exc:
        raise EngineError("corrupt_image", f"The {fmt.upper()} image is damaged: {exc}.") from exc
    except RuntimeError as exc:  # the HEIF and JXL bindings' way to say "cannot decode"
        raise EngineError("corrupt_image", f"The {fmt.upper()} image is damaged.") from exc


def _decode_opened(
    data: bytes,
    im: Image.Image,
    fmt: str,
    limits: Limits,
    keep_icc: bool,
    size_hint: SizeHint | None,
) -> Decoded:
    n_frames = getattr(im, "n_frames", 1) if fmt in _ANIMATED_FORMATS else 1
    if n_frames > limits.max_frames:
        raise EngineError(
            "too_many_frames", f"The image has {n_frames} frames; the limit is {limits.max_frames}."
        )
    width, height = im.size
    if width < 1 or height < 1:
        raise EngineError("corrupt_image", "The image has no pixels.")
    if width * height * n_frames > limits.max_pixels:
        raise EngineError(
            "too_many_pixels",
            f"The image has {width * height * n_frames} pixels (all frames); "
            f"the limit is {limits.max_pixels}.",
        )
    exif = im.getexif()
    icc = im.info.get("icc_profile") or None
    xmp = _XMP_READERS[fmt](data) if fmt in _XMP_READERS else im.info.get("xmp")
    # libjxl has already applied the codestream's orientation; JPEG XL ignores EXIF's.
    orientation = 1 if fmt == "jxl" else int(exif.get(0x0112, 1) or 1)
    cmyk = im.mode == "CMYK"
    if n_frames == 1 and fmt == "jpeg" and size_hint is not None:
        _shrink_on_load(im, orientation, size_hint)
    if n_frames > 1:
        loop = _plays(im, fmt, data)
        frames, durations = _animation_frames(im)
    elif (vips_target := _vips_target(im, fmt, keep_icc, size_hint)) is not None:
        converting = cmyk or bool(icc and not _is_srgb(icc))
        frames = [_normalise(vips_decode.thumbnail(data, vips_target, converting), None, False)]
        durations, loop = [], 0
    else:
        im.load()
        im = _prescale(im, orientation, size_hint)
        oriented = im if fmt == "jxl" else ImageOps.exif_transpose(im)
        frames = [_normalise(oriented, icc, keep_icc)]
        durations, loop = [], 0
    kept_icc = icc if keep_icc and icc and not cmyk and frames[0].mode != "L" else None
    transposed = orientation in _TRANSPOSING_ORIENTATIONS and n_frames == 1
    return Decoded(
        format=fmt,
        frames=frames,
        width=frames[0].width,
        height=frames[0].height,
        durations=durations,
        loop=loop,
        icc_profile=kept_icc,
        exif=exif,
        xmp=xmp.encode("utf-8") if isinstance(xmp, str) else xmp or None,
        orientation=orientation if n_frames == 1 else 1,
        source_size=(height, width) if transposed else (width, height),
    )


def _check_jxl(data: bytes, limits: Limits) -> None:
    """The JXL decoder decodes every pixel when the file is opened: check the header first."""
    header = jxl_header.read_header(data)
    if header.animated:
        raise EngineError("unsupported_format", "Animated JPEG XL images are not supported.")
    if header.width * header.height > limits.max_pixels:
        raise EngineError(
            "too_many_pixels",
            f"The image has {header.width * header.height} pixels; "
            f"the limit is {limits.max_pixels}.",
        )


def _vips_target(
    im: Image.Image, fmt: str, keep_icc: bool, size_hint: SizeHint | None
) -> tuple[int, int] | None:
    """The oriented final size when libvips should decode (a real downscale, sRGB output)."""
    if keep_icc or size_hint is None or not vips_decode.available(fmt):
        return None
    if getattr(im, "n_frames", 1) > 1 or im.mode not in _PRESCALE_MODES | {"P", "LA", "I;16"}:
        return None
    w, h = im.size
    if int(im.getexif().get(0x0112, 1) or 1) in _TRANSPOSING_ORIENTATIONS:
        w, h = h, w
    target = size_hint(w, h)
    if target is None or target[0] >= w or target[1] >= h:
        return None
    return target


def _raw_target(
    size: tuple[int, int], orientation: int, size_hint: SizeHint | None
) -> tuple[int, int] | None:
    """The hinted final size, expressed in the stored (not yet rotated) orientation."""
    if size_hint is None:
        return None
    w, h = size
    swap = orientation in _TRANSPOSING_ORIENTATIONS
    target = size_hint(*((h, w) if swap else (w, h)))
    if target is None:
        return None
    return (target[1], target[0]) if swap else target


def _shrink_on_load(im: Image.Image, orientation: int, size_hint: SizeHint) -> None:
    """Let libjpeg decode at 1/2, 1/4 or 1/8 scale, never below the final size."""
    target = _raw_target(im.size, orientation, size_hint)
    if target is not None:
        im.draft(None, target)


def _prescale(im: Image.Image, orientation: int, size_hint: SizeHint | None) -> Image.Image:
    """Resize before rotating and colour-converting, so those run on the smaller image."""
    target = _raw_target(im.size, orientation, size_hint)
    if target is None or im.mode not in _PRESCALE_MODES:
        return im
    if target[0] >= im.width or target[1] >= im.height:
        return im
    icc = im.info.get("icc_profile")
    out = resample(im, target)
    if icc:
        out.info["icc_profile"] = icc
    return out


def _animation_frames(im: Image.Image) -> tuple[list[Image.Image], list[int]]:
    """Every frame as the full canvas at that moment (Pillow applies each format's disposal and
    blending), with its display time in milliseconds exactly as the file states it.

    A frame's duration is read after it is loaded: WebP and AVIF set it only then. A GIF frame
    reaching past the logical screen makes Pillow grow the image; browsers clip it to the
    first frame's canvas, and so does this (encoders need one size for every frame).
    """
    frames: list[Image.Image] = []
    durations: list[int] = []
    canvas_size = im.size
    for frame in ImageSequence.Iterator(im):
        frame.load()
        durations.append(max(0, round(float(frame.info.get("duration") or 0))))
        rgba = frame.convert("RGBA")
        if rgba.size != canvas_size:
            canvas = Image.new("RGBA", canvas_size, (0, 0, 0, 0))
            canvas.paste(rgba.crop((0, 0, *canvas_size)), (0, 0))
            rgba = canvas
        frames.append(_strip_info(rgba))
    if all(f.getchannel("A").getextrema()[0] == 255 for f in frames):
        frames = [_strip_info(f.convert("RGB")) for f in frames]  # no alpha plane to encode
    return frames, durations


def _plays(im: Image.Image, fmt: str, data: bytes) -> int:
    """How many times the animation plays: 0 for ever (WebP's and APNG's meaning).

    A GIF without a NETSCAPE block plays once; its loop count N means N repeats after the
    first play, as browsers (and libwebp's gif2webp) read it. AVIF keeps it in the edit list.
    """
    if fmt == "avif":
        return isobmff.avif_plays(data)
    if fmt == "gif":
        if "loop" not in im.info:
            return 1
        repeats = int(im.info["loop"] or 0)
        return 0 if repeats == 0 else repeats + 1
    return max(0, int(im.info.get("loop", 0) or 0))


def _normalise(im: Image.Image, icc: bytes | None, keep_icc: bool) -> Image.Image:
    """Bring any mode to L, RGB or RGBA in 8 bits, in sRGB unless a wide-gamut profile is kept."""
    im = _to_8bit(im)
    if im.mode == "CMYK" or (icc and not keep_icc and not _is_srgb(icc)):
        im = _to_srgb(im, icc)
    if im.mode in ("1", "L", "LA") and not im.has_transparency_data:
        im = im.convert("L")
    elif im.mode not in ("L", "RGB", "RGBA"):
        im = im.convert("RGBA" if im.has_transparency_data else "RGB")
    if im.mode == "RGBA" and im.getchannel("A").getextrema()[0] == 255:
        im = im.convert("RGB")
    return _strip_info(im)


def _is_srgb(icc: bytes) -> bool:
    """Profiles that already describe sRGB need no conversion (saves a full-image transform)."""
    try:
        description = ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(icc)))
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return False
    return "srgb" in description.lower()


def _to_8bit(im: Image.Image) -> Image.Image:
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(im, dtype=np.float64)
        peak = 65535.0 if arr.max(initial=0) > 255 or im.mode != "I" else 255.0
        return Image.fromarray(np.clip(arr * (255.0 / peak) + 0.5, 0, 255).astype(np.uint8), "L")
    if im.mode == "F":
        arr = np.asarray(im, dtype=np.float64)
        scale = 255.0 if arr.max(initial=0) <= 1.0 else 1.0
        return Image.fromarray(np.clip(arr * scale + 0.5, 0, 255).astype(np.uint8), "L")
    return im


def _to_srgb(im: Image.Image, icc: bytes | None) -> Image.Image:
    """Convert colour through the embedded profile into sRGB (a broken profile falls back to a
    plain conversion); grey stays grey, its gamma being close to sRGB's."""
    alpha = im.getchannel("A") if im.mode in ("RGBA", "LA", "PA") else None
    if im.mode in ("L", "LA"):
        out = im.convert("L")
    else:
        base = im if im.mode in ("RGB", "CMYK") else im.convert("RGB")
        out = (_through_profile(base, icc) if icc else None) or base.convert("RGB")
    if alpha is not None:
        out = out.convert("RGB")
        out.putalpha(alpha)
    return out


def _through_profile(im: Image.Image, icc: bytes) -> Image.Image | None:
    try:
        src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        return ImageCms.profileToProfile(
            im, src, _SRGB, renderingIntent=ImageCms.Intent.PERCEPTUAL, outputMode="RGB"
        )
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return None


def _strip_info(im: Image.Image) -> Image.Image:
    """Drop everything Pillow would otherwise copy into an output (EXIF, XMP, ICC, comments)."""
    im.info = {}
    return im
