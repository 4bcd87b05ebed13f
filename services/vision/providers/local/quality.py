"""Blur, exposure and noise measures: cheap statistics that flag photos worth retaking."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

_MEASURE_SIDE = 512
# Variance of the Laplacian (on a 512-px image) below which detail is missing.
_BLUR_LAPLACIAN_VAR = 60.0
# Immerkaer noise sigma (8-bit scale) above which grain is visible.
_NOISE_SIGMA = 5.5
_IMMERKAER = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float32)


@dataclass(frozen=True)
class Quality:
    """Scores in 0..1 plus the flags derived from them."""

    sharpness: float
    brightness: float
    noise_sigma: float
    blurry: bool
    underexposed: bool
    overexposed: bool
    noisy: bool


def measure_quality(gray: np.ndarray) -> Quality:
    """Measure a grey 8-bit image; flags use fixed thresholds on a normalised size."""
    h, w = gray.shape
    scale = min(1.0, _MEASURE_SIDE / max(h, w))
    small = (
        cv2.resize(
            gray, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA
        )
        if scale < 1.0
        else gray
    )
    lap_var = float(cv2.Laplacian(small, cv2.CV_64F).var())
    sharpness = lap_var / (lap_var + 100.0)
    norm = small.astype(np.float32) / 255.0
    brightness = float(norm.mean())
    dark_share = float((norm < 0.1).mean())
    clipped_share = float((norm > 0.97).mean())
    sigma = _noise_sigma(small)
    return Quality(
        sharpness=round(sharpness, 4),
        brightness=round(brightness, 4),
        noise_sigma=round(sigma, 3),
        blurry=lap_var < _BLUR_LAPLACIAN_VAR,
        underexposed=brightness < 0.22 and dark_share > 0.5,
        overexposed=brightness > 0.8 and clipped_share > 0.3,
        noisy=sigma > _NOISE_SIGMA,
    )


def _noise_sigma(gray: np.ndarray) -> float:
    """Immerkaer's fast noise estimate, ignoring strong edges that would read as noise."""
    h, w = gray.shape
    if h < 3 or w < 3:
        return 0.0
    img = gray.astype(np.float32)
    edges = cv2.Canny(gray, 60, 150)
    flat = cv2.dilate(edges, np.ones((3, 3), np.uint8)) == 0
    response = np.abs(cv2.filter2D(img, -1, _IMMERKAER))[1:-1, 1:-1]
    mask = flat[1:-1, 1:-1]
    if mask.sum() < 0.1 * mask.size:
        mask = np.ones_like(mask)
    return float(math.sqrt(math.pi / 2) * response[mask].mean() / 6.0)
