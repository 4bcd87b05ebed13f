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


def _photo(**kwargs: object) -> Scene:
    base: dict[str, object] = {
        "kind": "photo",
        "width": 400,
        "height": 300,
        "colors": [("green", 0.6), ("blue", 0.3)],
        "saturation": 0.5,
    }
    base.update(kwargs)
    return Scene(**base)  # type: ignore[arg-type]


def test_subject_alone_then_in_its_setting() -> None:
    assert describe(_photo(subject="dog")).alt_text == "A dog"
    assert describe(_photo(subject="dog", setting="beach")).alt_text == "A dog on a beach"
    assert describe(_photo(subject="coffee")).alt_text == "A cup of coffee"
    assert describe(_photo(subject="sofa", setting="living room")).alt_text == (
        "A sofa in a living room"
    )
    out = describe(_photo(subject="dog", concept_tags=[("dog", 0.91), ("animal", 0.93)]))
    assert dict(out.tags)["dog"] == 0.91 and dict(out.tags)["animal"] == 0.93
    assert out.suggested_filename == "dog-photo"


def test_people_come_first_and_take_the_setting() -> None:
    faces = [(10, 10, 60, 60), (200, 20, 60, 60)]
    scene = _photo(face_boxes=faces, setting="stage", subject="dog")
    assert describe(scene).alt_text == "Two people on a stage"


def test_a_far_away_face_gives_way_to_a_confident_subject() -> None:
    tiny_face = [(10, 10, 12, 12)]  # 0.1 % of the image: a passer-by or a false detection
    assert describe(_photo(face_boxes=tiny_face, subject="flower")).alt_text == "A flower"
    assert describe(_photo(face_boxes=tiny_face)).alt_text == "A person in a wider scene"


def test_text_follows_the_subject_and_colour_is_the_last_resort() -> None:
    signed = _photo(subject="bicycle", texts=[("CITY BIKES", 0.97, 30)])
    assert describe(signed).alt_text == "A bicycle; text reads 'CITY BIKES'"
    assert describe(_photo()).alt_text == "Colourful scene in green and blue tones"
    junk = _photo(subject="bicycle", texts=[("***", 0.99, 30)])
    assert describe(junk).alt_text == "A bicycle"


def test_graphic_with_a_subject_is_an_illustration() -> None:
    assert describe(_photo(kind="graphic", subject="flower")).alt_text == (
        "Illustration of a flower"
    )


def test_unknown_language_falls_back_to_english_phrases() -> None:
    assert describe(_photo(subject="cat"), language="xx-YY").alt_text == "A cat"
