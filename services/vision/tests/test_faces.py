"""The MTCNN face detector on real faces and real photos without any (no mocks)."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data

from services.vision.providers.local import faces
from services.vision.providers.local.checksums import ModelChecksumError
from services.vision.providers.local.faces import FaceDetector


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    return FaceDetector()


def _pasted(background: np.ndarray, count: int, side: int, seed: int) -> tuple[np.ndarray, list]:
    """`count` LFW faces (scikit-image's 25 x 25 crops, upscaled) pasted side by side."""
    rng = random.Random(seed)
    lfw = data.lfw_subset()[:100]
    canvas = np.array(Image.fromarray(background).resize((960, 640)))
    slot = 960 // count
    placed = []
    for i in range(count):
        face = lfw[rng.randrange(len(lfw))]
        tile = Image.fromarray((face * 255).astype(np.uint8)).resize(
            (side, side), Image.Resampling.BICUBIC
        )
        x = i * slot + rng.randint(0, slot - side)
        y = rng.randint(0, 640 - side)
        canvas[y : y + side, x : x + side] = np.asarray(tile)[..., None]
        placed.append((x, y, side, side))
    return canvas, placed


def _covers(box: tuple[int, int, int, int], face: tuple[int, int, int, int]) -> bool:
    ix = max(0, min(box[0] + box[2], face[0] + face[2]) - max(box[0], face[0]))
    iy = max(0, min(box[1] + box[3], face[1] + face[3]) - max(box[1], face[1]))
    return ix * iy > 0.3 * face[2] * face[3]


@pytest.mark.parametrize(("count", "side"), [(1, 200), (3, 90), (5, 50)])
def test_every_pasted_face_is_found_once(detector: FaceDetector, count: int, side: int) -> None:
    canvas, placed = _pasted(data.coffee(), count, side, seed=count)
    found = detector.detect(canvas)
    assert len(found) == count
    assert all(any(_covers(box, face) for box in found) for face in placed)
    assert [b[0] for b in found] == sorted(b[0] for b in found)  # left to right


@pytest.mark.parametrize("photo", ["chelsea", "coffee", "rocket", "hubble_deep_field", "retina"])
def test_photos_without_people_have_no_faces(detector: FaceDetector, photo: str) -> None:
    # A cat's face, a cup, a launch pad: none is a person's.
    assert detector.detect(np.ascontiguousarray(getattr(data, photo)()[..., :3])) == []


def test_boxes_are_in_the_callers_pixels_at_any_size(detector: FaceDetector) -> None:
    # The astronaut is searched at 640 px whatever its size; the box scales with the input.
    small = data.astronaut()
    large = np.array(Image.fromarray(small).resize((1536, 1536)))
    (x, y, w, h), (bx, by, bw, bh) = detector.detect(small)[0], detector.detect(large)[0]
    assert 150 <= x <= 220 and 40 <= y <= 90 and 70 <= w <= 110 and 80 <= h <= 130
    assert max(abs(bx - x * 3), abs(by - y * 3), abs(bw - w * 3), abs(bh - h * 3)) <= 12


def test_tiny_and_blank_images_have_no_faces(detector: FaceDetector) -> None:
    assert detector.detect(np.zeros((1, 1, 3), np.uint8)) == []
    assert detector.detect(np.full((30, 500, 3), 128, np.uint8)) == []


def test_a_swapped_network_file_fails_at_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in faces.MODEL_SHA256:
        shutil.copyfile(faces.MODELS / f"mtcnn-{name}.onnx", tmp_path / f"mtcnn-{name}.onnx")
    (tmp_path / "mtcnn-rnet.onnx").write_bytes(b"not the network")
    monkeypatch.setattr(faces, "MODELS", tmp_path)
    with pytest.raises(ModelChecksumError, match=r"mtcnn-rnet\.onnx"):
        FaceDetector()
