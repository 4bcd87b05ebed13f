"""The benchmark images: the shared corpus plus photos shipped inside Python packages."""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# Beside the checkout (as CI lays it out), or where PICOPT_CORPUS says (e.g. from a worktree).
CORPUS = Path(os.environ.get("PICOPT_CORPUS", REPO.parent / "shared" / "corpus"))
OUT = REPO / "bench" / "out"
# Photos bundled with the packages (not already in the shared corpus).
PACKAGE_PHOTOS = {
    "skimage": [
        "data/chelsea.png",
        "data/motorcycle_left.png",
        "data/retina.jpg",
        "data/camera.png",
        "data/brick.png",
        "data/grass.png",
    ],
    "sklearn": ["datasets/images/china.jpg", "datasets/images/flower.jpg"],
    "matplotlib": ["mpl-data/sample_data/grace_hopper.jpg"],
}
QUICK = {
    "photo/dog_12mp_exif_orient6_xmp.jpg",
    "photo/flower_3mp_progressive.jpg",
    "photo/bicycles_street_restarts.jpg",
    "lossless/coffee_cup.png",
    "graphics/screenshot_image_viewer.png",
    "graphics/skimage_logo_alpha.png",
    "animated/rotating_squares_spinner.gif",
    "sklearn/china.jpg",
}


@dataclass(frozen=True)
class BenchImage:
    name: str
    path: Path


def images(quick: bool = False) -> list[BenchImage]:
    found: list[BenchImage] = []
    if CORPUS.exists():
        for path in sorted(CORPUS.glob("*/*")):
            if path.parent.name != "licenses" and path.suffix.lower() != ".md":
                found.append(BenchImage(f"{path.parent.name}/{path.name}", path))
    found += [BenchImage(name, path) for name, path in package_photos(PACKAGE_PHOTOS)]
    if quick:
        found = [i for i in found if i.name in QUICK]
    return found


def package_photos(files_by_package: dict[str, list[str]]) -> list[tuple[str, Path]]:
    """(name, path) of the photos shipped inside installed Python packages."""
    found: list[tuple[str, Path]] = []
    for package, files in files_by_package.items():
        spec = importlib.util.find_spec(package)
        if spec is None or spec.origin is None:
            continue
        root = Path(spec.origin).parent
        found += [(f"{package}/{Path(r).name}", root / r) for r in files if (root / r).exists()]
    return found
