"""optimize(): formats, quality targets, resize, variants, placeholders, metadata, no_gain."""

from __future__ import annotations

import io

import numpy as np
import oxipng
import pytest
from PIL import Image, ImageCms, ImageDraw

from services.processor.engine import EngineError, OptimizeOptions, detect_format, optimize
from services.processor.engine.api import Limits, OptimizedImage
from services.processor.engine.metric import ssimulacra2

from .conftest import encode, exif_with_gps_and_serial, graphic, photo

SERIALS = (b"SERIAL-123456", b"LENS-987654")


def _open(data: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(data))
    im.load()
    return im


@pytest.mark.parametrize("fmt", ["jpeg", "png", "webp", "avif", "jxl"])
def test_each_output_format(fmt: str) -> None:
    result = optimize(encode(photo(), "PNG"), OptimizeOptions(format=fmt))
    assert result.main.format == fmt
    if fmt == "jxl":
        assert result.main.data.startswith((b"\xff\x0a", b"\x00\x00\x00\x0cJXL "))
    else:
        assert detect_format(result.main.data) == fmt
    assert _open(result.main.data).size == (96, 64)


def test_auto_picks_the_smallest_accepted_format() -> None:
    data = encode(photo(192, 128), "PNG")
    auto = optimize(data, OptimizeOptions(accept=("jpeg", "webp")))
    sizes = {f: len(optimize(data, OptimizeOptions(format=f)).main.data) for f in ("jpeg", "webp")}
    assert auto.main.format in sizes
    assert len(auto.main.data) <= min(sizes.values()) * 1.02


@pytest.mark.parametrize(("quality", "target"), [("high", 85), ("balanced", 80), ("small", 70)])
def test_quality_presets_meet_their_score(quality: str, target: float) -> None:
    src = photo(192, 128)
    result = optimize(encode(src, "PNG"), OptimizeOptions(quality=quality))
    out = np.asarray(_open(result.main.data).convert("RGB"))
    assert result.main.ssimulacra2 is not None and result.main.ssimulacra2 >= target
    assert ssimulacra2(np.asarray(src), out) >= target


def test_higher_targets_cost_more_bytes() -> None:
    data = encode(photo(192, 128), "PNG")
    small = optimize(data, OptimizeOptions(quality="small", format="webp")).main
    high = optimize(data, OptimizeOptions(quality="high", format="webp")).main
    assert len(small.data) < len(high.data)


def test_numeric_target_score() -> None:
    result = optimize(encode(photo(), "PNG"), OptimizeOptions(target_score=90.0, format="webp"))
    assert result.main.ssimulacra2 is not None and result.main.ssimulacra2 >= 90.0


def test_fixed_encoder_quality_is_used_as_is() -> None:
    data = encode(photo(), "PNG")
    result = optimize(data, OptimizeOptions(quality="42", format="jpeg"))
    assert result.main.quality == 42
    assert result.main.ssimulacra2 is not None and result.main.ssimulacra2 < 100


def test_lossless_is_pixel_exact() -> None:
    src = photo()
    result = optimize(encode(src, "PNG"), OptimizeOptions(quality="lossless"))
    assert result.main.format in ("png", "webp")
    assert np.array_equal(np.asarray(_open(result.main.data).convert("RGB")), np.asarray(src))
    assert result.main.ssimulacra2 == 100.0


def test_graphics_become_palette_or_lossless_with_alpha() -> None:
    result = optimize(encode(graphic(), "PNG"), OptimizeOptions())
    out = _open(result.main.data)
    assert result.main.format in ("png", "webp")
    assert out.has_transparency_data
    assert result.main.ssimulacra2 is not None and result.main.ssimulacra2 >= 80


def test_alpha_never_goes_to_jpeg_when_another_format_is_accepted() -> None:
    result = optimize(encode(graphic(), "PNG"), OptimizeOptions(accept=("jpeg", "webp")))
    assert result.main.format == "webp"


def test_alpha_to_jpeg_only_is_flattened_on_white() -> None:
    result = optimize(encode(graphic(), "PNG"), OptimizeOptions(format="jpeg"))
    corner = _open(result.main.data).convert("RGB").getpixel((0, 0))
    assert isinstance(corner, tuple) and min(corner) > 240


@pytest.mark.parametrize(
    ("fit", "size"),
    [("inside", (60, 40)), ("contain", (60, 60)), ("cover", (60, 60)), ("fill", (60, 60))],
)
def test_resize_fits(fit: str, size: tuple[int, int]) -> None:
    result = optimize(encode(photo(), "PNG"), OptimizeOptions(width=60, height=60, fit=fit))
    assert (result.main.width, result.main.height) == size
    assert _open(result.main.data).size == size


