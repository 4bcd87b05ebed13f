"""Composition rules: alt-text length and wording, captions, tags and slugs."""

from __future__ import annotations

from services.vision.compose import ALT_TEXT_MAX, Scene, describe, slugify


def test_close_up_portrait_with_sign_text() -> None:
    scene = Scene(
        kind="photo",
        width=400,
        height=400,
        face_boxes=[(100, 80, 200, 200)],
        texts=[("OPEN 24 HOURS", 0.98, 40), ("small print", 0.9, 12)],
        colors=[("black", 0.6), ("orange", 0.3)],
        background="dark",
        saturation=0.4,
    )
    out = describe(scene)
    assert out.alt_text == (
        "Close-up portrait of a person against a dark background; text reads 'OPEN 24 HOURS'"
    )
    assert out.caption.count(".") <= 3
    assert "'OPEN 24 HOURS', 'small print'" in out.caption
    labels = dict(out.tags)
    assert {"photo", "person", "face", "portrait", "text", "black", "orange"} <= set(labels)
    assert all(0.0 <= c <= 1.0 for c in labels.values())
    assert out.suggested_filename == "open-24-hours-portrait-photo"


def test_alt_text_is_bounded_and_never_says_image_of() -> None:
    scene = Scene(
        kind="document",
        width=800,
        height=1000,
        text_lines=40,
        texts=[("A very long heading " * 12, 0.95, 30)],
    )
    out = describe(scene)
    assert len(out.alt_text) <= ALT_TEXT_MAX
    for kind in ("photo", "graphic", "screenshot", "document"):
        alt = describe(Scene(kind=kind, width=10, height=10)).alt_text.lower()
        assert "image of" not in alt and "picture of" not in alt and "photo of" not in alt


def test_scene_without_people_or_text_describes_tone_and_palette() -> None:
    out = describe(
        Scene(
            kind="photo",
            width=100,
            height=100,
            brightness=0.1,
            underexposed=True,
            colors=[("black", 0.7), ("orange", 0.2)],
            saturation=0.3,
        )
    )
    assert out.alt_text == "Dark, low-light scene in black and orange tones"
    assert "underexposed" in out.caption
    assert out.suggested_filename == "black-orange-photo"


def test_slugify_is_ascii_lowercase_and_bounded() -> None:
    assert slugify("Café Zürich — Öffnungszeiten 24/7!") == "cafe-zurich-offnungszeiten-24-7"
    assert len(slugify("word " * 40)) <= 60
