"""Plain-language alt text, caption, tags and filename slug from measured signals.

The local provider has no captioning model, so the text says only what the signals support:
kind, people (face count and size), visible text, tones and palette, exposure. It never
guesses objects it cannot detect, and follows alt-text practice: no "image of", at most 125
characters, the most useful fact first.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

ALT_TEXT_MAX = 125
SLUG_MAX = 60
_NUMBERS = {2: "Two", 3: "Three", 4: "Four", 5: "Five"}


@dataclass(frozen=True)
class Scene:
    """What the local analysers found, in the units compose needs."""

    kind: str
    width: int
    height: int
    face_boxes: Sequence[tuple[int, int, int, int]] = ()
    texts: Sequence[tuple[str, float, int]] = ()  # (text, confidence, line height px)
    colors: Sequence[tuple[str, float]] = ()  # (colour name, share)
    background: str | None = None  # "dark", "light" or a colour name
    saturation: float = 0.5
    brightness: float = 0.5
    blurry: bool = False
    underexposed: bool = False
    overexposed: bool = False
    noisy: bool = False
    animated: bool = False
    transparent: bool = False
    text_lines: int = 0
    terminal: bool = False
    extra_tags: Sequence[tuple[str, float]] = field(default_factory=tuple)


@dataclass(frozen=True)
class Description:
    alt_text: str
    caption: str
    tags: list[tuple[str, float]]
    suggested_filename: str


def describe(scene: Scene) -> Description:
    subject = _subject(scene)
    headline = _headline_text(scene)
    alt = _fit_alt(subject, headline)
    return Description(
        alt_text=alt,
        caption=_caption(scene, subject, headline),
        tags=_tags(scene),
        suggested_filename=_slug(scene, headline),
    )


def _faces_phrase(scene: Scene) -> str | None:
    n = len(scene.face_boxes)
    if n == 0:
        return None
    area = float(scene.width * scene.height) or 1.0
    largest = max(w * h for _, _, w, h in scene.face_boxes) / area
    if n == 1:
        if largest >= 0.08:
            return "Close-up portrait of a person"
        if largest >= 0.02:
            return "Portrait of a person"
        return "A person in a wider scene"
    if n <= 5:
        return f"{_NUMBERS[n]} people"
    return f"Group of {n} people"


def _tone(scene: Scene) -> str:
    if scene.saturation < 0.06:
        return "Black-and-white"
    if scene.underexposed or scene.brightness < 0.22:
        return "Dark, low-light"
    if scene.overexposed or scene.brightness > 0.8:
        return "Bright, high-key"
    if scene.saturation > 0.45:
        return "Colourful"
    return "Muted"


def _palette_words(scene: Scene, limit: int = 2) -> str:
    names: list[str] = []
    for name, share in scene.colors:
        if share >= 0.1 and name not in names:
            names.append(name)
    names = names[:limit]
    if not names:
        return ""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _subject(scene: Scene) -> str:
    palette = _palette_words(scene)
    people = _faces_phrase(scene)
    if scene.kind == "document":
        return f"Document page with {scene.text_lines} lines of text"
    if scene.kind == "screenshot":
        if scene.terminal:
            return "Screenshot of a terminal window"
        return "Screenshot of an application window"
    if scene.kind == "graphic":
        base = "Animated graphic" if scene.animated else "Graphic"
        return f"{base} in {palette}" if palette else base
    if people:
        if scene.background:
            return f"{people} against a {scene.background} background"
        return people
    tone = _tone(scene)
    scene_word = "animated scene" if scene.animated else "scene"
    return f"{tone} {scene_word} in {palette} tones" if palette else f"{tone} {scene_word}"


def _headline_text(scene: Scene) -> str | None:
    """The first of the tallest confident lines: signs and titles are what readers see first."""
    usable = [(h, text) for text, conf, h in scene.texts if conf >= 0.8 and len(text) >= 2]
    if not usable:
        return None
    tallest = max(h for h, _ in usable)
    return next(text for h, text in usable if h >= 0.85 * tallest)


def _fit_alt(subject: str, headline: str | None) -> str:
    alt = subject
    if headline:
        room = ALT_TEXT_MAX - len(subject) - len("; text reads ''")
        if room >= 8:
            quote = headline if len(headline) <= room else headline[: room - 1].rstrip() + "…"
            alt = f"{subject}; text reads '{quote}'"
    if len(alt) > ALT_TEXT_MAX:
        alt = alt[: ALT_TEXT_MAX - 1].rstrip() + "…"
    return alt


def _caption(scene: Scene, subject: str, headline: str | None) -> str:
    first = subject + "."
    details: list[str] = []
    others = [t for t, conf, _ in scene.texts if conf >= 0.8 and t != headline][:2]
    if headline:
        quoted = ", ".join(f"'{t}'" for t in [headline, *others])
        details.append(f"visible text reads {quoted}")
    palette = _palette_words(scene, limit=3)
    if palette:
        verb = "colours are" if " and " in palette else "colour is"
        details.append(f"dominant {verb} {palette}")
    issues = [
        word
        for flag, word in (
            (scene.blurry, "blurry"),
            (scene.underexposed, "underexposed"),
            (scene.overexposed, "overexposed"),
            (scene.noisy, "noisy"),
        )
        if flag
    ]
    if issues:
        details.append("it looks " + " and ".join(issues))
    if not details:
        return first
    second = "; ".join(details)
    return f"{first} {second[0].upper()}{second[1:]}."


def _tags(scene: Scene) -> list[tuple[str, float]]:
    """Labels with confidences; colour confidence is its area share doubled, capped at 1."""
    tags: dict[str, float] = {scene.kind: 0.8}
    n = len(scene.face_boxes)
    if n:
        tags["person" if n == 1 else "people"] = 0.75
        tags["face"] = 0.75
        if n == 1 and _faces_phrase(scene) == "Close-up portrait of a person":
            tags["portrait"] = 0.7
        if n >= 3:
            tags["group"] = 0.7
    words = [conf for text, conf, _ in scene.texts if len(text) >= 2]
    if words:
        tags["text"] = round(max(words), 2)
    if scene.kind == "screenshot":
        tags["terminal" if scene.terminal else "user interface"] = 0.7
    if scene.kind == "photo" and scene.saturation < 0.06:
        tags["black and white"] = 0.9
    for flag, label in (
        (scene.underexposed, "low light"),
        (scene.overexposed, "overexposed"),
        (scene.blurry, "blurry"),
        (scene.noisy, "noisy"),
        (scene.animated, "animated"),
        (scene.transparent, "transparent background"),
    ):
        if flag:
            tags[label] = 0.9
    for name, share in scene.colors:
        if share >= 0.2 and name not in tags:
            tags[name] = round(min(1.0, share * 2), 2)
    for label, conf in scene.extra_tags:
        tags.setdefault(label, conf)
    return sorted(tags.items(), key=lambda item: -item[1])


def slugify(text: str, max_len: int = SLUG_MAX) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    words = re.findall(r"[a-z0-9]+", ascii_text.lower())
    slug = ""
    for word in words:
        candidate = f"{slug}-{word}" if slug else word
        if len(candidate) > max_len:
            break
        slug = candidate
    return slug


def _slug(scene: Scene, headline: str | None) -> str:
    parts: list[str] = []
    if headline:
        parts.append(" ".join(headline.split()[:5]))
    n = len(scene.face_boxes)
    if n == 1:
        parts.append("portrait")
    elif n > 1:
        parts.append(f"{n} people")
    palette = [name for name, share in scene.colors if share >= 0.2][:2]
    if not headline and not n and scene.kind in ("photo", "graphic"):
        parts.append(" ".join(palette))
    parts.append(scene.kind)
    return slugify(" ".join(parts)) or scene.kind
