"""Rights metadata: XMP rights and EXIF Artist/Copyright travel with `copyright` and `all`,
everything private stays behind, in fresh encodes and in the input returned as it is."""

from __future__ import annotations

import io

import pytest
from PIL import Image, PngImagePlugin

from services.processor.engine import OptimizeOptions, optimize
from services.processor.engine.jxl_header import xmp_of
from services.processor.engine.metadata import kept_exif, kept_xmp
from services.processor.engine.strip import gif_xmp, strip_losslessly

from .conftest import encode, exif_with_gps_and_serial, photo

RIGHTS = "(c) 2026 Ada Lovelace"
LICENCE = "https://ada.example/licence"
PRIVATE = ("SERIAL-123456", "51,30.0N", "xmp.did:0123", "Secret Street")

XMP = f"""<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:xmpRights="http://ns.adobe.com/xap/1.0/rights/"
    xmlns:xmpMM="http://ns.adobe.com/xap/1.0/mm/"
    xmlns:aux="http://ns.adobe.com/exif/1.0/aux/"
    xmlns:exif="http://ns.adobe.com/exif/1.0/"
    xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/"
    xmlns:tiff="http://ns.adobe.com/tiff/1.0/"
    xmpRights:Marked="True"
    aux:SerialNumber="SERIAL-123456"
    exif:GPSLatitude="51,30.0N"
    xmpMM:DocumentID="xmp.did:0123"
    tiff:Make="SpyCam">
   <dc:rights><rdf:Alt><rdf:li xml:lang="x-default">{RIGHTS}</rdf:li></rdf:Alt></dc:rights>
   <dc:creator><rdf:Seq><rdf:li>Ada Lovelace</rdf:li></rdf:Seq></dc:creator>
   <xmpRights:WebStatement>{LICENCE}</xmpRights:WebStatement>
   <dc:subject><rdf:Bag><rdf:li>engine</rdf:li></rdf:Bag></dc:subject>
   <photoshop:City>Secret Street</photoshop:City>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>""".encode()


def test_copyright_keeps_only_the_rights_fields() -> None:
    kept = kept_xmp(XMP, "copyright")
    assert kept is not None
    text = kept.decode()
    for wanted in (RIGHTS, LICENCE, "Ada Lovelace", 'xmpRights:Marked="True"'):
        assert wanted in text
    for gone in (*PRIVATE, "SpyCam", "engine"):
        assert gone not in text
    assert kept.startswith(b"<?xpacket begin=") and kept.endswith(b'<?xpacket end="w"?>')


def test_all_keeps_everything_but_private_fields() -> None:
    kept = kept_xmp(XMP, "all")
    assert kept is not None
    text = kept.decode()
    for wanted in (RIGHTS, LICENCE, "SpyCam", "engine", "dc:rights"):
        assert wanted in text
    for gone in PRIVATE:
        assert gone not in text


@pytest.mark.parametrize("keep", ["none", "icc"])
def test_none_and_icc_keep_no_xmp(keep: str) -> None:
    assert kept_xmp(XMP, keep) is None


@pytest.mark.parametrize(
    "packet",
    [
        b"<x:xmpmeta><aux:SerialNumber>SERIAL-123456</aux:SerialNumber></x:xmpmeta>",
        b'<!DOCTYPE x [<!ENTITY a "SERIAL-123456">]><x:xmpmeta xmlns:x="adobe:ns:meta/">&a;'
        b"</x:xmpmeta>",
        b"not xml at all",
    ],
)
def test_a_packet_that_cannot_be_checked_is_dropped(packet: bytes) -> None:
    assert kept_xmp(packet, "all") is None


def test_a_packet_without_rights_leaves_nothing_under_copyright() -> None:
    packet = XMP.replace(b"dc:rights", b"dc:title").replace(b"xmpRights:", b"xmpMM:")
    packet = packet.replace(b"dc:creator", b"dc:format")
    assert kept_xmp(packet, "copyright") is None


def _read(data: bytes) -> tuple[Image.Exif, bytes]:
    """EXIF and XMP as a reader sees them (GIF's XMP through our own reader: Pillow has none)."""
    with Image.open(io.BytesIO(data)) as im:
        im.load()
        readers = {"GIF": gif_xmp, "JXL": xmp_of}
        xmp = im.info.get("xmp") or readers.get(str(im.format), lambda _: None)(data) or b""
        return im.getexif(), xmp.encode() if isinstance(xmp, str) else bytes(xmp)


