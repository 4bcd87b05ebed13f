"""Encode frames as one output format through its codec (see codecs/)."""

from __future__ import annotations

from PIL import Image

from .codecs import Extras, codec, encode_frames


def encode(frames: list[Image.Image], fmt: str, quality: int | None, extras: Extras) -> bytes:
    """Encode `frames` as `fmt` at encoder `quality` (1-100, None for lossless)."""
    return encode_frames(codec(fmt), frames, quality, extras)
