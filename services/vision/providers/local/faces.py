"""Face detection with MTCNN (three small ONNX networks in `models/`, from facenet-pytorch).

It replaced OpenCV's Haar cascade: on the benchmark's labelled set it counts faces as well
(85 of 87 against 84) for a third of the CPU (33 against 110 ms per image), and finds
96-100 of 100 LFW faces pasted into photos at 28-110 px where the cascade found 61-97.

The cascade of the paper: a proposal net slides over an image pyramid, a refine net and an
output net re-score the surviving boxes on 24 and 48 px crops. Thresholds are the paper's
but for the last, raised from 0.7 to FINAL_SCORE: on the corpus photos every false face
(sparks, a kitchen cupboard, a canoe's painted bow) scored 0.72-0.91, real ones 0.96-1.0
(a few pasted 28 px LFW faces 0.83-0.91).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from services.vision.providers.local.checksums import verified
from services.vision.providers.local.sessions import inference_session

Box = tuple[int, int, int, int]

MODELS = Path(__file__).resolve().parent / "models"
# The networks as tools/vision-model/convert_faces.py writes them.
MODEL_SHA256 = {
    "pnet": "aa47cdf3543491553bcd952959d7ad38fb51b66360f7f83b7c91b4ebf22e5980",
    "rnet": "fa27f01050c6958612dc921e8c05058bf8ee91b95d6a10a69d4b7fc2786b32a8",
    "onet": "2f64d8eb5cc1399d41591837dd1f990198eb0a414a0766273eb9869f7c7a1e2b",
}
# The image is searched at this longest side; smaller faces than below are not looked for.
_DETECT_SIDE = 640
_MIN_FACE = 24
# Pyramid step between scales, and the proposal net's window and stride (the paper's).
_FACTOR = 0.709
_WINDOW, _STRIDE = 12, 2
PROPOSE_SCORE, REFINE_SCORE, FINAL_SCORE = 0.6, 0.7, 0.92
# A box kept must lie mostly inside the image (one hanging off the top of a photo was a false
# face).
_INSIDE = 0.7


class FaceDetector:
    """MTCNN on onnxruntime; safe to share between threads (sessions are)."""

    def __init__(self, threads: int = 1, min_side_ratio: float = 0.04) -> None:
        self._nets: dict[str, Any] = {
            name: inference_session(verified(MODELS / f"mtcnn-{name}.onnx", sha), threads)
            for name, sha in MODEL_SHA256.items()
        }
        self._min_side_ratio = min_side_ratio

    def detect(self, rgb: np.ndarray) -> list[Box]:
        """Face boxes (x, y, width, height) in input pixels, left to right."""
        h0, w0 = rgb.shape[:2]
        scale = min(1.0, _DETECT_SIDE / max(h0, w0))
        img = rgb
        if scale < 1.0:
            img = cv2.resize(
                rgb, (round(w0 * scale), round(h0 * scale)), interpolation=cv2.INTER_AREA
            )
        found = self._boxes(img)
        h, w = img.shape[:2]
        boxes = [
            (
                round(x1 / scale),
                round(y1 / scale),
                round((x2 - x1) / scale),
                round((y2 - y1) / scale),
            )
            for x1, y1, x2, y2 in found[:, :4]
            if _inside_share(x1, y1, x2, y2, w, h) >= _INSIDE
        ]
        return sorted(boxes)

    def _boxes(self, img: np.ndarray) -> np.ndarray:
        """Rows (x1, y1, x2, y2, score) in `img`'s pixels."""
        none = np.zeros((0, 5), dtype=np.float32)
        proposed = self._proposed(img)
        if not len(proposed):
            return none
        offsets, score = self._run("rnet", _crops(img, proposed, 24))
        keep = score > REFINE_SCORE
        boxes = np.column_stack([proposed[keep, :4], score[keep]])
        if not len(boxes):
            return none
        pick = _nms(boxes, 0.7)
        boxes = _square(_shifted(boxes[pick], offsets[keep][pick]))
        offsets, score = self._run("onet", _crops(img, boxes, 48))
        keep = score > FINAL_SCORE
        boxes = np.column_stack([boxes[keep, :4], score[keep]])
        if not len(boxes):
            return none
        boxes = _shifted(boxes, offsets[keep])
        # A box mostly inside another is the same face found twice.
        return boxes[_nms(boxes, 0.6, by_smaller=True)]

    def _proposed(self, img: np.ndarray) -> np.ndarray:
        """The proposal net's boxes over the pyramid, shifted by its offsets and squared."""
        h, w = img.shape[:2]
        min_face = max(_MIN_FACE, min(h, w) * self._min_side_ratio)
        level = _WINDOW / min_face
        found = []
        while min(h, w) * level >= _WINDOW:
            size = (int(w * level + 1), int(h * level + 1))
            pixels = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
            offsets, score = self._run("pnet", _normalised(pixels[None]))
            ys, xs = np.nonzero(score[0] >= PROPOSE_SCORE)
            if len(ys):
                boxes = np.column_stack(
                    [
                        np.floor((_STRIDE * xs + 1) / level),
                        np.floor((_STRIDE * ys + 1) / level),
                        np.floor((_STRIDE * xs + _WINDOW) / level),
                        np.floor((_STRIDE * ys + _WINDOW) / level),
                        score[0, ys, xs],
                        offsets[0][:, ys, xs].T,
                    ]
                )
                found.append(boxes[_nms(boxes, 0.5)])
            level *= _FACTOR
        if not found:
            return np.zeros((0, 5), dtype=np.float32)
        boxes = np.concatenate(found)
        boxes = boxes[_nms(boxes, 0.7)]
        width, height = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
        moved = boxes[:, :5].copy()
        moved[:, 0] += boxes[:, 5] * width
        moved[:, 1] += boxes[:, 6] * height
        moved[:, 2] += boxes[:, 7] * width
        moved[:, 3] += boxes[:, 8] * height
        return _square(moved)

    def _run(self, name: str, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        offsets, score = self._nets[name].run(None, {"image": batch})
        return offsets, score


def _normalised(pixels: np.ndarray) -> np.ndarray:
    """NHWC uint8 to the networks' NCHW float input, (x - 127.5) / 128."""
    return ((pixels.astype(np.float32) - 127.5) * 0.0078125).transpose(0, 3, 1, 2)


def _crops(img: np.ndarray, boxes: np.ndarray, side: int) -> np.ndarray:
    """Each box's pixels (clipped to the image) resized to side x side, as a network batch."""
    h, w = img.shape[:2]
    out = np.zeros((len(boxes), side, side, 3), dtype=np.uint8)
    for k, (x1, y1, x2, y2) in enumerate(np.trunc(boxes[:, :4]).astype(np.int64)):
        patch = img[max(y1, 1) - 1 : min(y2, h), max(x1, 1) - 1 : min(x2, w)]
        if patch.size:
            out[k] = cv2.resize(patch, (side, side), interpolation=cv2.INTER_AREA)
    return _normalised(out)


def _shifted(boxes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Boxes moved by a network's offsets (fractions of the box's size)."""
    out = boxes.copy()
    width = boxes[:, 2] - boxes[:, 0] + 1
    height = boxes[:, 3] - boxes[:, 1] + 1
    out[:, 0] += offsets[:, 0] * width
    out[:, 1] += offsets[:, 1] * height
    out[:, 2] += offsets[:, 2] * width
    out[:, 3] += offsets[:, 3] * height
    return out


def _square(boxes: np.ndarray) -> np.ndarray:
    """Each box grown to a square around its centre (the networks see square crops)."""
    out = boxes.copy()
    width, height = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    side = np.maximum(width, height)
    out[:, 0] = boxes[:, 0] + (width - side) * 0.5
    out[:, 1] = boxes[:, 1] + (height - side) * 0.5
    out[:, 2] = out[:, 0] + side
    out[:, 3] = out[:, 1] + side
    return out


def _nms(boxes: np.ndarray, limit: float, by_smaller: bool = False) -> np.ndarray:
    """Indices of the boxes kept, best score first: each drops the ones overlapping it by
    more than `limit` (of the union, or of the smaller box)."""
    x1, y1, x2, y2, score = (boxes[:, i] for i in range(5))
    area = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = np.argsort(score)[::-1]
    keep = []
    while order.size:
        best, rest = order[0], order[1:]
        keep.append(best)
        iw = np.maximum(0.0, np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest]) + 1)
        ih = np.maximum(0.0, np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest]) + 1)
        inter = iw * ih
        base = np.minimum(area[best], area[rest]) if by_smaller else area[best] + area[rest] - inter
        order = rest[inter / base <= limit]
    return np.array(keep, dtype=np.int64)


def _inside_share(x1: float, y1: float, x2: float, y2: float, w: int, h: int) -> float:
    """How much of the box lies inside the w x h image."""
    inside = max(0.0, min(x2, w) - max(x1, 0)) * max(0.0, min(y2, h) - max(y1, 0))
    return inside / max(1e-6, (x2 - x1) * (y2 - y1))