def _with_metadata(fmt: str) -> bytes:
    exif = exif_with_gps_and_serial()
    im = photo()
    if fmt == "png":
        info = PngImagePlugin.PngInfo()
        info.add_itxt("XML:com.adobe.xmp", XMP.decode(), zip=False)
        return encode(im, "PNG", exif=exif, pnginfo=info)
    if fmt == "gif":
        return encode(im.quantize(64), "GIF", comment=b"SERIAL-123456")
    if fmt == "webp_simple":
        return encode(im, "WEBP", quality=80)
    if fmt == "jxl":
        return encode(im, "JXL", exif=exif.tobytes(), xmp=XMP)
    return encode(im, {"jpeg": "JPEG", "webp": "WEBP", "avif": "AVIF"}[fmt], exif=exif, xmp=XMP)


@pytest.mark.parametrize("fmt", ["jpeg", "png", "webp", "webp_simple", "avif", "jxl", "gif"])
@pytest.mark.parametrize("keep", ["copyright", "all"])
def test_the_input_returned_as_is_carries_the_kept_rights(fmt: str, keep: str) -> None:
    data = _with_metadata(fmt)
    exif = kept_exif(exif_with_gps_and_serial(), keep) if fmt != "gif" else None
    xmp = kept_xmp(XMP, keep)
    stripped = strip_losslessly(data, fmt.removesuffix("_simple"), exif, xmp)
    assert stripped is not None
    for secret in (b"SERIAL-123456", b"51,30.0N", b"LENS-987654"):
        assert secret not in stripped
    out_exif, out_xmp = _read(stripped)
    assert RIGHTS.encode() in out_xmp and LICENCE.encode() in out_xmp
    if fmt != "gif":  # GIF holds no EXIF
        assert out_exif.get(0x8298) == "(c) Ada" and out_exif.get(0x013B) == "Ada Lovelace"
        assert 0x8825 not in out_exif
    with Image.open(io.BytesIO(stripped)) as a, Image.open(io.BytesIO(data)) as b:
        assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize("fmt", ["jpeg", "png", "webp", "avif", "jxl", "gif"])
def test_the_input_returned_as_is_carries_nothing_by_default(fmt: str) -> None:
    stripped = strip_losslessly(_with_metadata(fmt), fmt, None, None)
    assert stripped is not None
    out_exif, out_xmp = _read(stripped)
    assert not out_xmp.strip() and 0x8298 not in out_exif


def _photo_with_rights() -> bytes:
    return encode(photo(160, 120), "JPEG", quality=95, exif=exif_with_gps_and_serial(), xmp=XMP)


# GIF is written only as the input itself (tested above): a photo does not fit its palette.
@pytest.mark.parametrize("fmt", ["jpeg", "png", "webp", "avif", "jxl"])
@pytest.mark.parametrize("keep", ["copyright", "all"])
def test_every_output_format_carries_the_kept_exif_and_xmp(fmt: str, keep: str) -> None:
    options = OptimizeOptions(format=fmt, keep_metadata=keep, width=80)
    main = optimize(_photo_with_rights(), options).main
    assert main.format == fmt
    for secret in (b"SERIAL-123456", b"LENS-987654", b"51,30.0N", b"Secret Street"):
        assert secret not in main.data
    exif, xmp = _read(main.data)
    assert RIGHTS.encode() in xmp and LICENCE.encode() in xmp
    assert (b"SpyCam" in xmp) == (keep == "all")
    assert exif.get(0x8298) == "(c) Ada" and exif.get(0x013B) == "Ada Lovelace"
    assert (exif.get(0x010F) == "SpyCam") == (keep == "all")
    assert 0x8825 not in exif and not exif.get_ifd(0x8825)


@pytest.mark.parametrize("fmt", ["jpeg", "png", "webp", "avif", "jxl"])
def test_every_output_format_carries_nothing_by_default(fmt: str) -> None:
    main = optimize(_photo_with_rights(), OptimizeOptions(format=fmt, width=80)).main
    exif, xmp = _read(main.data)
    assert not xmp and not exif
