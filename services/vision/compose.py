"""Plain-language alt text, caption, tags and filename slug from measured signals.

The local provider has no captioning model, so one short sentence is built from the parts it
measured, most useful first: the subject (people from the face detector, else the tagger's
confident concept), where it is (a landscape, place or room), notable text (OCR), and only
when nothing else is known the tones and palette. It follows alt-text practice: no
"image of", at most 125 characters. Every word comes from the language's phrases file.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

from services.vision.phrases import Phrases, phrases_for

ALT_TEXT_MAX = 125
SLUG_MAX = 60


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
    subject: str | None = None  # a confident concept key ("dog"), None when unsure
    setting: str | None = None  # where the subject is ("beach", "kitchen")
    # (label, confidence) of the tagger's confident concepts and their groups
    concept_tags: Sequence[tuple[str, float]] = ()


@dataclass(frozen=True)
class Description:
    alt_text: str
    caption: str
    tags: list[tuple[str, float]]
    suggested_filename: str


def describe(scene: Scene, language: str = "en") -> Description:
    words = phrases_for(language)
    subject = _subject(scene, words)
    headline = _headline_text(scene)
    alt = _fit_alt(subject, headline, words)
    return Description(
        alt_text=alt,
        caption=_caption(scene, subject, headline, words),
        tags=_tags(scene, words),
        suggested_filename=_slug(scene, headline),
    )


def _largest_face_share(scene: Scene) -> float:
    area = float(scene.width * scene.height) or 1.0
    return max((w * h for _, _, w, h in scene.face_boxes), default=0) / area


def _faces_phrase(scene: Scene, words: Phrases) -> str | None:
    n = len(scene.face_boxes)
    return words.faces(n, _largest_face_share(scene)) if n else None


def _tone(scene: Scene) -> str:
    if scene.saturation < 0.06:
        return "bw"
    if scene.underexposed or scene.brightness < 0.22:
        return "dark"
    if scene.overexposed or scene.brightness > 0.8:
        return "bright"
    if scene.saturation > 0.45:
        return "colourful"
    return "muted"


def _palette_words(scene: Scene, words: Phrases, limit: int = 2) -> str:
    names: list[str] = []
    for name, share in scene.colors:
        if share >= 0.1 and name not in names:
            names.append(name)
    names = [words.colours.get(n, n) for n in names[:limit]]
    return words.join(names) if names else ""


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _noun(key: str, words: Phrases) -> str:
    return words.nouns.get(key, key)


def _subject(scene: Scene, words: Phrases) -> str:
    palette = _palette_words(scene, words)
    if scene.kind == "document":
        return words.document.format(lines=scene.text_lines)
    if scene.kind == "screenshot":
        return words.terminal if scene.terminal else words.app_window
    setting = words.settings.get(scene.setting or "")
    if scene.kind == "graphic":
        if scene.subject:
            return words.graphic_of.format(subject=_noun(scene.subject, words))
        return words.graphic(scene.animated, palette)
    people = _faces_phrase(scene, words)
    if people and scene.subject and _largest_face_share(scene) < 0.02:
        people = None  # a far-away face (or a false one) says less than a confident subject
    if people:
        if setting:
            return words.people_in_setting.format(people=people, setting=setting)
        if scene.background:
            background = words.colours.get(scene.background, scene.background)
            return words.against_background.format(people=people, background=background)
        return people
    if scene.subject:
        noun = _capital(_noun(scene.subject, words))
        if setting and scene.setting != scene.subject:
            return words.subject_in_setting.format(subject=noun, setting=setting)
        return noun
    tone = words.tones[_tone(scene)]
    return words.tone_scene(tone, scene.animated, palette)


def _headline_text(scene: Scene) -> str | None:
    """The first of the tallest confident lines: signs and titles are what readers see first."""
    usable = [
        (h, text)
        for text, conf, h in scene.texts
        if conf >= 0.8 and len(text) >= 2 and any(ch.isalnum() for ch in text)
    ]
    if not usable:
        return None
    tallest = max(h for h, _ in usable)
    return next(text for h, text in usable if h >= 0.85 * tallest)


def _fit_alt(subject: str, headline: str | None, words: Phrases) -> str:
    alt = subject
    if headline:
        room = ALT_TEXT_MAX - len(words.with_text.format(sentence=subject, text=""))
        if room >= 8:
            quote = headline if len(headline) <= room else headline[: room - 1].rstrip() + "…"
            alt = words.with_text.format(sentence=subject, text=quote)
    if len(alt) > ALT_TEXT_MAX:
        alt = alt[: ALT_TEXT_MAX - 1].rstrip() + "…"
    return alt


def _caption(scene: Scene, subject: str, headline: str | None, words: Phrases) -> str:
    first = subject + "."
    details: list[str] = []
    others = [t for t, conf, _ in scene.texts if conf >= 0.8 and t != headline][:2]
    if headline:
        quoted = ", ".join(f"'{t}'" for t in [headline, *others])
        details.append(words.caption_text.format(quoted=quoted))
    palette = _palette_words(scene, words, limit=3)
    if palette:
        several = len([1 for _, share in scene.colors if share >= 0.1]) > 1
        details.append(words.caption_colours(palette, several))
    issues = [
        words.issues.get(word, word)
        for flag, word in (
            (scene.blurry, "blurry"),
            (scene.underexposed, "underexposed"),
            (scene.overexposed, "overexposed"),
            (scene.noisy, "noisy"),
        )
        if flag
    ]
    if issues:
        details.append(words.caption_issues(issues))
    if not details:
        return first
    second = "; ".join(details)
    return f"{first} {second[0].upper()}{second[1:]}."


def _tags(scene: Scene, words: Phrases) -> list[tuple[str, float]]:
    """Labels with confidences; colour confidence is its area share doubled, capped at 1.

    The tagger's concepts and groups come with their summed class probabilities, so a
    reader of the job's metadata sees how sure each one is.
    """
    tags: dict[str, float] = {scene.kind: 0.8}
    n = len(scene.face_boxes)
    if n:
        tags["person" if n == 1 else "people"] = 0.75
        tags["face"] = 0.75
        if n == 1 and _largest_face_share(scene) >= 0.08:
            tags["portrait"] = 0.7
        if n >= 3:
            tags["group"] = 0.7
    text_conf = [conf for text, conf, _ in scene.texts if len(text) >= 2]
    if text_conf:
        tags["text"] = round(max(text_conf), 2)
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
    for label, conf in [*scene.concept_tags, *scene.extra_tags]:
        tags.setdefault(words.labels.get(label, label), conf)
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
    if scene.subject and not n:
        parts.append(scene.subject)
    if scene.setting and scene.setting != scene.subject:
        parts.append(scene.setting)
    palette = [name for name, share in scene.colors if share >= 0.2][:2]
    if not headline and not n and not scene.subject and scene.kind in ("photo", "graphic"):
        parts.append(" ".join(palette))
    parts.append(scene.kind)
    return slugify(" ".join(parts)) or scene.kind
