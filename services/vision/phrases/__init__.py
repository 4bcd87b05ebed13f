"""Sentence templates and words for the local provider's alt text, one module per language.

A language is one file here (`en.py`, ...) that defines `PHRASES`; `phrases_for(tag)` picks the
file for a BCP 47 tag's primary language and falls back to English.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Phrases:
    """Everything language-specific that compose.py writes."""

    code: str
    # concept key -> noun phrase with its article ("a dog", "a cup of coffee")
    nouns: Mapping[str, str]
    # concept key -> where a subject is ("on a beach", "in a kitchen")
    settings: Mapping[str, str]
    # concept or group key -> tag label in this language (missing: the key itself)
    labels: Mapping[str, str]
    subject_in_setting: str  # "{subject} {setting}"
    people_in_setting: str  # "{people} {setting}"
    against_background: str  # "{people} against a {background} background"
    with_text: str  # "{sentence}; text reads '{text}'"
    faces: Callable[[int, float], str]  # (count, largest face share of the image) -> phrase
    tone_scene: Callable[[str, bool, str], str]  # (tone, animated, palette) -> phrase
    tones: Mapping[str, str]
    colours: Mapping[str, str]
    join: Callable[[list[str]], str]  # ["red", "blue"] -> "red and blue"
    document: str  # "Document page with {lines} lines of text"
    terminal: str
    app_window: str
    graphic: Callable[[bool, str], str]  # (animated, palette) -> phrase
    graphic_of: str  # "Illustration of {subject}"
    caption_text: str  # "visible text reads {quoted}"
    caption_colours: Callable[[str, bool], str]  # (palette, several) -> phrase
    caption_issues: Callable[[list[str]], str]
    issues: Mapping[str, str]  # "blurry" -> "blurry"


_FILES = {"en"}


def phrases_for(language: str) -> Phrases:
    """The phrases for `language` (e.g. "en-GB" -> en.py); English when no file exists."""
    code = (language or "en").split("-")[0].split("_")[0].lower()
    if code not in _FILES:
        code = "en"
    module = importlib.import_module(f"services.vision.phrases.{code}")
    phrases: Phrases = module.PHRASES
    return phrases


def supported(language: str) -> bool:
    """Whether a language has its own file (otherwise the text is English)."""
    return (language or "en").split("-")[0].split("_")[0].lower() in _FILES
