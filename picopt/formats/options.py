"""The job options every client and the engine share: quality, fit, metadata, effort, sizes."""

from __future__ import annotations

# SSIMULACRA2 scores each preset guarantees (ADR 0010); `auto` is `balanced`.
QUALITY_PRESETS: dict[str, float] = {"high": 85.0, "balanced": 80.0, "small": 70.0}
QUALITY_WORDS = ("auto", "lossless", *QUALITY_PRESETS)
# A number instead of a word is a fixed encoder quality in this range.
FIXED_QUALITY_RANGE = (1, 100)
DEFAULT_QUALITY = "auto"

FITS = ("contain", "cover", "fill", "inside")
DEFAULT_FIT = "inside"

KEEP_METADATA = ("none", "copyright", "icc", "all")
DEFAULT_KEEP_METADATA = "none"

# How much CPU a job may spend for fewer bytes; every level keeps the quality guarantee.
EFFORTS = ("fast", "balanced", "max")
DEFAULT_EFFORT = "balanced"

# Largest width or height a client may ask for, and how many responsive widths per job.
MAX_DIMENSION = 16_384
MAX_WIDTHS = 8


def is_quality(value: str) -> bool:
    """Whether `value` is a quality word or a fixed quality such as "75"."""
    value = value.strip().lower()
    low, high = FIXED_QUALITY_RANGE
    return value in QUALITY_WORDS or (
        value.isascii() and value.isdigit() and low <= int(value) <= high
    )
