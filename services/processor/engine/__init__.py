"""The optimizer engine: smallest file at a guaranteed visual quality (see api.py).

The contract (options, limits, results, errors) and format detection load at once; `optimize`
and `optimize_isolated` load the codecs (Pillow, pyvips, OpenCV, ...) on first use, so a caller
that only needs the contract, or runs the engine in a child (`optimize_isolated`), stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .api import (
    FITS,
    FORMATS,
    KEEP,
    QUALITY_PRESETS,
    EngineError,
    EngineInterrupted,
    Limits,
    OptimizedImage,
    OptimizeOptions,
    OptimizeResult,
)
from .detect import detect_format

if TYPE_CHECKING:
    from .isolated import optimize_isolated
    from .pipeline import optimize

_LAZY = {"optimize": ".pipeline", "optimize_isolated": ".isolated"}

__all__ = [
    "FITS",
    "FORMATS",
    "KEEP",
    "QUALITY_PRESETS",
    "EngineError",
    "EngineInterrupted",
    "Limits",
    "OptimizeOptions",
    "OptimizeResult",
    "OptimizedImage",
    "detect_format",
    "optimize",
    "optimize_isolated",
]


def __getattr__(name: str) -> Any:
    """Import `optimize` / `optimize_isolated` from their modules when first asked for."""
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name], __name__), name)
    globals()[name] = value
    return value
