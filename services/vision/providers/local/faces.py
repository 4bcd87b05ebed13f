"""Frontal face detection with the Haar cascade that ships inside the OpenCV wheel."""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np

Box = tuple[int, int, int, int]

_CASCADE = "haarcascade_frontalface_alt2.xml"
_DETECT_SIDE = 640


class FaceDetector:
    """Wraps one cascade; detectMultiScale is not documented thread-safe, so calls are locked."""

    def __init__(self, min_neighbors: int = 5, min_side_ratio: float = 0.04) -> None:
        path = Path(cv2.data.haarcascades) / _CASCADE  # type: ignore[attr-defined]
        self._cascade = cv2.CascadeClassifier(str(path))
        if self._cascade.empty():
            raise RuntimeError(f"face cascade missing from the OpenCV wheel: {_CASCADE}")
        self._min_neighbors = min_neighbors
        self._min_side_ratio = min_side_ratio
        self._lock = threading.Lock()

    def detect(self, gray: np.ndarray) -> list[Box]:
        """Return face boxes (x, y, width, height) in input pixels, left to right."""
        h0, w0 = gray.shape
        # Faces smaller than min_side_ratio are ignored anyway; a smaller copy is ~2x faster.
        scale = min(1.0, _DETECT_SIDE / max(h0, w0))
        if scale < 1.0:
            gray = cv2.resize(
                gray, (round(w0 * scale), round(h0 * scale)), interpolation=cv2.INTER_AREA
            )
        h, w = gray.shape
        min_side = max(24, int(min(h, w) * self._min_side_ratio))
        equalized = cv2.equalizeHist(gray)
        with self._lock:
            found = self._cascade.detectMultiScale(
                equalized,
                scaleFactor=1.1,
                minNeighbors=self._min_neighbors,
                minSize=(min_side, min_side),
            )
        boxes = [
            (round(x / scale), round(y / scale), round(bw / scale), round(bh / scale))
            for x, y, bw, bh in found
        ]
        return sorted(_drop_nested(boxes))


def _drop_nested(boxes: list[Box]) -> list[Box]:
    """Remove boxes mostly inside a larger one (the cascade sometimes fires twice on a face)."""
    kept: list[Box] = []
    for box in sorted(boxes, key=lambda b: -b[2] * b[3]):
        if all(_overlap(box, big) < 0.6 for big in kept):
            kept.append(box)
    return kept


def _overlap(small: Box, big: Box) -> float:
    x1, y1 = max(small[0], big[0]), max(small[1], big[1])
    x2 = min(small[0] + small[2], big[0] + big[2])
    y2 = min(small[1] + small[3], big[1] + big[3])
    inter = max(0, x2 - x1) * max(0, y2 - y1)
    return inter / float(small[2] * small[3] or 1)
