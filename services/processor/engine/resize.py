"""Apply a geometry plan to frames with a high-quality filter."""

from __future__ import annotations

from PIL import Image

from .focus import crop_box, focus_point
from .geometry import Plan


def apply_plan(frames: list[Image.Image], p: Plan) -> list[Image.Image]:
    """Resize (Lanczos with a reducing gap), then crop around the focus or pad, for every frame."""
    if (p.scaled_w, p.scaled_h) == frames[0].size and (p.out_w, p.out_h) == frames[0].size:
        return frames
    scaled = [resample(f, (p.scaled_w, p.scaled_h)) for f in frames]
    if p.mode == "crop" and (p.out_w, p.out_h) != (p.scaled_w, p.scaled_h):
        box = crop_box((p.scaled_w, p.scaled_h), (p.out_w, p.out_h), focus_point(scaled[0]))
        return [f.crop(box) for f in scaled]
    if p.mode == "pad":
        return [_pad(f, (p.out_w, p.out_h)) for f in scaled]
    return scaled


def resample(im: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Lanczos with a reducing gap; RGBA premultiplied so transparent colour does not bleed."""
    if im.size == size:
        return im
    if im.mode == "RGBA":
        # Resample premultiplied so transparent pixels do not bleed their colour into edges.
        out = im.convert("RGBa").resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
        return out.convert("RGBA")
    return im.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def _pad(im: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Letterbox onto a transparent canvas; formats without alpha later flatten it onto white."""
    if im.size == size:
        return im
    canvas = Image.new("RGBA", size, (0, 0, 0, 0))
    left = (size[0] - im.width) // 2
    top = (size[1] - im.height) // 2
    canvas.paste(im.convert("RGBA"), (left, top))
    return canvas
