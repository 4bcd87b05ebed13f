"""Real photos with hand-written subject labels: the set behind the alt-text targets.

Each photo lists the nouns a person's one-line description of it would contain (any one of
them in the alt text is a hit) and the tagger group its top tag should fall in (None: no
ImageNet group fits, e.g. galaxies). Textures have no subject: naming one there is a false
subject. Photos appear once (the corpus copies of scikit-image photos are skipped) and are
split in two: the cut-offs are tuned on "tune" and the targets are reported on "test".
Sources: the shared benchmark corpus (PICOPT_CORPUS; licences in its SOURCES.md) and the
sample photos inside the scikit-image, scikit-learn and matplotlib wheels.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

CORPUS = Path(os.environ.get("PICOPT_CORPUS", "/work/shared/corpus"))


@dataclass(frozen=True)
class Photo:
    source: str  # "corpus:<path>", "skimage:<name>", "sklearn:<name>", "matplotlib:<file>"
    subjects: tuple[str, ...]  # empty: a texture with no subject
    group: str | None
    split: str  # "tune" or "test"


PHOTOS: tuple[Photo, ...] = (
    Photo("corpus:photo/dog_12mp_exif_orient6_xmp.jpg", ("dog",), "animal", "tune"),
    Photo("skimage:chelsea", ("cat",), "animal", "test"),
    Photo("corpus:photo/flower_3mp_progressive.jpg", ("flower",), "plant", "tune"),
    Photo("corpus:photo/flower_small_cmyk_gps.jpg", ("flower",), "plant", "tune"),
    Photo("sklearn:flower.jpg", ("flower",), "plant", "test"),
    Photo("corpus:photo/wisteria_iphone6_8mp_gps.jpg", ("wisteria", "flower"), "plant", "test"),
    Photo("corpus:photo/person_waterfall_2mp_orient8.jpg", ("waterfall", "person"), None, "tune"),
    Photo(
        "corpus:photo/landscape_waterfall_2mp_orient5.jpg",
        ("waterfall", "landscape", "cliff"),
        "landscape",
        "test",
    ),
    Photo(
        "corpus:lossless/coast_cliff_nikon_exif.png", ("coast", "cliff", "sea"), "landscape", "tune"
    ),
    Photo("corpus:photo/seine_city_ultrahdr_gps.jpg", ("river", "city"), None, "test"),
    Photo(
        "corpus:photo/harbour_nokia_9mp_gps.jpg",
        ("harbour", "boat", "ship", "sea"),
        "vehicle",
        "test",
    ),
    Photo("skimage:rocket", ("rocket", "launch pad"), "vehicle", "tune"),
    Photo("corpus:photo/bicycles_street_restarts.jpg", ("bicycle", "street"), "vehicle", "test"),
    Photo("skimage:motorcycle", ("motorcycle",), "vehicle", "tune"),
    Photo("skimage:coffee", ("coffee", "cup"), "drink", "test"),
    Photo("sklearn:china.jpg", ("temple", "pagoda", "palace", "building"), "building", "tune"),
    Photo("corpus:modern/sofa_room_grid.avif", ("sofa", "living room"), "furniture", "test"),
    Photo(
        "corpus:lossless/room_interior_16bit_hlg.png",
        ("room", "chair", "window"),
        "furniture",
        "tune",
    ),
    Photo("corpus:modern/iphone13promax.heic", ("kitchen",), None, "test"),
    Photo("corpus:photo/window_iphone_p3_gainmap_gps.jpg", ("window", "room"), "furniture", "tune"),
    Photo(
        "corpus:photo/chandelier_lowlight_canon_orient6_gps.jpg",
        ("chandelier",),
        "furniture",
        "test",
    ),
    Photo(
        "corpus:photo/concert_crowd_lowlight_gray.jpg",
        ("concert", "crowd", "stage", "people"),
        "place",
        "tune",
    ),
    Photo("skimage:astronaut", ("astronaut", "person", "woman"), None, "test"),
    Photo("matplotlib:grace_hopper.jpg", ("person", "woman", "officer"), None, "tune"),
    Photo(
        "skimage:camera", ("man", "person", "camera", "photographer", "tripod"), "device", "test"
    ),
    Photo(
        "corpus:lossless/weld_night_16bit.png",
        ("welder", "welding", "sparks", "person"),
        None,
        "tune",
    ),
    Photo(
        "corpus:modern/harvesters_lossy.webp",
        ("painting", "field", "harvest", "people"),
        None,
        "test",
    ),
    Photo(
        "corpus:photo/hubble_deep_field.jpg", ("galaxies", "galaxy", "space", "stars"), None, "tune"
    ),
    Photo("skimage:moon", ("moon",), None, "test"),
    Photo("skimage:coins", ("coins", "coin"), None, "tune"),
    Photo("skimage:clock", ("clock",), "device", "test"),
    Photo("skimage:grass", (), None, "tune"),
    Photo("skimage:gravel", (), None, "test"),
    Photo("skimage:brick", (), None, "tune"),
    Photo("corpus:graphics/bricks_dithered_palette.png", (), None, "test"),
)


def _png(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.asarray(arr).astype(np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def load(source: str) -> bytes | None:
    """The photo's bytes as shipped (None when the corpus is not on this machine)."""
    kind, _, name = source.partition(":")
    if kind == "corpus":
        path = CORPUS / name
        return path.read_bytes() if path.is_file() else None
    if kind == "skimage":
        from skimage import data as skdata

        arr = skdata.stereo_motorcycle()[0] if name == "motorcycle" else getattr(skdata, name)()
        return _png(arr)
    if kind == "sklearn":
        from sklearn.datasets import load_sample_image

        return _png(load_sample_image(name))
    if kind == "matplotlib":
        from matplotlib import cbook

        return Path(cbook.get_sample_data(name, asfileobj=False)).read_bytes()
    raise ValueError(f"unknown photo source {source!r}")


def photos(split: str | None = None) -> Iterator[tuple[Photo, bytes]]:
    for photo in PHOTOS:
        if split is not None and photo.split != split:
            continue
        data = load(photo.source)
        if data is not None:
            yield photo, data
