"""The contract every codec plug-in keeps (codecs/base.Codec): a new format's module passes these
by being listed in the registry."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from services.processor.engine import OptimizeOptions, optimize
from services.processor.engine.codecs import CODECS, Extras, codec, encode_frames

from .conftest import encode, graphic, photo


@pytest.fixture(params=sorted(CODECS))
def name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _opened(data: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(data))
    im.load()
    return im


def test_every_codec_is_registered_under_its_own_name(name: str) -> None:
    assert codec(name).name == name


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown output format"):
        codec("bmp")


def test_a_lossy_encode_reads_back_at_the_same_size(name: str) -> None:
    plugin = codec(name)
    lo, hi = plugin.quality_range
    im = photo(96, 64)
    out = _opened(encode_frames(plugin, [im], (lo + hi) // 2, Extras()))
    assert out.size == im.size


def test_a_lossless_encode_keeps_every_pixel(name: str) -> None:
    plugin = codec(name)
    if not plugin.lossless or name == "gif":  # GIF: lossless for up to 256 colours
        pytest.skip(f"{name} has no lossless mode for photos")
    im = photo(48, 32)
    out = _opened(encode_frames(plugin, [im], None, Extras()))
    assert np.array_equal(np.asarray(out.convert("RGB")), np.asarray(im))


def test_alpha_survives_where_the_codec_has_it_and_is_flattened_elsewhere(name: str) -> None:
    plugin = codec(name)
    lo, hi = plugin.quality_range
    out = _opened(encode_frames(plugin, [graphic()], (lo + hi) // 2, Extras(graphic=True)))
    assert out.has_transparency_data == plugin.alpha


def test_animation_is_kept_where_the_codec_has_it_and_refused_elsewhere(name: str) -> None:
    plugin = codec(name)
    frames = [photo(32, 32, seed=s) for s in (1, 2, 3)]
    extras = Extras(durations=(50, 60, 70))
    if not plugin.animation:
        with pytest.raises(ValueError, match="cannot hold an animation"):
            encode_frames(plugin, frames, None, extras)
        return
    out = _opened(encode_frames(plugin, frames, None, extras))
    assert getattr(out, "n_frames", 1) == 3


def test_candidates_and_settings_stay_in_the_codec_range(name: str) -> None:
    plugin = codec(name)
    lo, hi = plugin.quality_range
    assert 1 <= lo <= hi <= 100
    assert plugin.low_detail_quality is None or lo <= plugin.low_detail_quality <= hi
    for graphic_ in (False, True):
        alone = plugin.candidates(graphic_, animated=False, lossless=False, alone=True)
        assert alone and all(c.format == name for c in alone)
    if plugin.lossless:
        kinds = {c.kind for c in plugin.candidates(False, False, lossless=True, alone=True)}
        assert kinds == {"lossless"}


@pytest.mark.parametrize("quality", ["lossless", "100"])
def test_avif_at_quality_100_is_encoded_not_a_crash(quality: str) -> None:
    result = optimize(encode(photo(48, 32), "PNG"), OptimizeOptions(format="avif", quality=quality))
    assert result.main.format == "avif" and _opened(result.main.data).size == (48, 32)


def test_jpeg_below_max_skips_only_the_scan_search() -> None:
    """The scan search is entropy coding: `balanced` and `fast` give the very pixels of `max`,
    in a few more bytes (0.7% on photos) for much less encoding time."""
    im = photo(640, 480)
    outputs = {
        effort: encode_frames(codec("jpeg"), [im], 80, Extras(effort=effort))
        for effort in ("max", "balanced", "fast")
    }
    pixels = {effort: np.asarray(_opened(data)) for effort, data in outputs.items()}
    assert np.array_equal(pixels["balanced"], pixels["max"])
    assert outputs["balanced"] == outputs["fast"]
    assert outputs["balanced"] != outputs["max"]
    assert len(outputs["max"]) <= len(outputs["balanced"])
