"""The labelled benchmark set: corpus files with hand labels plus generated images with known truth.

Labels are the author's reading of each image (see /work/shared/corpus/SOURCES.md for content);
`None` means "not labelled for this measure" (for example a crowd whose face count is unclear).
"""

from __future__ import annotations

import io
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data as skdata

from bench.vision import synth

CORPUS = Path(os.environ.get("PICOPT_CORPUS", "/work/shared/corpus"))

# path -> (kind, faces); faces None = not counted (crowds, paintings, people from behind at
# unknown scale are left out rather than guessed).
CORPUS_LABELS: dict[str, tuple[str, int | None]] = {
    "photo/dog_12mp_exif_orient6_xmp.jpg": ("photo", 0),
    "photo/flower_3mp_progressive.jpg": ("photo", 0),
    "photo/flower_small_cmyk_gps.jpg": ("photo", 0),
    "photo/person_waterfall_2mp_orient8.jpg": ("photo", 0),
    "photo/landscape_waterfall_2mp_orient5.jpg": ("photo", 0),
    "photo/window_iphone_p3_gainmap_gps.jpg": ("photo", 0),
    "photo/rocket_launchpad_dusk_adobergb.jpg": ("photo", 0),
    "photo/bicycles_street_restarts.jpg": ("photo", 0),
    "photo/seine_city_ultrahdr_gps.jpg": ("photo", 0),
    "photo/concert_crowd_lowlight_gray.jpg": ("photo", None),
    "photo/hubble_deep_field.jpg": ("photo", 0),
    "photo/harbour_nokia_9mp_gps.jpg": ("photo", 0),
    "photo/chandelier_lowlight_canon_orient6_gps.jpg": ("photo", 0),
    "photo/wisteria_iphone6_8mp_gps.jpg": ("photo", 0),
    "lossless/weld_night_16bit.png": ("photo", 0),
    "lossless/room_interior_16bit_hlg.png": ("photo", 0),
    "lossless/coffee_cup.png": ("photo", 0),
    "lossless/astronaut_portrait.png": ("photo", 1),
    "lossless/coast_cliff_nikon_exif.png": ("photo", 0),
    "graphics/handwriting_alpha_2048.png": ("graphic", 0),
    "graphics/flower_cutout_alpha.png": ("photo", 0),
    "graphics/skimage_logo_alpha.png": ("graphic", 0),
    "graphics/flowchart_diagram_alpha.png": ("graphic", 0),
    "graphics/screenshot_image_viewer.png": ("screenshot", 0),
    "graphics/p3_color_ring_alpha.png": ("graphic", 0),
    "graphics/abc_text_translucent.png": ("graphic", 0),
    "graphics/hibiscus_vector_style_alpha.png": ("graphic", 0),
    "graphics/bricks_dithered_palette.png": ("photo", 0),
    "animated/muybridge_terminal_380f.gif": ("screenshot", 0),
    "animated/terminal_patches_2f.gif": ("screenshot", 0),
    "animated/rotating_squares_spinner.gif": ("graphic", 0),
    "animated/colors_animated_alpha_exif.avif": ("graphic", 0),
    "modern/sofa_room_grid.avif": ("photo", 0),
    "modern/harvesters_lossy.webp": ("photo", None),
    "modern/iphone13promax.heic": ("photo", 0),
}

# scikit-image sample photos (shipped in its wheel): name -> faces.
SKIMAGE_PHOTOS: dict[str, int | None] = {
    "astronaut": 1,
    "coffee": 0,
    "chelsea": 0,
    "rocket": 0,
    "motorcycle": 0,
    "camera": None,
    "coins": 0,
    "grass": 0,
    "gravel": 0,
}

TEXT_BASES = ("coffee", "chelsea", "rocket", "motorcycle", "astronaut", "grass")
CORPUS_TEXT_BASES = (
    "lossless/coast_cliff_nikon_exif.png",
    "photo/harbour_nokia_9mp_gps.jpg",
    "photo/bicycles_street_restarts.jpg",
    "lossless/room_interior_16bit_hlg.png",
)
FACE_BASES = (
    "lossless/coast_cliff_nikon_exif.png",
    "photo/harbour_nokia_9mp_gps.jpg",
    "modern/sofa_room_grid.avif",
    "lossless/room_interior_16bit_hlg.png",
)


@dataclass(frozen=True)
class Sample:
    """One benchmark image and the truths it is scored on."""

    name: str
    data: bytes
    source: str
    kind: str | None = None
    text: str | None = None
    faces: int | None = None
    nsfw_free: bool = True


def _encode(img: Image.Image, fmt: str = "JPEG") -> bytes:
    buf = io.BytesIO()
    if fmt == "JPEG":
        img.convert("RGB").save(buf, "JPEG", quality=90)
    else:
        img.save(buf, fmt)
    return buf.getvalue()


def _skimage(name: str) -> Image.Image:
    arr = skdata.stereo_motorcycle()[0] if name == "motorcycle" else getattr(skdata, name)()
    return Image.fromarray(arr.astype(np.uint8)).convert("RGB")


def _corpus_image(rel: str) -> Image.Image:
    from services.vision.providers import prepare_image

    return prepare_image((CORPUS / rel).read_bytes(), max_side=1024)


def samples(seed: int = 20251127) -> Iterator[Sample]:
    """Yield the full labelled set in a fixed order."""
    rng = random.Random(seed)
    for rel, (kind, faces) in CORPUS_LABELS.items():
        path = CORPUS / rel
        if path.is_file():
            yield Sample(f"corpus/{rel}", path.read_bytes(), "corpus", kind=kind, faces=faces)
    for name, faces in SKIMAGE_PHOTOS.items():
        yield Sample(f"skimage/{name}", _encode(_skimage(name)), "skimage", "photo", faces=faces)
    yield Sample("skimage/page", _encode(_skimage("page"), "PNG"), "skimage", "document")

    bases = [_skimage(n) for n in TEXT_BASES]
    bases += [_corpus_image(rel) for rel in CORPUS_TEXT_BASES if (CORPUS / rel).is_file()]
    for i, phrase in enumerate(synth.PHRASES):
        img = synth.text_on_photo(bases[i % len(bases)], phrase, rng)
        yield Sample(f"synthetic/text_{i:02d}", _encode(img), "synthetic", "photo", text=phrase)

    face_bases = [_corpus_image(rel) for rel in FACE_BASES if (CORPUS / rel).is_file()]
    for i in range(16):
        count = i % 4
        img = synth.faces_on_photo(face_bases[i % len(face_bases)], count, rng)
        yield Sample(
            f"synthetic/faces_{i:02d}_{count}", _encode(img), "synthetic", "photo", faces=count
        )

    for i in range(10):
        yield Sample(
            f"synthetic/document_{i:02d}",
            _encode(synth.document(rng), "PNG"),
            "synthetic",
            "document",
            faces=0,
        )
    for i in range(10):
        yield Sample(
            f"synthetic/screenshot_{i:02d}",
            _encode(synth.screenshot(rng), "PNG"),
            "synthetic",
            "screenshot",
            faces=0,
        )
    for i in range(10):
        yield Sample(
            f"synthetic/graphic_{i:02d}",
            _encode(synth.graphic(rng), "PNG"),
            "synthetic",
            "graphic",
            faces=0,
        )