def test_shrink_on_load_jpeg_keeps_the_requested_size() -> None:
    data = encode(photo(800, 600), "JPEG", quality=95)
    result = optimize(data, OptimizeOptions(width=150))
    assert (result.main.width, result.main.height) == (150, 112)


def test_never_enlarges_by_default() -> None:
    result = optimize(encode(photo(), "PNG"), OptimizeOptions(width=500))
    assert (result.main.width, result.main.height) == (96, 64)
    bigger = optimize(encode(photo(), "PNG"), OptimizeOptions(width=192, enlarge=True))
    assert bigger.main.width == 192


def test_responsive_widths_give_one_output_each() -> None:
    result = optimize(encode(photo(400, 300), "PNG"), OptimizeOptions(widths=(100, 200)))
    assert [o.width for o in result.outputs] == [400, 100, 200]
    assert [o.height for o in result.outputs] == [300, 75, 150]
    assert all(o.ssimulacra2 is not None and o.ssimulacra2 >= 80 for o in result.outputs)


def test_placeholders_on_request() -> None:
    data = encode(photo(), "PNG")
    assert optimize(data).blurhash is None
    result = optimize(data, OptimizeOptions(placeholder=True))
    assert result.blurhash and 6 <= len(result.blurhash) <= 40
    assert result.lqip and result.lqip.startswith("data:image/webp;base64,")
    assert len(result.lqip) < 1000


def _jpeg_with_private_metadata() -> bytes:
    xmp = (
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/">'
        b"<aux:SerialNumber>SERIAL-123456</aux:SerialNumber></x:xmpmeta>"
    )
    return encode(
        photo(160, 120),
        "JPEG",
        quality=97,
        exif=exif_with_gps_and_serial(),
        xmp=xmp,
        comment=b"secret comment",
    )


@pytest.mark.parametrize("fmt", ["jpeg", "png", "webp", "avif"])
@pytest.mark.parametrize("keep", ["none", "copyright", "icc", "all"])
def test_outputs_never_carry_gps_or_serials(fmt: str, keep: str) -> None:
    result = optimize(
        _jpeg_with_private_metadata(), OptimizeOptions(format=fmt, keep_metadata=keep)
    )
    data = result.main.data
    for secret in (*SERIALS, b"secret comment"):
        assert secret not in data
    assert (b"SpyCam" in data) == (keep == "all")
    exif = _open(data).getexif()
    assert 0x8825 not in exif
    assert not exif.get_ifd(0x8825)


def test_keep_copyright_keeps_only_author_and_copyright() -> None:
    result = optimize(_jpeg_with_private_metadata(), OptimizeOptions(keep_metadata="copyright"))
    exif = _open(result.main.data).getexif()
    assert exif.get(0x013B) == "Ada Lovelace"
    assert exif.get(0x8298) == "(c) Ada"
    assert 0x010F not in exif


def test_default_strips_all_metadata() -> None:
    result = optimize(_jpeg_with_private_metadata(), OptimizeOptions(format="jpeg"))
    im = _open(result.main.data)
    assert not im.getexif()
    assert "xmp" not in im.info and "comment" not in im.info


def test_keep_icc_keeps_a_non_srgb_profile() -> None:
    # A non-sRGB RGB profile built with lcms (D50 white point), so no profile files are needed.
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB", colorTemp=5000)).tobytes()
    data = encode(photo(), "PNG", icc_profile=profile)
    kept = optimize(data, OptimizeOptions(keep_metadata="icc", format="webp"))
    assert _open(kept.main.data).info.get("icc_profile") == profile
    converted = optimize(data, OptimizeOptions(format="webp"))
    assert not _open(converted.main.data).info.get("icc_profile")


def test_no_gain_returns_the_stripped_input() -> None:
    """A target no re-encode can reach smaller: the input comes back minus its metadata."""
    src = photo(64, 64)
    data = encode(src, "JPEG", quality=30, exif=exif_with_gps_and_serial())
    result = optimize(data, OptimizeOptions(target_score=99.0, accept=("jpeg",)))
    assert result.main.no_gain
    assert len(result.main.data) < len(data)
    assert b"SERIAL-123456" not in result.main.data
    original = np.asarray(_open(data))
    assert np.array_equal(np.asarray(_open(result.main.data)), original)


