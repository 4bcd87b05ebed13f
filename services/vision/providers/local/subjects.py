"""From class probabilities to what the alt text may name: a subject, a setting, tags.

A wrong subject misleads a blind reader more than a missing one, so each choice needs its
score to clear a cut-off tuned by `python -m bench.vision --tune` on the tuning split of the
labelled photos (and reported on the other split). Below every cut-off nothing is named and
the alt text falls back to people, text or colours.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from services.vision.providers.local.vocabulary import SCENES, ConceptScore, score_concepts

# Groups with a word of their own, used when no single concept is sure but its group is
# ("a landscape" for valley 0.3 + cliff 0.2).
GROUP_NOUNS = ("landscape", "animal", "food", "vehicle", "building")


@dataclass(frozen=True)
class Cutoffs:
    """Minimum summed probability to name a subject, a setting, or a group as the subject."""

    subject: float = 0.35
    setting: float = 0.2
    group: float = 0.5


DEFAULT_CUTOFFS = Cutoffs()


@dataclass(frozen=True)
class Reading:
    subject: str | None
    subject_score: float
    group: str | None
    setting: str | None
    tags: list[tuple[str, float]]


def _groups(concepts: list[ConceptScore]) -> dict[str, float]:
    totals: dict[str, float] = {}
    for item in concepts:
        totals[item.concept.group] = totals.get(item.concept.group, 0.0) + item.score
    return totals


def read(probs: np.ndarray, cutoffs: Cutoffs = DEFAULT_CUTOFFS) -> Reading:
    """Choose the subject and setting the probabilities support, and the tags to report."""
    concepts = score_concepts(probs)
    scenes = score_concepts(probs, SCENES)
    groups = _groups(concepts)
    subject: str | None = None
    score = 0.0
    group: str | None = None
    if concepts and concepts[0].score >= cutoffs.subject:
        subject, score, group = (
            concepts[0].concept.key,
            concepts[0].score,
            concepts[0].concept.group,
        )
    elif scenes and scenes[0].score >= cutoffs.subject:
        subject, score, group = scenes[0].concept.key, scenes[0].score, "room"
    else:
        best = max(GROUP_NOUNS, key=lambda g: groups.get(g, 0.0))
        if groups.get(best, 0.0) >= cutoffs.group:
            subject, score, group = best, groups[best], best
    # A group named as the subject ("a landscape") is not set in one of its own members.
    places = [
        c
        for c in [*concepts, *scenes]
        if c.concept.setting and c.concept.key != subject and c.concept.group != subject
    ]
    places.sort(key=lambda c: -c.score)
    setting = places[0].concept.key if places and places[0].score >= cutoffs.setting else None
    tags: dict[str, float] = {}
    for item in [*concepts, *scenes]:
        if item.score >= cutoffs.setting:
            tags[item.concept.key] = round(item.score, 2)
            if item.concept.group != "room":
                tags.setdefault(item.concept.group, round(groups[item.concept.group], 2))
    if subject and subject not in tags:
        tags[subject] = round(score, 2)
    if group in groups:  # the named subject's group ("drink" for coffee) is a tag too
        tags.setdefault(group, round(groups[group], 2))
    return Reading(
        subject, round(score, 4), group, setting, sorted(tags.items(), key=lambda t: -t[1])
    )
