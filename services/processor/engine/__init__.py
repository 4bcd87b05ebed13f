"""The optimizer engine: smallest file at a guaranteed visual quality (see api.py)."""

from .api import (
    FITS,
    FORMATS,
    KEEP,
    QUALITY_PRESETS,
    EngineError,
    Limits,
    OptimizedImage,
    OptimizeOptions,
    OptimizeResult,
)
from .detect import detect_format
from .isolated import optimize_isolated
from .pipeline import optimize

__all__ = [
    "FITS",
    "FORMATS",
    "KEEP",
    "QUALITY_PRESETS",
    "EngineError",
    "Limits",
    "OptimizeOptions",
    "OptimizeResult",
    "OptimizedImage",
    "detect_format",
    "optimize",
    "optimize_isolated",
]
