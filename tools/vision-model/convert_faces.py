"""Convert MTCNN's three face networks to the ONNX files the local provider's face detector loads.

Run once, offline, in the same throw-away venv as `convert.py` (torch is needed only here):

    /tmp/tagger-venv/bin/pip install -r tools/vision-model/requirements.txt
    /tmp/tagger-venv/bin/pip install --no-deps -r tools/vision-model/requirements-nodeps.txt
    /tmp/tagger-venv/bin/python tools/vision-model/convert_faces.py

The weights are the `.pt` state dicts inside the facenet-pytorch 2.6.0 wheel (MIT; its port of
Zhang et al.'s MTCNN, 2016). The three networks are written out here rather than imported: the
package's module imports torchvision for its own detection loop, which this project replaces
(`services/vision/providers/local/faces.py`). Writes `mtcnn-{pnet,rnet,onet}.onnx` (fp32; the
three together are 2 MB) and the licence into services/vision/providers/local/models/, and
prints each file's SHA-256, which faces.py pins.
"""

from __future__ import annotations

import hashlib
import importlib.util
import shutil
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "services" / "vision" / "providers" / "local" / "models"
OPSET = 17


class PNet(nn.Module):
    """Proposal net: fully convolutional, 12 x 12 windows at stride 2, any input size."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 10, kernel_size=3)
        self.prelu1 = nn.PReLU(10)
        self.pool1 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(10, 16, kernel_size=3)
        self.prelu2 = nn.PReLU(16)
        self.conv3 = nn.Conv2d(16, 32, kernel_size=3)
        self.prelu3 = nn.PReLU(32)
        self.conv4_1 = nn.Conv2d(32, 2, kernel_size=1)
        self.softmax4_1 = nn.Softmax(dim=1)
        self.conv4_2 = nn.Conv2d(32, 4, kernel_size=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.prelu1(self.conv1(x))
        x = self.pool1(x)
        x = self.prelu2(self.conv2(x))
        x = self.prelu3(self.conv3(x))
        # Only the face probability is exported (channel 1 of the softmax).
        return self.conv4_2(x), self.softmax4_1(self.conv4_1(x))[:, 1]


class RNet(nn.Module):
    """Refine net: 24 x 24 crops."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 28, kernel_size=3)
        self.prelu1 = nn.PReLU(28)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(28, 48, kernel_size=3)
        self.prelu2 = nn.PReLU(48)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3 = nn.Conv2d(48, 64, kernel_size=2)
        self.prelu3 = nn.PReLU(64)
        self.dense4 = nn.Linear(576, 128)
        self.prelu4 = nn.PReLU(128)
        self.dense5_1 = nn.Linear(128, 2)
        self.softmax5_1 = nn.Softmax(dim=1)
        self.dense5_2 = nn.Linear(128, 4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.prelu3(self.conv3(x))
        x = x.permute(0, 3, 2, 1).contiguous()
        x = self.prelu4(self.dense4(x.view(x.shape[0], -1)))
        return self.dense5_2(x), self.softmax5_1(self.dense5_1(x))[:, 1]


class ONet(nn.Module):
    """Output net: 48 x 48 crops; the landmarks head is dropped (the provider uses boxes)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, kernel_size=3)
        self.prelu1 = nn.PReLU(32)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3)
        self.prelu2 = nn.PReLU(64)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3 = nn.Conv2d(64, 64, kernel_size=3)
        self.prelu3 = nn.PReLU(64)
        self.pool3 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv4 = nn.Conv2d(64, 128, kernel_size=2)
        self.prelu4 = nn.PReLU(128)
        self.dense5 = nn.Linear(1152, 256)
        self.prelu5 = nn.PReLU(256)
        self.dense6_1 = nn.Linear(256, 2)
        self.softmax6_1 = nn.Softmax(dim=1)
        self.dense6_2 = nn.Linear(256, 4)
        self.dense6_3 = nn.Linear(256, 10)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.pool3(self.prelu3(self.conv3(x)))
        x = self.prelu4(self.conv4(x))
        x = x.permute(0, 3, 2, 1).contiguous()
        x = self.prelu5(self.dense5(x.view(x.shape[0], -1)))
        return self.dense6_2(x), self.softmax6_1(self.dense6_1(x))[:, 1]


NETS: dict[str, tuple[type[nn.Module], int | None]] = {
    "pnet": (PNet, None),
    "rnet": (RNet, 24),
    "onet": (ONet, 48),
}


def _package_dir() -> Path:
    spec = importlib.util.find_spec("facenet_pytorch")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("install requirements-nodeps.txt with --no-deps first (see the docstring)")
    return Path(spec.submodule_search_locations[0])


def export(name: str, package: Path) -> Path:
    cls, side = NETS[name]
    net = cls()
    state = torch.load(package / "data" / f"{name}.pt", map_location="cpu", weights_only=True)
    net.load_state_dict(state)
    net.eval()
    out = MODELS / f"mtcnn-{name}.onnx"
    if side is None:
        dummy = torch.zeros(1, 3, 60, 80)
        axes = {
            "image": {2: "height", 3: "width"},
            "offsets": {2: "h", 3: "w"},
            "face": {1: "h", 2: "w"},
        }
    else:
        dummy = torch.zeros(4, 3, side, side)
        axes = {"image": {0: "crops"}, "offsets": {0: "crops"}, "face": {0: "crops"}}
    torch.onnx.export(
        net,
        (dummy,),
        str(out),
        input_names=["image"],
        output_names=["offsets", "face"],
        dynamic_axes=axes,
        opset_version=OPSET,
        dynamo=False,
    )
    # The ONNX file must answer as the torch module does.
    probe = torch.from_numpy(
        np.random.default_rng(0).uniform(-1, 1, dummy.shape).astype(np.float32)
    )
    with torch.no_grad():
        want = [t.numpy() for t in net(probe)]
    got = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).run(
        None, {"image": probe.numpy()}
    )
    for w, g in zip(want, got, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)
    return out


def main() -> None:
    package = _package_dir()
    torch.manual_seed(0)
    for name in NETS:
        out = export(name, package)
        digest = hashlib.sha256(out.read_bytes()).hexdigest()
        print(f"{out.name}: {out.stat().st_size} bytes, sha256 {digest}")
    licence = package.parent / "facenet_pytorch-2.6.0.dist-info" / "LICENSE.md"
    shutil.copyfile(licence, MODELS / "LICENSE-facenet-pytorch.txt")


if __name__ == "__main__":
    main()
