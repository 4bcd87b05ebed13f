"""Metadata policy: which EXIF fields may travel to an output. GPS and serials never do."""

from __future__ import annotations

import struct

from PIL import Image

ARTIST = 0x013B
COPYRIGHT = 0x8298
XP_AUTHOR = 0x9C9D
ORIENTATION = 0x0112
EXIF_IFD = 0x8769
GPS_IFD = 0x8825
MAKER_NOTE = 0x927C
# Fields that identify a device or a person's location, removed even with keep=all.
PRIVATE_TAGS = {
    GPS_IFD,
    MAKER_NOTE,
    0xA431,  # BodySerialNumber
    0xA435,  # LensSerialNumber
    0xC62F,  # CameraSerialNumber (DNG)
    0xA420,  # ImageUniqueID
    0xA430,  # CameraOwnerName
    0x9C9C,  # XPComment
    0x9286,  # UserComment
}


def kept_exif(exif: Image.Exif | None, keep: str) -> bytes | None:
    """EXIF bytes for the output under policy `keep` (none|copyright|icc|all), or None."""
    if exif is None or keep in ("none", "icc"):
        return None
    out = Image.Exif()
    if keep == "copyright":
        for tag in (ARTIST, COPYRIGHT, XP_AUTHOR):
            if exif.get(tag):
                out[tag] = exif[tag]
    else:
        for tag, value in exif.items():
            if tag not in PRIVATE_TAGS and tag not in (EXIF_IFD, ORIENTATION):
                out[tag] = value
        sub = {k: v for k, v in _sub_ifd(exif, EXIF_IFD).items() if k not in PRIVATE_TAGS}
        if sub:
            out[EXIF_IFD] = sub
    if not len(out):
        return None
    return out.tobytes()


def _sub_ifd(exif: Image.Exif, tag: int) -> dict[int, object]:
    """A sub-IFD as a dict, whether the EXIF was parsed from a file or built in memory."""
    value = exif.get(tag)
    if isinstance(value, dict):
        return value
    try:
        return dict(exif.get_ifd(tag))
    except (AttributeError, KeyError, ValueError, TypeError, OSError, struct.error):
        return {}


def with_orientation(exif: bytes | None, orientation: int) -> bytes:
    """EXIF carrying the orientation tag, for outputs that keep the original pixel order."""
    out = Image.Exif()
    if exif:
        out.load(exif)
    out[ORIENTATION] = orientation
    return out.tobytes()
