"""Photo / graphic / screenshot / document from image statistics and the OCR layout.

Photos are full of fine texture and spread over many exact colours; graphics are flat fills
where a handful of exact colours cover most pixels; documents are dense text lines on light,
unsaturated paper; screenshots are flat UI with a bar across the top or terminal-style text on
a dark background. Each rule below reads one of these properties.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from services.vision.providers.local.ocr import NormBox

_FEATURE_SIDE = 512


@dataclass(frozen=True)
class KindFeatures:
    """Shares are fractions of the image area."""

    flat_share: float
    background_luma: float
    saturation: float
    exact8_share: float
    texture_share: float
    text_lines: int
    line_width: float
    panel_count: int
    top_bar: bool


def kind_features(rgb: np.ndarray, text_boxes: list[NormBox]) -> KindFeatures:
    """Measure on a <=512-px copy so thresholds do not depend on the input size."""
    h, w = rgb.shape[:2]
    scale = min(1.0, _FEATURE_SIDE / max(h, w))
    small = (
        rgb
        if scale >= 1.0
        else cv2.resize(
            rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA
        )
    )
    gray = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
    grad = cv2.morphologyEx(gray, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))
    flat_share = float((grad <= 2).mean())
    texture_share = float(((grad > 4) & (grad <= 24)).mean())

    pix = np.asarray(small, dtype=np.int32)
    exact = (pix[..., 0] << 16) | (pix[..., 1] << 8) | pix[..., 2]
    _, exact_counts = np.unique(exact, return_counts=True)
    exact8_share = float(np.sort(exact_counts)[-8:].sum() / exact.size)

    coarse = pix >> 5
    coarse_codes = (coarse[..., 0] << 6) | (coarse[..., 1] << 3) | coarse[..., 2]
    coarse_counts = np.bincount(coarse_codes.ravel())
    top = int(coarse_counts.argmax())
    background_luma = float(gray[coarse_codes == top].mean() / 255.0)

    hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV)
    saturation = float(hsv[..., 1].mean() / 255.0)

    line_width = float(np.median([b[2] for b in text_boxes])) if text_boxes else 0.0
    panels, top_bar = _panels(gray, coarse_codes, top)
    return KindFeatures(
        flat_share=round(flat_share, 4),
        background_luma=round(background_luma, 4),
        saturation=round(saturation, 4),
        exact8_share=round(exact8_share, 4),
        texture_share=round(texture_share, 4),
        text_lines=len(text_boxes),
        line_width=round(line_width, 4),
        panel_count=panels,
        top_bar=top_bar,
    )


def _panels(gray: np.ndarray, codes: np.ndarray, background: int) -> tuple[int, bool]:
    """Count flat non-background rectangles (bars, sidebars, buttons); is one a top bar?"""
    h, w = gray.shape
    flat = cv2.morphologyEx(gray, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) <= 2
    mask = (flat & (codes != background)).astype(np.uint8)
    n, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=4)
    panels = 0
    top_bar = False
    for i in range(1, n):
        _, y, bw, bh, area = stats[i]
        if area < 0.004 * h * w or bw < 0.08 * w or area / float(bw * bh) <= 0.85:
            continue
        panels += 1
        if y < 0.08 * h and bw > 0.6 * w and bh < 0.12 * h:
            top_bar = True
    return panels, top_bar


def classify_kind(f: KindFeatures) -> str:
    """Apply the rules in order of specificity; thresholds were set on the bench set."""
    paper = f.background_luma > 0.6 and f.saturation < 0.12
    dense_text = f.text_lines >= 6 and (f.line_width >= 0.3 or f.text_lines >= 20)
    if dense_text and paper and not f.top_bar and f.panel_count <= 1:
        return "document"
    ui = f.flat_share > 0.45 and f.texture_share < 0.2
    terminal = f.text_lines >= 6 and f.background_luma < 0.3
    if ui and ((f.top_bar and f.text_lines >= 1) or terminal):
        return "screenshot"
    if f.texture_share >= 0.2:
        return "photo"
    if f.texture_share >= 0.08 and f.texture_share - f.exact8_share > -0.06:
        return "photo"
    return "graphic"
