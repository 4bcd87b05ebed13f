"""Test images with known content, built from scikit-image photos and Pillow's own font."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from skimage import data as skdata


def encode(img: Image.Image, fmt: str = "PNG", **kwargs: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kwargs)
    return buf.getvalue()


def sign_photo(text: str = "OPEN 24 HOURS") -> Image.Image:
    """A real photo with a light sign carrying `text`, drawn with Pillow's bundled font."""
    img = Image.fromarray(skdata.coffee()).convert("RGB")
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=44)
    draw.rectangle((30, 20, 420, 90), fill=(245, 243, 235))
    draw.text((44, 30), text, font=font, fill=(20, 20, 20))
    return img


def small_sign(photo: str, text: str, size: int, x: int, y: int, outlined: bool) -> Image.Image:
    """A scikit-image photo with `text` at `size` px: on a light plate, or white outlined."""
    img = Image.fromarray(getattr(skdata, photo)()).convert("RGB")
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=size)
    if outlined:
        draw.text((x, y), text, font=font, fill="white", stroke_width=2, stroke_fill="black")
    else:
        left, top, right, bottom = draw.textbbox((x, y), text, font=font)
        pad = size // 3
        draw.rectangle((left - pad, top - pad, right + pad, bottom + pad), fill=(245, 243, 235))
        draw.text((x, y), text, font=font, fill=(20, 20, 20))
    return img


def document_page() -> Image.Image:
    img = Image.new("RGB", (850, 1100), "white")
    draw = ImageDraw.Draw(img)
    draw.text((80, 70), "Quarterly Report", font=ImageFont.load_default(size=40), fill="black")
    body = ImageFont.load_default(size=20)
    line = "The service keeps a clear record of every step applied to each image it stores."
    for i in range(30):
        draw.text((80, 160 + i * 29), line, font=body, fill=(30, 30, 30))
    return img


def flat_graphic() -> Image.Image:
    img = Image.new("RGB", (600, 400), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    draw.ellipse((150, 50, 450, 350), fill=(220, 40, 40))
    draw.polygon([(300, 90), (400, 300), (200, 300)], fill=(30, 60, 200))
    return img


def astronaut() -> Image.Image:
    return Image.fromarray(np.asarray(skdata.astronaut())).convert("RGB")
