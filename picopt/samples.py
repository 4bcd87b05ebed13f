"""Sample images for the demo and tests: real photos shipped by scikit-image, and a graphic."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image, ImageDraw

DEMO_PHOTOS = ("astronaut.png", "coffee.png", "rocket.jpg", "chelsea.png")


def skimage_photo(name: str) -> Path:
    """Path of a photo inside the installed scikit-image package (no download)."""
    import skimage

    path = Path(skimage.__file__).parent / "data" / name
    if not path.exists():
        raise FileNotFoundError(f"scikit-image does not ship {name}")
    return path


def graphic_png(width: int = 640, height: int = 360) -> bytes:
    """A flat-colour banner with transparency and text, the typical web graphic."""
    image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((20, 20, width - 20, height - 20), radius=32, fill=(24, 92, 200, 255))
    draw.ellipse((60, 60, 220, 220), fill=(250, 200, 40, 255))
    draw.rectangle((260, 80, width - 60, 140), fill=(255, 255, 255, 255))
    draw.text((270, 92), "PICTURE OPTIMIZER", fill=(20, 20, 20, 255), font_size=28)
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()
