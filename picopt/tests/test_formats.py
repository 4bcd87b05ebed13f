"""The format table and bounded sniffing: right answers, and hostile bodies cost nothing."""

from __future__ import annotations

import io
import json
import tracemalloc

import numpy as np
import pytest
from PIL import Image

from picopt import formats
from picopt.formats import MAX_BRANDS, SNIFF_BYTES, FormatError, sniff
from picopt.formats.signatures import brands

JXL_CODESTREAM = b"\xff\x0a" + bytes(30)
JXL_CONTAINER = b"\x00\x00\x00\x0cJXL \r\n\x87\n" + b"\x00\x00\x00\x14ftypjxl \x00\x00\x00\x00jxl "


def _ftyp(major: bytes, *compatible: bytes, size: int | None = None) -> bytes:
    body = major + b"\x00\x00\x00\x00" + b"".join(compatible)
    declared = size if size is not None else 8 + len(body)
    return declared.to_bytes(4, "big") + b"ftyp" + body


def _pil(fmt: str, **params: object) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 3), (200, 30, 90)).save(out, fmt, **params)
    return out.getvalue()


@pytest.mark.parametrize(
    ("pil_format", "name"),
    [("JPEG", "jpeg"), ("PNG", "png"), ("GIF", "gif"), ("WEBP", "webp"), ("TIFF", "tiff"),
     ("BMP", "bmp")],
)  # fmt: skip
def test_every_readable_pillow_format_is_recognised(pil_format: str, name: str) -> None:
    assert sniff(_pil(pil_format)) == name


def test_avif_and_heic_files_from_the_real_encoders_are_told_apart() -> None:
    import pillow_heif

    pillow_heif.register_heif_opener()
    assert sniff(_pil("AVIF")) == "avif"
    assert sniff(_pil("HEIF")) == "heic"


@pytest.mark.parametrize("data", [JXL_CODESTREAM, JXL_CONTAINER])
def test_jpeg_xl_is_recognised_by_both_signatures(data: bytes) -> None:
    assert sniff(data) == "jxl"


def test_jpeg_xl_from_the_real_encoder_is_recognised() -> None:
    import pillow_jxl  # noqa: F401  (registers the JXL encoder)

    assert sniff(_pil("JXL")) == "jxl"


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (_ftyp(b"avif", b"mif1", b"miaf"), "avif"),
        (_ftyp(b"mif1", b"miaf", b"avif"), "avif"),
        (_ftyp(b"avis", b"msf1"), "avif"),
        (_ftyp(b"heic", b"mif1"), "heic"),
        (_ftyp(b"mif1", b"heic"), "heic"),
    ],
)
def test_iso_media_brands_decide_avif_or_heic(data: bytes, name: str) -> None:
    assert sniff(data + bytes(64)) == name


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "unsupported_format"),
        (b"hello world, not an image", "unsupported_format"),
        (_ftyp(b"isom", b"mp41") + bytes(64), "unsupported_format"),  # a video
        (_ftyp(b"avif", size=12), "corrupt_image"),  # box shorter than its header
        (_ftyp(b"avif", b"mif1", size=1000) + bytes(64), "corrupt_image"),  # past the end
        (_ftyp(b"avif", size=10_000) + bytes(10_000), "corrupt_image"),  # implausibly large
    ],
)
def test_what_is_not_a_known_image_gets_a_stable_code(data: bytes, code: str) -> None:
    with pytest.raises(FormatError) as err:
        sniff(data)
    assert err.value.code == code


def test_brands_past_the_bound_are_not_read() -> None:
    """A real brand hidden behind MAX_BRANDS decoys is not looked for: the bound is the rule."""
    decoys = [b"x%03d" % i for i in range(MAX_BRANDS)]
    data = _ftyp(b"isom", *decoys, b"avif")
    assert len(brands(data)) == MAX_BRANDS
    with pytest.raises(FormatError):
        sniff(data)


