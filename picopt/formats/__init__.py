"""Image formats and job options: one table for every service, client and the engine.

Standard library only (a test imports it with every image library blocked). The gateway serves
`describe()` at `GET /v1/formats`, so the web app reads the same facts.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from picopt.formats.options import (
    DEFAULT_EFFORT,
    DEFAULT_FIT,
    DEFAULT_KEEP_METADATA,
    DEFAULT_QUALITY,
    EFFORTS,
    FITS,
    FIXED_QUALITY_RANGE,
    KEEP_METADATA,
    MAX_DIMENSION,
    MAX_WIDTHS,
    QUALITY_PRESETS,
    QUALITY_WORDS,
    is_quality,
)
from picopt.formats.signatures import MAX_BRANDS, SNIFF_BYTES, FormatError, sniff
from picopt.formats.table import (
    ALWAYS_ACCEPTED,
    BROWSER_OUTPUTS,
    FORMATS,
    READABLE,
    REQUESTABLE,
    WRITABLE,
    ImageFormat,
    by_mime,
    extension,
    get,
    mime_type,
)

__all__ = [
    "ALWAYS_ACCEPTED",
    "BROWSER_OUTPUTS",
    "DEFAULT_EFFORT",
    "DEFAULT_FIT",
    "DEFAULT_KEEP_METADATA",
    "DEFAULT_QUALITY",
    "EFFORTS",
    "FITS",
    "FIXED_QUALITY_RANGE",
    "FORMATS",
    "KEEP_METADATA",
    "MAX_BRANDS",
    "MAX_DIMENSION",
    "MAX_WIDTHS",
    "QUALITY_PRESETS",
    "QUALITY_WORDS",
    "READABLE",
    "REQUESTABLE",
    "SNIFF_BYTES",
    "WRITABLE",
    "FormatError",
    "ImageFormat",
    "by_mime",
    "describe",
    "extension",
    "get",
    "is_quality",
    "mime_type",
    "sniff",
]


def describe() -> dict[str, Any]:
    """The table and the option constants as JSON-ready data (served at GET /v1/formats)."""
    return {
        "formats": [{**asdict(f), "extensions": list(f.extensions)} for f in FORMATS.values()],
        "browser_outputs": list(BROWSER_OUTPUTS),
        "quality": {
            "words": list(QUALITY_WORDS),
            "presets": QUALITY_PRESETS,
            "fixed_range": list(FIXED_QUALITY_RANGE),
            "default": DEFAULT_QUALITY,
        },
        "fit": {"values": list(FITS), "default": DEFAULT_FIT},
        "keep_metadata": {"values": list(KEEP_METADATA), "default": DEFAULT_KEEP_METADATA},
        "effort": {"values": list(EFFORTS), "default": DEFAULT_EFFORT},
        "max_dimension": MAX_DIMENSION,
        "max_widths": MAX_WIDTHS,
    }