def test_never_bigger_than_the_input() -> None:
    for quality in ("small", "balanced", "high"):
        data = encode(photo(128, 96), "WEBP", quality=40)
        assert len(optimize(data, OptimizeOptions(quality=quality)).main.data) <= len(data)


def test_animated_gif_becomes_animated_webp() -> None:
    frames = [photo(seed=i).quantize(64) for i in range(5)]
    gif = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=80, loop=0)
    result = optimize(gif)
    assert result.main.format in ("webp", "png", "gif")
    out = Image.open(io.BytesIO(result.main.data))
    assert getattr(out, "n_frames", 1) == 5
    assert result.main.frames == 5


def test_animated_avif_when_accepted() -> None:
    frames = [photo(seed=i) for i in range(3)]
    webp = encode(frames[0], "WEBP", save_all=True, append_images=frames[1:], duration=80)
    result = optimize(webp, OptimizeOptions(format="avif"))
    assert getattr(Image.open(io.BytesIO(result.main.data)), "n_frames", 1) == 3


@pytest.mark.parametrize(
    "options",
    [
        OptimizeOptions(format="bmp"),
        OptimizeOptions(quality="best"),
        OptimizeOptions(quality="0"),
        OptimizeOptions(fit="stretch"),
        OptimizeOptions(keep_metadata="gps"),
        OptimizeOptions(width=0),
        OptimizeOptions(accept=("tiff",)),
        OptimizeOptions(effort="slow"),
    ],
)
def test_invalid_options(options: OptimizeOptions) -> None:
    with pytest.raises(EngineError) as err:
        optimize(encode(photo(), "PNG"), options)
    assert err.value.code == "invalid_options"


def test_result_reports_the_input() -> None:
    data = encode(photo(), "JPEG", exif=exif_with_gps_and_serial(orientation=6))
    result = optimize(data)
    assert (result.format_in, result.bytes_in) == ("jpeg", len(data))
    assert (result.width_in, result.height_in) == (64, 96)
    assert result.ms > 0


def test_downscale_paths_agree_with_a_plain_resize() -> None:
    """The shrink-on-load path (libvips or Pillow draft) looks like a direct Lanczos resize."""
    src = photo(800, 600)
    result = optimize(encode(src, "PNG"), OptimizeOptions(width=200, quality="lossless"))
    expected = np.asarray(src.resize((200, 150), Image.Resampling.LANCZOS), dtype=float)
    got = np.asarray(_open(result.main.data).convert("RGB"), dtype=float)
    assert np.abs(got - expected).mean() < 3.0


