"""Calibration inputs for the int8 text detector: what RapidOCR feeds the detector, saved.

Run in the project's venv (it needs RapidOCR's pre-processing and the project's image code),
then quantize with `quantize_det.py` in the conversion venv:

    .venv/bin/python tools/vision-model/det_calibration.py /tmp/det-calibration.npz

The images are kept apart from what `bench.vision` measures the detector on: corpus photos
after the tenth, the lossless ones and scikit-image images the bench does not use (text and
page scans among them), each as it is and twice with a phrase of 11-28 px (another seed than
the bench's), and screenshot pages of another seed.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data as skimage_data

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.vision import ocr_recall  # noqa: E402
from bench.vision.dataset import CORPUS  # noqa: E402
from bench.vision.small_text import WORDS, with_text  # noqa: E402
from services.vision.providers import prepare_image  # noqa: E402
from services.vision.providers.local.ocr import TextReader  # noqa: E402

SEED = 23
# Not among the bench's small-text photos (astronaut, chelsea, coffee, rocket).
SKIMAGE = ("text", "page", "camera", "coins", "brick", "gravel", "retina", "hubble_deep_field")


def images() -> list[np.ndarray]:
    rng = random.Random(SEED)
    paths = sorted((CORPUS / "photo").glob("*.jpg"))[10:] + sorted(
        (CORPUS / "lossless").glob("*.png")
    )
    photos = [prepare_image(path.read_bytes()).convert("RGB") for path in paths]
    photos += [Image.fromarray(getattr(skimage_data, name)()).convert("RGB") for name in SKIMAGE]
    out = []
    for i, photo in enumerate(photos):
        out.append(np.asarray(photo))
        for size in rng.sample((11, 13, 16, 20, 28), 2):
            phrase = " ".join(rng.sample(WORDS, 2))
            out.append(np.asarray(with_text(photo, phrase, size, (i + size) % 3, rng)))
    for page in ocr_recall.pages(seed=5):
        out.append(np.asarray(prepare_image(page.data).convert("RGB")))
    return out


def main(target: str) -> int:
    reader = TextReader(threads=1)
    # RapidOCR's own resizing and normalisation, at the service's detector size (BGR input).
    prepare = reader._engine._load_det_model().get_preprocess()
    batches = [prepare(np.ascontiguousarray(rgb[:, :, ::-1])) for rgb in images()]
    np.savez(target, *batches)
    print(f"{len(batches)} inputs written to {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
