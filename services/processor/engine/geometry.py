"""Target sizes for width/height/fit; pure arithmetic so it is easy to test."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Plan:
    """Scale the source to (scaled_w, scaled_h), then crop or pad to (out_w, out_h)."""

    scaled_w: int
    scaled_h: int
    out_w: int
    out_h: int
    mode: str  # "scale", "crop" or "pad"


def plan(
    src_w: int,
    src_h: int,
    width: int | None,
    height: int | None,
    fit: str = "inside",
    enlarge: bool = False,
) -> Plan:
    """Work out the resize for `fit` (contain|cover|fill|inside), never enlarging unless asked."""
    if not width and not height:
        return Plan(src_w, src_h, src_w, src_h, "scale")
    if not width or not height:
        scale = width / src_w if width else height / src_h  # type: ignore[operator]
        if not enlarge:
            scale = min(scale, 1.0)
        w, h = _scaled(src_w, src_h, scale)
        return Plan(w, h, w, h, "scale")
    if fit == "fill":
        w, h = (width, height) if enlarge else (min(width, src_w), min(height, src_h))
        return Plan(w, h, w, h, "scale")
    if fit == "cover":
        scale = max(width / src_w, height / src_h)
        out_w, out_h = width, height
        if not enlarge and scale > 1.0:
            scale = 1.0
            out_w, out_h = min(width, src_w), min(height, src_h)
        w, h = _scaled(src_w, src_h, scale)
        return Plan(w, h, min(out_w, w), min(out_h, h), "crop")
    scale = min(width / src_w, height / src_h)
    if not enlarge:
        scale = min(scale, 1.0)
    w, h = _scaled(src_w, src_h, scale)
    if fit == "contain":
        return Plan(w, h, width, height, "pad")
    return Plan(w, h, w, h, "scale")


def _scaled(src_w: int, src_h: int, scale: float) -> tuple[int, int]:
    return max(1, round(src_w * scale)), max(1, round(src_h * scale))
