"""Public contract of the optimizer engine: options in, result or EngineError out.

The engine is a pure library: bytes in, bytes out, no I/O, no services. Its callers are the
processor workers, the `picopt optimize` command (`picopt_cli`) and the engine benchmark. The
names of formats and options come from `picopt.formats`, the table every client reads too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from picopt.kernel.settings import Env

from picopt import formats

# Formats the engine encodes (a client may request all but GIF).
FORMATS = formats.WRITABLE
FITS = formats.FITS
KEEP = formats.KEEP_METADATA
QUALITY_PRESETS = formats.QUALITY_PRESETS


class EngineError(Exception):
    """A failure with a stable code (`unsupported_format`, `corrupt_image`, ...)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class EngineInterrupted(EngineError):
    """The job did not fail: the isolated engine stopped under it (its host was killed, or
    its caller is shutting down). A worker leaves the job for another attempt."""

    def __init__(self, message: str) -> None:
        super().__init__("internal_error", message)


@dataclass(frozen=True)
class Limits:
    """Resource ceilings for one job; every one is an operator setting (ENGINE_*)."""

    max_bytes: int = 50 * 1024 * 1024
    max_pixels: int = 100_000_000
    max_frames: int = 1000
    timeout_s: float = 120.0
    max_memory_mb: int = 2048
    # The isolated decoder's network: "auto" leaves it where the platform allows (and says so
    # in the log where it does not), "required" refuses to run without, "off" never tries.
    network: str = "auto"

    @classmethod
    def from_env(cls, env: Env) -> Limits:
        """The limits an operator set: the worker and `picopt optimize` read the same ones."""
        return cls(
            max_bytes=env.int("ENGINE_MAX_BYTES", cls.max_bytes),
            max_pixels=env.int("ENGINE_MAX_PIXELS", cls.max_pixels),
            max_frames=env.int("ENGINE_MAX_FRAMES", cls.max_frames),
            timeout_s=env.float("ENGINE_TIMEOUT_S", cls.timeout_s),
            max_memory_mb=env.int("ENGINE_MAX_MEMORY_MB", cls.max_memory_mb),
            network=env.str("ENGINE_NETWORK_ISOLATION", cls.network),
        )


# How much CPU a job may spend to reach its target: `max` searches exhaustively for the
# smallest file, `balanced` and `fast` predict the encoder settings and verify them.
EFFORTS = formats.EFFORTS


@dataclass(frozen=True)
class OptimizeOptions:
    """What the caller asked for; defaults give the product's default behaviour."""

    format: str = "auto"
    accept: tuple[str, ...] = ()
    quality: str = "auto"
    width: int | None = None
    height: int | None = None
    fit: str = "inside"
    enlarge: bool = False
    widths: tuple[int, ...] = ()
    keep_metadata: str = "none"
    placeholder: bool = False
    # A SSIMULACRA2 score to reach instead of a preset; overrides `quality`.
    target_score: float | None = None
    # One of EFFORTS; every effort delivers at or above the target score.
    effort: str = formats.DEFAULT_EFFORT


@dataclass
class OptimizedImage:
    """One encoded output."""

    data: bytes
    format: str
    width: int
    height: int
    ssimulacra2: float | None = None
    no_gain: bool = False
    frames: int = 1
    # The encoder setting used; None for lossless or an untouched input.
    quality: int | None = None
    # Set when the output is bigger than the input, and why the input could not be returned:
    # `format_not_accepted` (its format is not among the accepted ones), `resized` (another
    # size or frame count was asked for), `orientation` (its EXIF rotation cannot be kept).
    larger_reason: str | None = None


@dataclass
class OptimizeResult:
    """The main output first, then responsive variants, plus facts about the input."""

    format_in: str
    bytes_in: int
    width_in: int
    height_in: int
    outputs: list[OptimizedImage] = field(default_factory=list)
    blurhash: str | None = None
    lqip: str | None = None
    ms: float = 0.0

    @property
    def main(self) -> OptimizedImage:
        return self.outputs[0]
