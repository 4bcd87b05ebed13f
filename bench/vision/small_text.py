"""Small text on real photos, read with each text detector (the wheel's fp32 model, our int8
one) at several input sizes.

The detector is most of the OCR's CPU per photo and its input size decides the smallest text
it finds: this sets readings and cost side by side. Each case is a corpus or scikit-image
photo (fitted in 1024 px, as a job's image is) with a two-word phrase of 11-18 px on a light
plate, a dark plate or as outlined white text; a case counts when the recognised lines
contain the phrase.
"""

from __future__ import annotations

import random
import time

import numpy as np
from PIL import Image, ImageDraw
from skimage import data as skimage_data

from bench.vision.dataset import CORPUS
from bench.vision.synth import font

SIZES = (11, 13, 15, 18)
DETECTOR_SIDES = (800, 640, 512)  # the wheel's fp32 detector
INT8_SIDES = (800, 640)  # ours (tools/vision-model/quantize_det.py)
WORDS = [
    "open",
    "daily",
    "sale",
    "parking",
    "exit",
    "coffee",
    "market",
    "station",
    "north",
    "garden",
    "hotel",
    "bakery",
    "museum",
    "river",
]


def _photos() -> list[Image.Image]:
    photos = []
    for path in sorted((CORPUS / "photo").glob("*.jpg"))[:10]:
        with Image.open(path) as im:
            im.draft("RGB", (1024, 1024))
            rgb = im.convert("RGB")
        rgb.thumbnail((1024, 1024))
        photos.append(rgb)
    for name in ("astronaut", "chelsea", "coffee", "rocket"):
        photos.append(Image.fromarray(getattr(skimage_data, name)()).convert("RGB"))
    return photos


def with_text(
    photo: Image.Image, phrase: str, size: int, style: int, rng: random.Random
) -> Image.Image:
    img = photo.copy()
    draw = ImageDraw.Draw(img)
    face = font(size)
    left, top, right, bottom = draw.textbbox((0, 0), phrase, font=face)
    tw, th = int(right - left), int(bottom - top)
    x = rng.randint(10, max(10, img.width - tw - 10))
    y = rng.randint(10, max(10, img.height - th - 10))
    pad = size // 3
    plate = (x - pad, y - pad, x + tw + pad, y + th + pad + 4)
    if style == 0:
        draw.rectangle(plate, fill=(245, 243, 235))
        draw.text((x - left, y - top), phrase, font=face, fill=(20, 20, 20))
    elif style == 1:
        draw.rectangle(plate, fill=(25, 60, 120))
        draw.text((x - left, y - top), phrase, font=face, fill=(255, 255, 255))
    else:
        outline = max(1, size // 10)
        draw.text(
            (x - left, y - top),
            phrase,
            font=face,
            fill="white",
            stroke_width=outline,
            stroke_fill="black",
        )
    return img


def cases(seed: int = 7) -> list[tuple[int, str, np.ndarray]]:
    rng = random.Random(seed)
    out = []
    for size in SIZES:
        for i, photo in enumerate(_photos()):
            phrase = " ".join(rng.sample(WORDS, 2))
            phrase = phrase.upper() if i % 2 else phrase
            out.append((size, phrase, np.asarray(with_text(photo, phrase, size, i % 3, rng))))
    return out


def run() -> dict[str, dict[str, object]]:
    """Per detector (model and input side): phrases read per text size, and OCR CPU ms per
    photo (one thread)."""
    from services.vision.providers.local.ocr import DET_INT8, TextReader

    found = cases()
    results: dict[str, dict[str, object]] = {}
    detectors = [(f"fp32, {side} px", side, None) for side in DETECTOR_SIDES]
    detectors += [(f"int8, {side} px", side, DET_INT8) for side in INT8_SIDES]
    for name, side, model in detectors:
        reader = TextReader(threads=1, det_side=side, det_model=model)
        reader.warm_up()
        read: dict[int, list[int]] = {size: [0, 0] for size in SIZES}
        started = time.process_time()
        for size, phrase, rgb in found:
            lines = " ".join(line.text for line in reader.read(rgb).lines).lower()
            read[size][0] += phrase.lower() in lines
            read[size][1] += 1
        cpu_ms = (time.process_time() - started) * 1000 / len(found)
        results[name] = {"read": read, "cpu_ms": cpu_ms}
    return results


def render(results: dict[str, dict[str, object]], shipped: int) -> list[str]:
    lines = [
        "## OCR: small text on photos, by the text detector's model and input size",
        "",
        "14 photos (corpus and scikit-image, fitted in 1024 px), one two-word phrase each at every "
        "size, on a light plate, a dark plate or outlined (`bench/vision/small_text.py`); "
        "OCR CPU ms per photo with one thread. The service uses the int8 detector (none of these "
        f"photos calibrated it) at {shipped} px.",
        "",
        "| detector | " + " | ".join(f"{s} px" for s in SIZES) + " | all | OCR CPU ms/photo |",
        "|---|" + "---:|" * (len(SIZES) + 2),
    ]
    for name, result in results.items():
        read = result["read"]
        assert isinstance(read, dict)
        hits = sum(h for h, _ in read.values())
        total = sum(t for _, t in read.values())
        cells = " | ".join(f"{h}/{t}" for h, t in read.values())
        lines.append(f"| {name} | {cells} | {hits}/{total} | {result['cpu_ms']:.0f} |")
    return [*lines, ""]
