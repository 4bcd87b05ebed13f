"""Decode uploaded bytes into the one image shape every provider analyses.

Providers see an upright, sRGB, 8-bit RGB image no larger than `max_side`, so that
boxes, timings and model inputs are comparable across formats and providers.
"""

from __future__ import annotations

import contextlib
import io
import warnings

import numpy as np
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

# Keys set in `Image.info` of the prepared image; providers read them as hints.
INFO_HAS_ALPHA = "picopt_has_alpha"
INFO_FRAMES = "picopt_frames"
INFO_SOURCE_SIZE = "picopt_source_size"

_SRGB = ImageCms.createProfile("sRGB")


class UnreadableImageError(ValueError):
    """The bytes are not an image Pillow (with the project's plug-ins) can decode."""


def _register_plugins() -> None:
    """Enable HEIC/AVIF and JPEG XL decoding where the optional plug-ins are installed."""
    with contextlib.suppress(ImportError):
        import pillow_heif

        pillow_heif.register_heif_opener()
    with contextlib.suppress(ImportError):
        import pillow_jxl  # noqa: F401  (registers the JPEG XL plug-in on import)


_register_plugins()


def _to_srgb(img: Image.Image) -> Image.Image:
    """Convert embedded-profile colours to sRGB so palettes and exposure are comparable."""
    icc = img.info.get("icc_profile")
    if not icc or img.mode not in ("RGB", "RGBA"):
        return img
    try:
        src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        return ImageCms.profileToProfile(img, src, _SRGB, outputMode=img.mode) or img
    except (ImageCms.PyCMSError, OSError, ValueError):
        return img


def _high_bit_depth_to_8bit(img: Image.Image) -> Image.Image:
    """Scale 16/32-bit grey modes to 8 bits instead of letting Pillow clip them."""
    arr = np.asarray(img)
    peak = float(arr.max()) if arr.size else 0.0
    scale = np.float32(255.0 / (65535.0 if peak > 255 else max(peak, 1.0)))
    return Image.fromarray(np.clip(arr * scale, 0, 255).astype(np.uint8), "L")


def _flatten_alpha(img: Image.Image) -> tuple[Image.Image, bool]:
    """Composite transparency onto the background that keeps the content visible."""
    if img.mode in ("P", "LA", "L", "PA") and (
        "transparency" in img.info or img.mode in ("LA", "PA")
    ):
        img = img.convert("RGBA")
    if img.mode != "RGBA":
        return img, False
    rgba = np.asarray(img)
    alpha = rgba[..., 3]
    if alpha.min() == 255:
        return img.convert("RGB"), False
    visible = alpha > 127
    light_content = visible.any() and rgba[..., :3][visible].mean() > 200
    background = (0, 0, 0) if light_content else (255, 255, 255)
    canvas = Image.new("RGB", img.size, background)
    canvas.paste(img, mask=img.getchannel("A"))
    return canvas, True


def prepare_image(data: bytes, max_side: int = 1024) -> Image.Image:
    """Decode any Pillow-readable bytes once: first frame, downscaled, EXIF-upright, sRGB RGB.

    The one decode every analyser shares: JPEG is decoded at a reduced DCT scale, other
    formats are reduced right after decoding, and orientation, colour conversion and alpha
    flattening then run on the small frame only, so the full-size pixels are dropped early.
    """
    img: Image.Image
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            opened = Image.open(io.BytesIO(data))
            img = opened
            # An MPO's second image is a gain map or a stereo view, not an animation frame.
            frames = 1 if opened.format == "MPO" else int(getattr(img, "n_frames", 1) or 1)
            source_size = img.size
            if opened.format in ("JPEG", "MPO"):
                opened.draft(opened.mode, (max_side, max_side))
            img.load()
    except (
        UnidentifiedImageError,
        OSError,
        SyntaxError,
        ValueError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
    ) as exc:
        raise UnreadableImageError(f"cannot decode image: {type(exc).__name__}") from exc

    icc = img.info.get("icc_profile")
    exif = img.getexif()
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        img = _high_bit_depth_to_8bit(img)
    elif img.mode == "CMYK":
        img = img.convert("RGB")
    elif img.mode in ("P", "PA"):
        img = img.convert("RGBA")
    elif img.mode not in ("RGB", "RGBA", "L", "LA"):
        img = img.convert("RGBA" if "A" in img.getbands() else "RGB")
    if max(img.size) > max_side:
        img = _reduced(img, max_side)
    orientation = exif.get(0x0112)
    if orientation:
        img.getexif()[0x0112] = orientation
        img = ImageOps.exif_transpose(img)
    if icc and img.mode in ("RGB", "RGBA"):
        img.info["icc_profile"] = icc
        img = _to_srgb(img)
    img, has_alpha = _flatten_alpha(img)
    img = img.convert("RGB")
    img.info = {
        INFO_HAS_ALPHA: has_alpha,
        INFO_FRAMES: frames,
        INFO_SOURCE_SIZE: source_size,
    }
    return img


def _reduced(img: Image.Image, max_side: int) -> Image.Image:
    """A new, smaller frame (the caller drops the full-size one)."""
    scale = max_side / max(img.size)
    size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
    return img.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
