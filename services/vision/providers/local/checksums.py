"""The shipped model files are the ones the code was tuned for: each is pinned by SHA-256."""

from __future__ import annotations

import hashlib
from pathlib import Path


class ModelChecksumError(RuntimeError):
    """The model file on disk is not the one this code was tuned for."""


def verified(path: Path, sha256: str) -> bytes:
    """The file's bytes, or ModelChecksumError when they are not the pinned ones."""
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256:
        raise ModelChecksumError(f"{path.name}: sha256 {digest}, expected {sha256}")
    return data
