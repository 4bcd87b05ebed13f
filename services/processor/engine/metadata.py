"""Metadata policy: which EXIF and XMP fields may travel to an output. GPS and serials never do."""

from __future__ import annotations

import contextlib
import io
import struct
from collections.abc import Callable
from xml.etree import ElementTree

from defusedxml import DefusedXmlException
from defusedxml import ElementTree as SafeElementTree
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


# XMP: the same policy as EXIF. `copyright` keeps only who made the image and under which
# rights and licence; `all` keeps everything but locations, serial numbers, unique document ids
# and edit history, and comments.
_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_DC = "http://purl.org/dc/elements/1.1/"
_RIGHTS_PROPERTIES = {
    (_DC, "rights"),
    (_DC, "creator"),
    ("http://ns.adobe.com/photoshop/1.0/", "Credit"),
}
_RIGHTS_NAMESPACES = {
    "http://ns.adobe.com/xap/1.0/rights/",  # xmpRights: Marked, Owner, UsageTerms, WebStatement
    "http://ns.useplus.org/ldf/xmp/1.0/",  # PLUS licensing
    "http://creativecommons.org/ns#",  # cc: license, attributionName
}
_PRIVATE_NAMESPACES = {
    "http://ns.adobe.com/xap/1.0/mm/",  # xmpMM: document and instance ids, edit history
}
_PRIVATE_PROPERTIES = {
    ("http://ns.adobe.com/exif/1.0/", "UserComment"),
    ("http://ns.adobe.com/exif/1.0/", "ImageUniqueID"),
    ("http://ns.adobe.com/exif/1.0/", "MakerNote"),
    ("http://cipa.jp/exif/1.0/", "CameraOwnerName"),
    ("http://cipa.jp/exif/1.0/", "ImageUniqueID"),
    ("http://ns.adobe.com/exif/1.0/aux/", "OwnerName"),
    ("http://ns.adobe.com/photoshop/1.0/", "City"),
    ("http://ns.adobe.com/photoshop/1.0/", "State"),
    ("http://ns.adobe.com/photoshop/1.0/", "Country"),
    ("http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/", "Location"),
    ("http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/", "CountryCode"),
    ("http://iptc.org/std/Iptc4xmpExt/2008-02-29/", "LocationCreated"),
    ("http://iptc.org/std/Iptc4xmpExt/2008-02-29/", "LocationShown"),
}
# Whatever the namespace (cameras and drones invent their own): positions and serial numbers.
_PRIVATE_WORDS = ("gps", "latitude", "longitude", "altitude", "serialnumber")
# Larger packets (embedded thumbnails, long edit histories) are dropped rather than parsed.
MAX_XMP_BYTES = 1024 * 1024
_XPACKET_BEGIN = b'<?xpacket begin="\xef\xbb\xbf" id="W5M0MpCehiHzreSzNTczkc9d"?>'
_XPACKET_END = b'<?xpacket end="w"?>'


def kept_xmp(xmp: bytes | str | None, keep: str) -> bytes | None:
    """An XMP packet for the output under policy `keep`, or None.

    The packet is rebuilt from the properties the policy allows; one that does not parse (or
    declares entities) is dropped whole, since what it holds cannot be checked.
    """
    if not xmp or keep in ("none", "icc"):
        return None
    raw = xmp.encode("utf-8") if isinstance(xmp, str) else bytes(xmp)
    if len(raw) > MAX_XMP_BYTES:
        return None
    start, end = raw.find(b"<x:xmpmeta"), raw.rfind(b"</x:xmpmeta>")
    body = raw[start : end + len(b"</x:xmpmeta>")] if 0 <= start < end else raw
    try:
        root = SafeElementTree.fromstring(body)
    except (ElementTree.ParseError, DefusedXmlException):
        return None
    allowed = _is_rights if keep == "copyright" else _is_not_private
    if not _filter(root, allowed):
        return None
    _register_prefixes(body)
    return (
        _XPACKET_BEGIN
        + ElementTree.tostring(root, encoding="utf-8", xml_declaration=False)
        + (_XPACKET_END)
    )


def _split(tag: str) -> tuple[str, str]:
    namespace, _, local = tag[1:].partition("}") if tag.startswith("{") else ("", "", tag)
    return namespace, local


def _is_rights(tag: str) -> bool:
    namespace, local = _split(tag)
    return (namespace, local) in _RIGHTS_PROPERTIES or namespace in _RIGHTS_NAMESPACES


def _is_not_private(tag: str) -> bool:
    namespace, local = _split(tag)
    lowered = local.lower()
    return not (
        namespace in _PRIVATE_NAMESPACES
        or (namespace, local) in _PRIVATE_PROPERTIES
        or any(word in lowered for word in _PRIVATE_WORDS)
    )


def _filter(root: ElementTree.Element, allowed: Callable[[str], bool]) -> bool:
    """Drop the properties `allowed` refuses from every rdf:Description; True if any is left."""
    kept = False
    for rdf in root.iter(f"{{{_RDF}}}RDF"):
        for description in list(rdf):
            for name in list(description.attrib):
                if _split(name)[0] != _RDF and not allowed(name):
                    del description.attrib[name]
            for prop in list(description):
                if not allowed(prop.tag):
                    description.remove(prop)
            properties = len(description) + sum(
                _split(name)[0] != _RDF for name in description.attrib
            )
            if properties:
                kept = True
            else:
                rdf.remove(description)
    return kept


def _register_prefixes(xml: bytes) -> None:
    """Write the packet with the prefixes it came with (dc:, xmpRights:) instead of ns0:."""
    try:
        for _, (prefix, uri) in SafeElementTree.iterparse(io.BytesIO(xml), events=("start-ns",)):
            if prefix:
                with contextlib.suppress(ValueError):
                    ElementTree.register_namespace(prefix, uri)
    except (ElementTree.ParseError, DefusedXmlException):
        return
