"""Where `fit=cover` should crop: around faces if any, else the most salient region."""

from __future__ import annotations

import functools
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

_ANALYSIS_SIDE = 256


@functools.cache
def _face_detector() -> cv2.CascadeClassifier:
    path = Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"  # type: ignore[attr-defined]
    return cv2.CascadeClassifier(str(path))


def focus_point(im: Image.Image) -> tuple[float, float]:
    """Return the point (x, y as fractions of the size) a crop should keep in view."""
    grey = np.asarray(im.convert("L"))
    scale = _ANALYSIS_SIDE / max(grey.shape)
    if scale < 1.0:
        grey = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    h, w = grey.shape
    faces = _faces(grey)
    if len(faces):
        weights = faces[:, 2] * faces[:, 3]
        cx = float(np.average(faces[:, 0] + faces[:, 2] / 2, weights=weights))
        cy = float(np.average(faces[:, 1] + faces[:, 3] / 2, weights=weights))
        return cx / w, cy / h
    saliency = _spectral_residual(grey)
    total = float(saliency.sum())
    if total <= 0:
        return 0.5, 0.5
    ys, xs = np.mgrid[0:h, 0:w]
    return float((saliency * xs).sum() / total) / w, float((saliency * ys).sum() / total) / h


def _faces(grey: np.ndarray) -> np.ndarray:
    if min(grey.shape) < 48:
        return np.empty((0, 4))
    found = _face_detector().detectMultiScale(
        grey, scaleFactor=1.1, minNeighbors=5, minSize=(20, 20)
    )
    return np.asarray(found, dtype=np.float64).reshape(-1, 4)


def _spectral_residual(grey: np.ndarray) -> np.ndarray:
    """Hou & Zhang's spectral-residual saliency, kept to its strongest part."""
    small = cv2.resize(grey, (64, 64), interpolation=cv2.INTER_AREA).astype(np.float32)
    spectrum = np.fft.fft2(small)
    log_amp = np.log1p(np.abs(spectrum))
    residual = log_amp - cv2.blur(log_amp.astype(np.float32), (3, 3))
    sal = np.abs(np.fft.ifft2(np.exp(residual + 1j * np.angle(spectrum)))) ** 2
    sal = cv2.GaussianBlur(sal.astype(np.float32), (9, 9), 2.5)
    sal = cv2.resize(sal, (grey.shape[1], grey.shape[0]), interpolation=cv2.INTER_LINEAR)
    threshold = float(np.percentile(sal, 90))
    return np.where(sal >= threshold, sal, 0.0)


def crop_box(
    size: tuple[int, int], out: tuple[int, int], focus: tuple[float, float]
) -> tuple[int, int, int, int]:
    """The `out`-sized box inside `size` centred as close to `focus` as the borders allow."""
    w, h = size
    ow, oh = out
    left = round(focus[0] * w - ow / 2)
    top = round(focus[1] * h - oh / 2)
    left = min(max(left, 0), w - ow)
    top = min(max(top, 0), h - oh)
    return left, top, left + ow, top + oh
