"""Quantize RapidOCR's text detector (PP-OCRv6 small, fp32 in the rapidocr wheel) to int8.

The detector is most of the local provider's CPU per photo; int8 kernels run it in about 40%
of the time with the same reading of small text (bench.vision's OCR part). Run offline, in the
conversion venv of `convert.py` (it has onnx), on inputs from `det_calibration.py`:

    .venv/bin/python tools/vision-model/det_calibration.py /tmp/det-calibration.npz
    /tmp/tagger-venv/bin/python tools/vision-model/quantize_det.py \\
        .venv/lib/python3.11/site-packages/rapidocr/models/PP-OCRv6_det_small.onnx \\
        /tmp/det-calibration.npz

Steps: the opset-11 model is converted to opset 17 (QDQ with per-channel axes needs 13+),
pre-processed (shape inference, fusions), calibrated by min/max over the inputs and quantized
statically (`int8.py`, the tagger's policy) but for the stem and the detection head
(FLOAT_NODES). Writes
services/vision/providers/local/models/PP-OCRv6_det_small-int8.onnx and prints the SHA-256
that `ocr.py` pins; the same inputs give the same file.
"""

from __future__ import annotations

import hashlib
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx
from int8 import quantize
from onnx import version_converter
from onnxruntime.quantization import CalibrationDataReader
from onnxruntime.quantization.shape_inference import quant_pre_process

ROOT = Path(__file__).resolve().parents[2]
TARGET = (
    ROOT
    / "services"
    / "vision"
    / "providers"
    / "local"
    / "models"
    / ("PP-OCRv6_det_small-int8.onnx")
)


# Layers that stay in float, a small share of the compute: the detection head, whose output
# is a text probability map thresholded at 0.3, and the stem's first four convolutions, which
# see the raw pixels. With the head in 8 bits small text was lost (bench, 640 px: 49/56
# phrases against 50/56 for the fp32 model); with the stem in 8 bits a box stopped short of a
# lone "9" on the labelled set ("Platform 9" read as "Platform": 29/30 against 30/30).
FLOAT_NODES = (
    "Conv.0",
    "Conv.1",
    "Conv.2",
    "Conv.3",
    "Conv.82",
    "ConvTranspose.0",
    "ConvTranspose.2",
)


class Inputs(CalibrationDataReader):  # type: ignore[misc]
    def __init__(self, batches: list[np.ndarray]) -> None:
        self._batches: Iterator[np.ndarray] = iter(batches)

    def get_next(self) -> dict[str, np.ndarray] | None:
        batch = next(self._batches, None)
        return None if batch is None else {"x": batch.astype(np.float32)}


def main(source: str, calibration: str) -> int:
    stored = np.load(calibration)
    batches = [stored[name] for name in stored.files]
    with tempfile.TemporaryDirectory() as tmp:
        opset17 = Path(tmp) / "det-opset17.onnx"
        prepared = Path(tmp) / "det-prepared.onnx"
        onnx.save(version_converter.convert_version(onnx.load(source), 17), opset17)
        quant_pre_process(str(opset17), str(prepared), skip_symbolic_shape=True)
        quantize(prepared, TARGET, Inputs(batches), keep_float=FLOAT_NODES)
    digest = hashlib.sha256(TARGET.read_bytes()).hexdigest()
    print(f"{TARGET.relative_to(ROOT)}: {TARGET.stat().st_size} bytes, sha256 {digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