def test_truncated_input_fails_cleanly_on_the_downscale_path() -> None:
    data = encode(photo(800, 600), "JPEG", quality=95)
    with pytest.raises(EngineError) as err:
        optimize(data[: len(data) // 2], OptimizeOptions(width=100))
    assert err.value.code == "corrupt_image"


def test_a_job_past_its_polish_share_of_the_timeout_skips_the_last_avif_encode() -> None:
    data = encode(photo(320, 240), "PNG")
    options = OptimizeOptions(accept=("avif",), effort="max")  # the polish is max's
    relaxed = optimize(data, options).outputs[0]
    rushed = optimize(data, options, Limits(timeout_s=0.0)).outputs[0]
    assert relaxed.format == rushed.format == "avif"
    assert len(relaxed.data) < len(rushed.data)


@pytest.mark.parametrize("fmt", ["AVIF", "JXL"])
def test_a_small_input_in_a_format_not_accepted_comes_back_larger_with_the_reason(
    fmt: str,
) -> None:
    data = encode(photo(256, 192), fmt, quality=40)
    main = optimize(data).main
    assert main.format in ("jpeg", "png", "webp") and not main.no_gain
    assert len(main.data) > len(data) and main.larger_reason == "format_not_accepted"
    accepted = optimize(data, OptimizeOptions(accept=(fmt.lower(), "webp"))).main
    assert accepted.format == fmt.lower()  # a re-encode or the input itself (`no_gain`)
    assert len(accepted.data) <= len(data) and accepted.larger_reason is None


def test_widths_above_the_source_give_one_full_size_variant() -> None:
    result = optimize(encode(photo(200, 100), "PNG"), OptimizeOptions(widths=(100, 400, 800, 100)))
    assert [(o.width, o.height) for o in result.outputs] == [(200, 100), (100, 50), (200, 100)]
    assert result.outputs[2] is result.outputs[0]  # encoded once


def test_an_unexpected_exception_leaves_the_engine_as_internal_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise KeyError("a bug")

    monkeypatch.setattr("services.processor.engine.pipeline.choose", broken)
    with pytest.raises(EngineError) as err:
        optimize(encode(photo(), "PNG"))
    assert err.value.code == "internal_error" and "KeyError" in err.value.message


def test_an_output_that_does_not_decode_is_never_returned(monkeypatch: pytest.MonkeyPatch) -> None:
    from services.processor.engine import choose as choose_module

    real = choose_module.choose

    def truncating(*args: object, **kwargs: object) -> choose_module.Choice:
        choice = real(*args, **kwargs)  # type: ignore[arg-type]
        choice.data = choice.data[: len(choice.data) // 2]
        return choice

    monkeypatch.setattr("services.processor.engine.pipeline.choose", truncating)
    with pytest.raises(EngineError) as err:
        optimize(encode(photo(), "PNG"), OptimizeOptions(format="png"))
    assert err.value.code == "internal_error"


def test_only_an_output_the_judge_did_not_decode_is_decoded_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The judge decoded the delivered bytes in full to score them: the last check trusts that
    and decodes only what the judge never saw (a lossless encode, or bytes changed after it)."""
    from services.processor.engine import pipeline

    checked: list[str] = []
    real = pipeline._decoded_size

    def counting(out: OptimizedImage) -> tuple[tuple[int, int], int]:
        checked.append(out.format)
        return real(out)

    monkeypatch.setattr(pipeline, "_decoded_size", counting)
    data = encode(photo(), "PNG")
    for effort in ("fast", "balanced", "max"):
        scored = optimize(data, OptimizeOptions(format="jpeg", effort=effort)).main
        assert scored.quality is not None and scored.frames == 1
    assert optimize(data, OptimizeOptions(format="jpeg", quality="70")).main.frames == 1
    assert checked == []
    lossless = optimize(data, OptimizeOptions(format="png", quality="lossless")).main
    assert lossless.quality is None and checked == ["png"]


def test_an_image_too_large_to_score_within_the_memory_ceiling_is_encoded_losslessly() -> None:
    """Scoring needs ~40 bytes a pixel at full size: 12 MP under a 256 MB ceiling cannot be
    scored, so the output is lossless PNG (which meets any target) instead of a memory error."""
    im = Image.new("L", (4000, 3000), 0)
    im.paste(255, (100, 100, 400, 300))
    data = encode(im, "PNG")
    main = optimize(data, OptimizeOptions(width=3999), Limits(max_memory_mb=256)).main
    assert main.format == "png" and main.quality is None and main.ssimulacra2 == 100.0


@pytest.mark.parametrize("quality", ["100", "lossless"])
def test_avif_at_quality_100_is_encoded_not_refused(quality: str) -> None:
    """libaom refuses a tune in lossless mode: quality 100 (or lossless, AVIF having no other
    mode) was an internal_error."""
    main = optimize(encode(photo(), "PNG"), OptimizeOptions(format="avif", quality=quality)).main
    assert main.format == "avif" and main.ssimulacra2 is not None and main.ssimulacra2 > 90


def _screenshot() -> Image.Image:
    """Flat panels, rules and text: what lossless PNG is for."""
    im = Image.new("RGB", (320, 200), (246, 246, 248))
    draw = ImageDraw.Draw(im)
    draw.rectangle((0, 0, 320, 28), fill=(40, 44, 52))
    for row in range(6):
        y = 40 + row * 26
        draw.rectangle((12, y, 308, y + 20), outline=(200, 200, 210), fill=(255, 255, 255))
        draw.text((20, y + 4), f"row {row}: picture optimizer settings", fill=(30, 30, 30))
    return im


def test_lossless_png_at_max_effort_is_no_bigger_than_oxipng_o6() -> None:
    """Search encodes use oxipng level 2; at `max` the winner is recompressed at level 6 (then
    zopfli), so it is never bigger than `oxipng -o6` on the same pixels."""
    im = _screenshot()
    source = encode(im, "PNG", compress_level=1)
    o6 = oxipng.optimize_from_memory(source, level=6)
    at_max = optimize(source, OptimizeOptions("png", quality="lossless", effort="max")).main
    balanced = optimize(source, OptimizeOptions("png", quality="lossless", effort="balanced")).main
    assert len(at_max.data) <= len(o6) < len(balanced.data)
    assert np.array_equal(np.asarray(_open(at_max.data).convert("RGB")), np.asarray(im))
