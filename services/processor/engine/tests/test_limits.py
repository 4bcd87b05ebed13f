"""Format limits are known up front: a format that cannot hold an image is never tried, another
accepted one (or PNG/JPEG, which every client shows) takes its place, and a format asked for by
name that cannot hold it is a clear `format_limit`."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from picopt import formats
from services.processor.engine import EngineError, OptimizeOptions, optimize
from services.processor.engine.codecs import CODECS, Extras

from .conftest import encode


def line(width: int, height: int) -> bytes:
    """A thin black image with a white tick every 97 pixels: tiny as PNG, cheap to encode."""
    arr = np.zeros((height, width), np.uint8)
    if width >= height:
        arr[:, ::97] = 255
    else:
        arr[::97, :] = 255
    return encode(Image.fromarray(arr), "PNG")


@pytest.mark.parametrize("name", sorted(CODECS))
def test_each_codec_knows_its_side_limit(name: str) -> None:
    side = formats.get(name).max_side
    assert CODECS[name].limit([Image.new("L", (min(side, 70_000), 1))], Extras()) is None
    if side < 2**31 - 1:
        too_wide = [Image.new("L", (side + 1, 1))]
        assert CODECS[name].limit(too_wide, Extras()) == f"at most {side} pixels a side"


def test_gif_holds_256_colours_and_no_half_transparency() -> None:
    gif = CODECS["gif"]
    ramp = np.arange(256, dtype=np.uint8).reshape(16, 16)
    assert gif.limit([Image.fromarray(ramp)], Extras()) is None
    values = np.arange(257)
    rgb = np.stack([values % 256, values // 256, values * 0], -1).astype(np.uint8)
    assert gif.limit([Image.fromarray(rgb.reshape(1, 257, 3), "RGB")], Extras()) is not None
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 3] = 128
    assert gif.limit([Image.fromarray(rgba, "RGBA")], Extras()) is not None


@pytest.mark.parametrize(("fmt", "size"), [("webp", (16383, 1)), ("jpeg", (1, 65500))])
def test_at_the_limit_the_format_is_used(fmt: str, size: tuple[int, int]) -> None:
    main = optimize(line(*size), OptimizeOptions(format=fmt)).main
    assert main.format == fmt and (main.width, main.height) == size


@pytest.mark.parametrize(
    ("size", "accept"),
    [((16384, 1), ("webp",)), ((1, 16384), ("webp",)), ((65501, 2), ("jpeg", "webp"))],
)
def test_past_the_limit_another_format_holds_it(
    size: tuple[int, int], accept: tuple[str, ...]
) -> None:
    data = line(*size)
    main = optimize(data, OptimizeOptions(accept=accept)).main
    assert main.format == "png" and (main.width, main.height) == size
    assert len(main.data) <= len(data)


@pytest.mark.parametrize(("fmt", "size"), [("webp", (16384, 1)), ("avif", (1, 32769))])
def test_a_format_named_that_cannot_hold_the_image_is_format_limit(
    fmt: str, size: tuple[int, int]
) -> None:
    with pytest.raises(EngineError) as err:
        optimize(line(*size), OptimizeOptions(format=fmt))
    assert err.value.code == "format_limit"
    assert "pixels a side" in err.value.message
