"""English: every word and sentence template the local provider's alt text uses."""

from __future__ import annotations

from services.vision.phrases import Phrases
from services.vision.providers.local.vocabulary import CONCEPTS, SCENES

_NUMBERS = {2: "Two", 3: "Three", 4: "Four", 5: "Five"}

# Nouns that take no "a"/"an" or need more words than the concept key.
_SPECIAL = {
    "coffee": "a cup of coffee",
    "cup": "a cup",
    "wine": "a glass of wine",
    "beer": "a glass of beer",
    "soup": "a bowl of soup",
    "ice cream": "ice cream",
    "bread": "bread",
    "mashed potatoes": "mashed potatoes",
    "vegetables": "vegetables",
    "mushrooms": "mushrooms",
    "strawberries": "strawberries",
    "oranges": "oranges",
    "lemons": "lemons",
    "fruit": "fruit",
    "bananas": "bananas",
    "pasta": "pasta",
    "guacamole": "guacamole",
    "pizza": "a pizza",
    "meal": "a plate of food",
    "cattle": "cattle",
    "mountains": "mountains",
    "drums": "drums",
    "geyser": "a waterfall or geyser",
    "coast": "a rocky coast",
    "stage": "a stage",
    "fence": "a fence",
    "stone wall": "a stone wall",
    "monument": "a monument",
    "window": "a window",
}


def _article(word: str) -> str:
    return f"an {word}" if word[0] in "aeiou" else f"a {word}"


_NOUNS = {c.key: _SPECIAL.get(c.key, _article(c.key)) for c in CONCEPTS}
_NOUNS.update({s.key: _SPECIAL.get(s.key, _article(s.key)) for s in SCENES})
_NOUNS.update(
    {
        "landscape": "a landscape",
        "animal": "an animal",
        "food": "food",
        "vehicle": "a vehicle",
        "building": "a building",
    }
)

_SETTINGS = {
    "beach": "on a beach",
    "coast": "on a rocky coast",
    "lake": "by a lake",
    "mountains": "in the mountains",
    "valley": "in a valley",
    "cliff": "by a cliff",
    "coral reef": "on a coral reef",
    "stage": "on a stage",
    "restaurant": "in a restaurant",
    "library": "in a library",
    "shop": "in a shop",
    "waterfront": "on a waterfront",
    "pier": "on a pier",
    "kitchen": "in a kitchen",
    "living room": "in a living room",
    "bedroom": "in a bedroom",
    "bathroom": "in a bathroom",
    "office": "in an office",
}


def _faces(count: int, largest: float) -> str:
    if count == 1:
        if largest >= 0.08:
            return "Close-up portrait of a person"
        if largest >= 0.02:
            return "Portrait of a person"
        return "A person in a wider scene"
    if count <= 5:
        return f"{_NUMBERS[count]} people"
    return f"Group of {count} people"


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def _tone_scene(tone: str, animated: bool, palette: str) -> str:
    scene = "animated scene" if animated else "scene"
    return f"{tone} {scene} in {palette} tones" if palette else f"{tone} {scene}"


def _graphic(animated: bool, palette: str) -> str:
    base = "Animated graphic" if animated else "Graphic"
    return f"{base} in {palette}" if palette else base


def _caption_colours(palette: str, several: bool) -> str:
    return f"dominant {'colours are' if several else 'colour is'} {palette}"


PHRASES = Phrases(
    code="en",
    nouns=_NOUNS,
    settings=_SETTINGS,
    labels={},
    subject_in_setting="{subject} {setting}",
    people_in_setting="{people} {setting}",
    against_background="{people} against a {background} background",
    with_text="{sentence}; text reads '{text}'",
    faces=_faces,
    tone_scene=_tone_scene,
    tones={
        "bw": "Black-and-white",
        "dark": "Dark, low-light",
        "bright": "Bright, high-key",
        "colourful": "Colourful",
        "muted": "Muted",
    },
    colours={},
    join=_join,
    document="Document page with {lines} lines of text",
    terminal="Screenshot of a terminal window",
    app_window="Screenshot of an application window",
    graphic=_graphic,
    graphic_of="Illustration of {subject}",
    caption_text="visible text reads {quoted}",
    caption_colours=_caption_colours,
    caption_issues=lambda issues: "it looks " + " and ".join(issues),
    issues={},
)
