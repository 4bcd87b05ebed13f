"""The output codecs, one module each (see base.Codec); adding a format is adding a module
here and listing it below."""

from __future__ import annotations

from .avif import Avif
from .base import Candidate, Codec, Extras, encode_frames
from .gif import Gif
from .jpeg import Jpeg
from .jxl import Jxl
from .png import Png
from .webp import Webp

CODECS: dict[str, Codec] = {c.name: c for c in (Jpeg(), Png(), Webp(), Avif(), Jxl(), Gif())}


def codec(name: str) -> Codec:
    """The codec that writes format `name`."""
    try:
        return CODECS[name]
    except KeyError:
        raise ValueError(f"unknown output format {name}") from None


__all__ = ["CODECS", "Candidate", "Codec", "Extras", "codec", "encode_frames"]
