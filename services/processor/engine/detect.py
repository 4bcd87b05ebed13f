"""Format detection from magic bytes: the name and the client's content type are never trusted.

The signatures and their bounds live in `picopt.formats` (shared with the gateway, which sniffs
before it stores an upload); the engine adds only which formats it decodes.
"""

from __future__ import annotations

from picopt.formats import FORMATS, FormatError, sniff

from .api import EngineError


def detect_format(data: bytes) -> str:
    """The engine's name for the image format of `data`, or `unsupported_format`/`corrupt_image`.

    Looks at the first few KiB only (`picopt.formats.SNIFF_BYTES`), whatever the size of `data`.
    """
    try:
        name = sniff(data)
    except FormatError as err:
        raise EngineError(err.code, err.message) from err
    if not FORMATS[name].readable:
        raise EngineError(
            "unsupported_format", f"{FORMATS[name].label} files are not accepted as input yet."
        )
    return name
