"""Blurred copies of results, for the `blur` safety policy (see services/vision/safety_policy.py).

The copy keeps the result's format, size and animation so links and the job's reported
dimensions stay true; only the pixels become unrecognisable. The radius scales with the image,
so a thumbnail and a 4K photo are equally obscured. Results are our own encoder's output, so
Pillow (with the engine's plug-ins) reads every format, JPEG XL included.
"""

from __future__ import annotations

import io

from PIL import Image, ImageFilter, ImageSequence

from services.processor.engine.codecs import Extras, codec
from services.processor.engine.encode import encode

# A Gaussian radius of 4 % of the longer side leaves shapes and colours but no detail.
RADIUS_SHARE = 0.04
MIN_RADIUS = 6.0


def blur_radius(width: int, height: int) -> float:
    return max(MIN_RADIUS, RADIUS_SHARE * max(width, height))


def blurred_copy(data: bytes, fmt: str) -> bytes:
    """The same image, blurred, encoded as `fmt` (every frame of an animation)."""
    with Image.open(io.BytesIO(data)) as im:
        blur = ImageFilter.GaussianBlur(blur_radius(*im.size))
        alpha = im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info
        frames, durations = [], []
        for frame in ImageSequence.Iterator(im):
            frames.append(frame.convert("RGBA" if alpha else "RGB").filter(blur))
            durations.append(int(frame.info.get("duration", 0) or 0))
        loop = int(im.info.get("loop", 0) or 0)
        icc = im.info.get("icc_profile") or None
    extras = Extras(
        durations=tuple(durations) if len(frames) > 1 else (), loop=loop, icc_profile=icc
    )
    # Blurred pixels need few bits; lossless formats stay lossless (a palette would band).
    return encode(frames, fmt, codec(fmt).low_detail_quality, extras)
