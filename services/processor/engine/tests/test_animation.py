"""Animations keep their timeline: every frame's delay and the loop count, from every input
format to every output, and frames are whole canvases whatever their stored size."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
from PIL import Image

from services.processor.engine import Limits, OptimizeOptions, optimize
from services.processor.engine.choose import AnimationJudge
from services.processor.engine.decode import decode
from services.processor.engine.isobmff import avif_plays

from .conftest import encode, photo

# Irregular delays, in 10 ms steps so GIF can hold them exactly.
DELAYS = [30, 70, 150, 40, 500]
PIL_NAMES = {"gif": "GIF", "webp": "WEBP", "png": "PNG", "avif": "AVIF"}


def frames_of(n: int = len(DELAYS), size: tuple[int, int] = (48, 32)) -> list[Image.Image]:
    """Distinct frames (encoders merge identical neighbours), few colours so GIF is exact."""
    return [photo(*size, seed=i).quantize(32).convert("RGB") for i in range(n)]


def animation(fmt: str, delays: list[int] = DELAYS, **params: object) -> bytes:
    frames = frames_of(len(delays))
    if fmt == "gif":
        frames = [f.quantize(32) for f in frames]  # type: ignore[misc]
    return encode(
        frames[0],
        PIL_NAMES[fmt],
        save_all=True,
        append_images=frames[1:],
        duration=delays,
        **params,
    )


def timeline(data: bytes) -> tuple[list[int], int]:
    """(delay of each frame in ms, plays: 0 for ever) read with Pillow, independently of the
    engine's decoder (the loop count follows each format's own convention)."""
    delays = []
    with Image.open(io.BytesIO(data)) as im:
        for i in range(getattr(im, "n_frames", 1)):
            im.seek(i)
            im.load()
            delays.append(round(float(im.info.get("duration") or 0)))
        fmt, info = im.format, dict(im.info)
    if fmt == "AVIF":
        return delays, avif_plays(data)
    if fmt == "GIF":
        loop = info.get("loop")
        return delays, 1 if loop is None else (0 if loop == 0 else loop + 1)
    return delays, int(info.get("loop", 0))


@pytest.mark.parametrize("fmt", ["gif", "webp", "png", "avif"])
def test_decode_reads_each_frames_delay_and_the_loop(fmt: str) -> None:
    data = animation(fmt, loop=0)
    decoded = decode(data, Limits())
    assert decoded.durations == DELAYS
    assert decoded.loop == 0
    assert len(decoded.frames) == len(DELAYS)


@pytest.mark.parametrize(
    ("fmt", "params", "plays"),
    [
        ("webp", {"loop": 3}, 3),
        ("png", {"loop": 2}, 2),
        ("gif", {"loop": 2}, 3),  # NETSCAPE 2: two repeats after the first play
        ("gif", {}, 1),  # no NETSCAPE block: plays once
    ],
)
def test_finite_loop_counts(fmt: str, params: dict, plays: int) -> None:
    assert decode(animation(fmt, **params), Limits()).loop == plays


def test_avif_loop_count_is_read_from_the_edit_list() -> None:
    data = bytearray(animation("avif"))
    assert avif_plays(bytes(data)) == 0  # libavif writes "repeat for ever"
    elst = data.index(b"elst") + 4  # payload: version, flags, entry count, then entries
    tkhd = data.index(b"tkhd") + 4
    assert data[elst] == data[tkhd] == 1  # 64-bit durations
    segment = struct.unpack(">Q", data[elst + 8 : elst + 16])[0]
    struct.pack_into(">Q", data, tkhd + 28, segment * 3)
    assert avif_plays(bytes(data)) == 3
    data[elst + 3] &= 0xFE  # not repeating
    assert avif_plays(bytes(data)) == 1


@pytest.mark.parametrize("fmt", ["gif", "webp", "png", "avif"])
@pytest.mark.parametrize("options", [OptimizeOptions(), OptimizeOptions(width=40)])
def test_output_timeline_matches_the_input_frame_by_frame(
    fmt: str, options: OptimizeOptions
) -> None:
    data = animation(fmt, loop=0)
    result = optimize(data, options)
    assert result.main.frames == len(DELAYS)
    assert timeline(result.main.data) == (DELAYS, 0)


@pytest.mark.parametrize("fmt", ["webp", "png", "avif", "gif"])
@pytest.mark.parametrize("plays", [1, 2])
def test_finite_loops_survive_a_re_encode(fmt: str, plays: int) -> None:
    data = animation("webp", loop=plays, lossless=True)
    result = optimize(data, OptimizeOptions(format=fmt, quality="lossless"))
    assert result.main.format == fmt
    assert timeline(result.main.data) == (DELAYS, plays)


def _gif_with_a_frame_past_the_screen() -> bytes:
    """Logical screen 40x30; the second frame is stored at (30, 20), 20x20: half outside."""
    palette = [255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255]
    first = Image.new("P", (40, 30), 0)
    first.putpalette(palette)
    second = Image.new("P", (40, 30), 0)
    second.putpalette(palette)
    second.paste(1, (0, 0, 20, 20))
    data = bytearray(
        encode(first, "GIF", save_all=True, append_images=[second], duration=[50, 120], loop=0)
    )
    descriptor = data.index(b"\x2c", data.index(b"\x2c") + 1)
    assert struct.unpack("<HHHH", data[descriptor + 1 : descriptor + 9]) == (0, 0, 20, 20)
    struct.pack_into("<HH", data, descriptor + 1, 30, 20)
    return bytes(data)


def test_frames_past_the_canvas_are_clipped_to_it() -> None:
    data = _gif_with_a_frame_past_the_screen()
    decoded = decode(data, Limits())
    assert [f.size for f in decoded.frames] == [(40, 30), (40, 30)]
    second = np.asarray(decoded.frames[1])
    assert tuple(second[25, 35][:3]) == (0, 255, 0)  # inside the canvas: the new frame
    assert tuple(second[5, 5][:3]) == (255, 0, 0)  # elsewhere: the first frame still shows
    for fmt in ("webp", "png", "avif"):
        out = optimize(data, OptimizeOptions(format=fmt)).main
        assert (out.width, out.height, out.frames) == (40, 30, 2)
        assert timeline(out.data) == ([50, 120], 0)


@pytest.mark.parametrize(
    "options", [OptimizeOptions(format="jpeg"), OptimizeOptions(accept=("jpeg",))]
)
def test_a_format_that_cannot_move_gets_the_first_frame(options: OptimizeOptions) -> None:
    result = optimize(animation("gif", loop=0), options)
    assert result.main.format == "jpeg" and result.main.frames == 1
    with Image.open(io.BytesIO(result.main.data)) as im:
        assert im.size == (48, 32)


def test_sampled_frames_are_found_by_time_when_the_encoder_merged_neighbours() -> None:
    """WebP stores [A, A, B, C] as three frames (A for both delays): the judge compares the
    input's third frame (B) with what shows at its start time, not with the output's third."""
    a, b, c = frames_of(3)
    frames = [a, a.copy(), b, c]
    delays = (40, 60, 80, 100)
    data = encode(
        a, "WEBP", save_all=True, append_images=frames[1:], duration=list(delays), lossless=True
    )
    assert getattr(Image.open(io.BytesIO(data)), "n_frames", 1) == 3
    assert AnimationJudge(frames, delays).score_bytes(data) > 99


def test_a_dithered_animation_reaches_the_target_as_avif() -> None:
    """Animated AVIF gets the still's chroma choice: Pillow's default 4:2:0 left dithered GIF
    frames near 56 even at quality 95."""
    frames = [
        photo(64, 48, seed=i).quantize(256, dither=Image.Dither.FLOYDSTEINBERG) for i in range(4)
    ]
    gif = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=DELAYS[:4])
    main = optimize(gif, OptimizeOptions(format="avif")).main
    assert main.format == "avif" and main.ssimulacra2 is not None and main.ssimulacra2 >= 80