class _CountingBytes(bytes):
    """Bytes that remember the furthest offset any slice or index reached."""

    furthest = 0

    def __getitem__(self, key):  # type: ignore[no-untyped-def,override]
        stop = key.stop if isinstance(key, slice) else key + 1
        stop = len(self) if stop is None else stop
        type(self).furthest = max(type(self).furthest, stop)
        return super().__getitem__(key)


def _hostile(size: int) -> bytes:
    """An `ftyp` box claiming the whole body, every 4 bytes a different brand, no known one."""
    body = np.arange(size // 4 - 4, dtype=">u4").tobytes()
    return _ftyp(b"isom", size=size)[:16] + body


def test_a_50_mb_hostile_body_is_refused_after_reading_a_few_kib_with_flat_memory() -> None:
    data = _hostile(50 * 1024 * 1024)
    probe = _CountingBytes(data)
    _CountingBytes.furthest = 0
    tracemalloc.start()
    try:
        with pytest.raises(FormatError) as err:
            sniff(probe)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert err.value.code == "corrupt_image"
    assert _CountingBytes.furthest <= SNIFF_BYTES
    assert peak < 64 * 1024, f"sniffing allocated {peak} bytes"


@pytest.mark.parametrize("data", [_pil("PNG") + bytes(SNIFF_BYTES), _hostile(SNIFF_BYTES * 4)])
def test_the_head_alone_gives_the_same_answer_as_the_whole_file(data: bytes) -> None:
    def outcome(part: bytes) -> str:
        try:
            return sniff(part)
        except FormatError as err:
            return err.code

    assert outcome(data[:SNIFF_BYTES]) == outcome(data)


@pytest.mark.parametrize("name", sorted(formats.FORMATS))
def test_every_row_is_consistent(name: str) -> None:
    row = formats.get(name)
    assert row.mime.startswith("image/") and formats.by_mime(row.mime.upper()) is row
    assert formats.extension(name) == row.extensions[0]
    assert row.lossless or row.lossy
    assert not row.requestable or row.writable
    assert row.holds(1, 1) and not row.holds(row.max_side + 1, 1)


@pytest.mark.parametrize(
    ("name", "width", "height", "fits"),
    [
        ("webp", 16_383, 1, True),
        ("webp", 16_384, 1, False),
        ("webp", 1, 60_000, False),
        ("jpeg", 60_000, 1, True),
        ("jpeg", 65_501, 1, False),
        ("gif", 65_535, 1, True),
        ("avif", 16_384, 16_384, True),
        ("avif", 16_385, 16_384, False),  # over libavif's pixel limit
        ("avif", 32_769, 1, False),
        ("png", 60_000, 1, True),
    ],
)
def test_size_limits_per_format(name: str, width: int, height: int, fits: bool) -> None:
    assert formats.get(name).holds(width, height) is fits


def test_the_webp_limit_is_the_one_libwebp_applies() -> None:
    Image.new("L", (16_383, 1)).save(io.BytesIO(), "WEBP")
    with pytest.raises((OSError, ValueError)):
        Image.new("L", (16_384, 1)).save(io.BytesIO(), "WEBP")


def test_the_jpeg_limit_is_the_one_libjpeg_applies() -> None:
    Image.new("L", (65_500, 1)).save(io.BytesIO(), "JPEG")
    with pytest.raises((OSError, ValueError)):
        Image.new("L", (65_501, 1)).save(io.BytesIO(), "JPEG")


def test_quality_words_and_numbers() -> None:
    assert all(formats.is_quality(w) for w in ("auto", "High", "lossless", "1", "100"))
    assert not any(formats.is_quality(w) for w in ("0", "101", "best", "", "7.5"))


def test_the_description_is_json_and_names_every_format_and_option() -> None:
    described = json.loads(json.dumps(formats.describe()))
    assert [f["name"] for f in described["formats"]] == list(formats.FORMATS)
    assert described["effort"] == {"values": ["fast", "balanced", "max"], "default": "balanced"}
    assert set(described["browser_outputs"]) == {"jpeg", "png", "webp", "avif"}
