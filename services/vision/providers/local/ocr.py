"""Text detection and recognition with RapidOCR and the PP-OCR models inside its wheel.

Recognition cost grows with line length (a line is read as a 48-px-high strip), so a dense
page would blow the latency budget: only the most prominent (tallest) lines are recognised,
up to `max_lines` lines and `max_strip` total width/height ratio, while every detected line
still counts for the layout statistics the kind classifier reads. The strip budget is sized
for body text: one full-width sentence of a screenshot is a 25-35:1 strip, and an earlier
budget of 60 read only the first two of a window's sentences (bench: 58 % word recall on
14-32 px text, 99.8 % with this budget).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from services.vision.providers.local.checksums import verified

_DET_MODEL = "PP-OCRv6_det_small.onnx"  # the wheel's fp32 detector, the bench's comparison
# What the service runs: that detector quantized to int8 by tools/vision-model/quantize_det.py
# (models/README.md).
DET_INT8 = Path(__file__).with_name("models") / "PP-OCRv6_det_small-int8.onnx"
DET_INT8_SHA256 = "dd2f2b8d82dfe46ac033f7619e27e78e0487e0ca0a139a24b53d760a798bff3d"
_REC_MODEL = "PP-OCRv6_rec_small.onnx"
_CLS_MODEL = "ch_ppocr_mobile_v2.0_cls_mobile.onnx"
# The text detector's input, longest side: the limit on the smallest text found and most of
# the detector's cost. 640 px reads 11-18 px text on photos and 14-32 px screenshot text as
# 800 did (512 starts to miss); with the int8 detector OCR costs ~120 ms CPU per photo at one
# thread, against ~300 for the wheel's fp32 one at 640 and ~400 at 800
# (bench: `python -m bench.vision --part ocr`).
DET_SIDE = 640

NormBox = tuple[float, float, float, float]


@dataclass(frozen=True)
class TextLine:
    """One recognised line; box is (x, y, width, height) in analysed-image pixels."""

    text: str
    box: tuple[int, int, int, int]
    confidence: float


@dataclass(frozen=True)
class OcrResult:
    """Recognised lines plus every detected line box, normalised to 0..1 of the image."""

    lines: list[TextLine]
    detected: list[NormBox] = field(default_factory=list)


def bundled_model_dir() -> Path:
    """The wheel's own model folder; explicit paths keep RapidOCR off its download path."""
    import rapidocr

    folder = Path(rapidocr.__file__).resolve().parent / "models"
    for name in (_DET_MODEL, _REC_MODEL, _CLS_MODEL):
        if not (folder / name).is_file():
            raise RuntimeError(f"RapidOCR model missing from site-packages: {name}")
    return folder


def _capped_engine_class() -> type:
    from rapidocr import RapidOCR

    class CappedRapidOCR(RapidOCR):  # type: ignore[misc]
        """Keeps only the tallest detected lines for recognition and records all boxes."""

        max_lines = 16
        max_strip = 320.0
        detected: list[NormBox]

        def detect_and_crop(self, img: np.ndarray, op_record: dict[str, Any]) -> Any:
            crops, det = super().detect_and_crop(img, op_record)
            h, w = img.shape[:2]
            quads = np.asarray(det.boxes)
            mins, maxs = quads.min(axis=1), quads.max(axis=1)
            self.detected = [
                (float(x0 / w), float(y0 / h), float((x1 - x0) / w), float((y1 - y0) / h))
                for (x0, y0), (x1, y1) in zip(mins, maxs, strict=True)
            ]
            sizes = np.maximum(maxs - mins, 1.0)
            keep: list[int] = []
            strip = 0.0
            for i in np.argsort(-sizes[:, 1], kind="stable").tolist():
                ratio = float(sizes[i, 0] / sizes[i, 1])
                if keep and (len(keep) >= self.max_lines or strip + ratio > self.max_strip):
                    break
                keep.append(i)
                strip += ratio
            keep.sort()
            det.boxes = quads[keep]
            det.scores = [det.scores[i] for i in keep] if det.scores is not None else None
            return [crops[i] for i in keep], det

    return CappedRapidOCR


class TextReader:
    """One RapidOCR engine; the direction classifier is off (it flips upright lines)."""

    def __init__(
        self,
        min_confidence: float = 0.6,
        max_lines: int = 16,
        max_strip: float = 320.0,
        threads: int = 0,
        det_side: int = DET_SIDE,
        det_model: Path | None = DET_INT8,
    ) -> None:
        """`det_model` None: the wheel's fp32 detector (the bench's comparison)."""
        models = bundled_model_dir()
        if det_model == DET_INT8:
            verified(DET_INT8, DET_INT8_SHA256)  # the file the bench measured
        logging.getLogger("RapidOCR").setLevel(logging.ERROR)
        params: dict[str, object] = {
            "Global.log_level": "error",
            "Global.use_cls": False,
            "Global.model_root_dir": str(models),
            "Det.model_path": str(det_model or models / _DET_MODEL),
            "Det.limit_type": "max",
            "Det.limit_side_len": det_side,
            "Rec.model_path": str(models / _REC_MODEL),
            "Cls.model_path": str(models / _CLS_MODEL),
        }
        if threads > 0:
            params["EngineConfig.onnxruntime.intra_op_num_threads"] = threads
        self._engine = _capped_engine_class()(params=params)
        self._engine.max_lines = max_lines
        self._engine.max_strip = max_strip
        self._min_confidence = min_confidence
        # The engine keeps per-call flags and the last boxes on itself.
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        """Load all models now, so the first job is not slow and missing files fail early."""
        from PIL import Image, ImageDraw, ImageFont

        sample = Image.new("RGB", (320, 80), "white")
        ImageDraw.Draw(sample).text(
            (12, 18), "Warm up 42", fill="black", font=ImageFont.load_default(size=36)
        )
        self.read(np.asarray(sample))

    def read(self, rgb: np.ndarray) -> OcrResult:
        """Return confident lines in reading order (top to bottom, then left to right)."""
        with self._lock:
            self._engine.detected = []
            result = self._engine(
                np.ascontiguousarray(rgb[:, :, ::-1]), use_det=True, use_cls=False, use_rec=True
            )
            detected = list(self._engine.detected)
        if result.boxes is None or result.txts is None or result.scores is None:
            return OcrResult([], detected)
        lines: list[TextLine] = []
        for quad, text, score in zip(result.boxes, result.txts, result.scores, strict=True):
            clean = " ".join(str(text).split())
            if not clean or float(score) < self._min_confidence:
                continue
            if len(clean) == 1 and float(score) < 0.95:
                continue  # lone glyphs are usually texture read as a letter
            xs, ys = np.asarray(quad)[:, 0], np.asarray(quad)[:, 1]
            x, y = int(max(0, xs.min())), int(max(0, ys.min()))
            box = (x, y, int(xs.max()) - x, int(ys.max()) - y)
            lines.append(TextLine(clean, box, round(float(score), 4)))
        lines.sort(key=lambda t: (t.box[1] // max(8, t.box[3] // 2), t.box[0]))
        return OcrResult(lines, detected)
