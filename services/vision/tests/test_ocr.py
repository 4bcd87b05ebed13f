"""The text detector the service runs is our int8 quantization of RapidOCR's: pinned, and
reading what the wheel's fp32 detector reads."""

from __future__ import annotations

import numpy as np
import pytest

from services.vision.providers.local import ocr
from services.vision.providers.local.checksums import ModelChecksumError
from services.vision.providers.local.ocr import TextReader
from services.vision.tests.images import small_sign

SIGNS = [
    ("chelsea", "garden hotel", 14, 40, 30, False),
    ("coffee", "OPEN DAILY", 12, 300, 60, False),
    ("astronaut", "north station", 18, 200, 440, True),
    ("rocket", "MUSEUM EXIT", 15, 60, 380, True),
]


@pytest.fixture(scope="module")
def signs() -> list[tuple[str, np.ndarray]]:
    """Small phrases (12-18 px) on real photos, on plates and as outlined text."""
    return [(sign[1], np.asarray(small_sign(*sign))) for sign in SIGNS]


def _read(reader: TextReader, rgb: np.ndarray) -> str:
    """The lines read, lower case, without spaces (the recogniser may join two words)."""
    return "".join(line.text for line in reader.read(rgb).lines).lower().replace(" ", "")


def test_the_int8_detector_reads_small_text_as_the_fp32_one(
    signs: list[tuple[str, np.ndarray]],
) -> None:
    shipped = TextReader(threads=1)
    wheel = TextReader(threads=1, det_model=None)
    for phrase, rgb in signs:
        wanted = phrase.lower().replace(" ", "")
        assert wanted in _read(wheel, rgb)
        assert wanted in _read(shipped, rgb)


def test_a_detector_file_that_is_not_the_pinned_one_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ocr, "DET_INT8_SHA256", "0" * 64)
    with pytest.raises(ModelChecksumError):
        TextReader(threads=1)
