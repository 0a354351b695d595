"""What identifying metadata a file carries, and what a written output still carries.

`inventory(path)` lists the metadata of an INPUT as classes (gps, datetime, device,
serial, owner, location, thumbnail, embedded_image, xmp, iptc, icc_profile, comment,
makernote, orientation, telemetry, chapters, container_tags, extra_stream,
unknown_block, unparsed).  `residual(path)` is the fail-closed re-check of an
OUTPUT: anything outside a small allowlist of structural parts is reported.

Both are read-only and never raise: what cannot be read becomes an item of class
"unparsed", so a caller that refuses any residual item stays fail-closed.  Items
name tags, boxes and segments, never their values: a report must not repeat the
coordinates or serials it says were removed.  Files are memory-mapped, so a
multi-gigabyte video costs page cache, not process memory, and box walks touch
only the headers they need.
"""

from __future__ import annotations

import mmap
import os
import re
import struct
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import av
import pillow_heif

from sanitize.types import MetadataItem

Buf = bytes | mmap.mmap

_MAX_TEXT = 4 << 20  # XMP/text payloads scanned for property names; larger ones are cut
_MAX_IFDS = 64  # a TIFF chain longer than this is hostile, not a camera file
_MAX_DEPTH = 12  # box/JPEG nesting beyond this is hostile
_MAX_HEIF_BYTES = 512 << 20  # pillow-heif reads the whole file; bigger ones get the box walk only
_PNG_SIG = b"\x89PNG\r\n\x1a\n"
_XMP_UUID = bytes.fromhex("be7acfcb97a942e89c71999491e3afac")


class _Found:
    """Collects items once each, in discovery order."""

    def __init__(self) -> None:
        self.items: list[MetadataItem] = []
        self._seen: set[MetadataItem] = set()

    def add(self, cls: str, where: str, name: str = "") -> None:
        item = MetadataItem(cls, where, _printable(name))
        if item not in self._seen:
            self._seen.add(item)
            self.items.append(item)

    def extend(self, other: _Found) -> None:
        for item in other.items:
            self.add(item.cls, item.where, item.name)


def _printable(text: str, limit: int = 64) -> str:
    # Names come from the file itself; keep them short and free of control bytes.
    return "".join(c if 32 <= ord(c) < 127 or c == "©" else "?" for c in text[:limit])


def _fourcc(typ: bytes) -> str:
    return typ.decode("latin-1")


@contextmanager
def _mapped(path: Path) -> Iterator[Buf]:
    with open(path, "rb") as fh:
        if os.fstat(fh.fileno()).st_size == 0:
            yield b""  # mmap refuses empty files
            return
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            yield mm


# ----------------------------------------------------------------- format sniffing

_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"mif2", b"msf1",
                b"avif", b"avis"}
_VIDEO_BRANDS = {b"isom", b"iso2", b"mp41", b"mp42", b"qt  ", b"M4V ", b"avc1", b"3gp4", b"3gp5"}


def _sniff(buf: Buf) -> str:
    head = bytes(buf[:32])
    if head[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if head[:8] == _PNG_SIG:
        return "png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "tiff"
    if head[:2] == b"BM" and len(head) >= 18:
        return "bmp"
    if head[4:8] == b"ftyp":
        return "heif" if _is_heif(buf) else "bmff"
    if head[4:8] in (b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"):
        return "bmff"
    return "other"


def _is_heif(buf: Buf) -> bool:
    size = struct.unpack_from(">I", buf, 0)[0]
    major = bytes(buf[8:12])
    if major in _HEIF_BRANDS:
        return True
    compat = bytes(buf[16:min(size, 256, len(buf))])
    brands = {compat[i:i + 4] for i in range(0, len(compat) - 3, 4)}
    return major not in _VIDEO_BRANDS and bool(brands & _HEIF_BRANDS)


# ----------------------------------------------------------------- tag names → classes

_NAME_RULES: list[tuple[str, re.Pattern[str]]] = [
    ("gps", re.compile(r"gps|latitude|longitude|altitude|iso6709|coordinates|geotag|geolocation|"
                       r"©xyz")),
    ("serial", re.compile(r"serial|uniqueid|imageuid|uuid|documentid|instanceid|derivedfrom|owner|"
                          r"bodynumber|identifier|deviceid|cameraid|burstid|mediauid")),
    ("owner", re.compile(r"artist|author|creator(?!tool)|byline|copyright|rights|credit|contact|"
                         r"writer|photographer|publisher|^source$|personinimage")),
    ("device", re.compile(r"^make$|\.make$|model|lens|software|creatortool|firmware|hostcomputer|"
                          r"manufacturer|camera|^device|android|originatingprogram|programversion")),
    ("datetime", re.compile(r"date|timestamp|timecreated|createtime|modifytime|offsettime|"
                            r"subsectime|creationtime|^when$|timecode")),
    ("location", re.compile(r"city|country|province|state$|sublocation|location|worldregion|"
                            r"placename|landmark|address")),
    ("comment", re.compile(r"comment|description|caption|abstract|title|headline|keyword|subject|"
                           r"instructions|label|notes|objectname|event|categor|^text$")),
]


def _classify_name(name: str) -> str | None:
    """Class of a free-form tag name (XMP property, IPTC dataset, PNG keyword, video tag)."""
    key = re.sub(r"[\s_\-]", "", name.lower())
    for cls, rule in _NAME_RULES:
        if rule.search(key):
            return cls
    return None


# ----------------------------------------------------------------- TIFF / EXIF

_TYPE_SIZE = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4,
              16: 8, 17: 8, 18: 8}

# EXIF/TIFF tag ids as published in the EXIF 2.32 and TIFF 6 specifications.
_TIFF_TAGS: dict[int, tuple[str, str]] = {
    0x010F: ("device", "Make"), 0x0110: ("device", "Model"), 0x0131: ("device", "Software"),
    0x013C: ("device", "HostComputer"), 0xA433: ("device", "LensMake"),
    0xA434: ("device", "LensModel"),
    0xA432: ("device", "LensSpecification"), 0xC614: ("device", "UniqueCameraModel"),
    0xC615: ("device", "LocalizedCameraModel"), 0x000B: ("device", "ProcessingSoftware"),
    0x0132: ("datetime", "DateTime"), 0x9003: ("datetime", "DateTimeOriginal"),
    0x9004: ("datetime", "DateTimeDigitized"), 0x9010: ("datetime", "OffsetTime"),
    0x9011: ("datetime", "OffsetTimeOriginal"), 0x9012: ("datetime", "OffsetTimeDigitized"),
    0x9290: ("datetime", "SubSecTime"), 0x9291: ("datetime", "SubSecTimeOriginal"),
    0x9292: ("datetime", "SubSecTimeDigitized"),
    0xA431: ("serial", "BodySerialNumber"), 0xA435: ("serial", "LensSerialNumber"),
    0xA420: ("serial", "ImageUniqueID"), 0xA430: ("serial", "CameraOwnerName"),
    0xC62F: ("serial", "CameraSerialNumber"),
    0x013B: ("owner", "Artist"), 0x8298: ("owner", "Copyright"), 0x9C9D: ("owner", "XPAuthor"),
    0x010E: ("comment", "ImageDescription"), 0x9286: ("comment", "UserComment"),
    0x9C9B: ("comment", "XPTitle"), 0x9C9C: ("comment", "XPComment"),
    0x9C9E: ("comment", "XPKeywords"), 0x9C9F: ("comment", "XPSubject"),
    0x010D: ("comment", "DocumentName"), 0x011D: ("comment", "PageName"),
    0x0112: ("orientation", "Orientation"), 0x927C: ("makernote", "MakerNote"),
    0x8773: ("icc_profile", "InterColorProfile"),
}
_GPS_NAMES = (
    "GPSVersionID", "GPSLatitudeRef", "GPSLatitude", "GPSLongitudeRef", "GPSLongitude",
    "GPSAltitudeRef", "GPSAltitude", "GPSTimeStamp", "GPSSatellites", "GPSStatus", "GPSMeasureMode",
    "GPSDOP", "GPSSpeedRef", "GPSSpeed", "GPSTrackRef", "GPSTrack", "GPSImgDirectionRef",
    "GPSImgDirection", "GPSMapDatum", "GPSDestLatitudeRef", "GPSDestLatitude",
    "GPSDestLongitudeRef", "GPSDestLongitude", "GPSDestBearingRef", "GPSDestBearing",
    "GPSDestDistanceRef", "GPSDestDistance",
    "GPSProcessingMethod", "GPSAreaInformation", "GPSDateStamp", "GPSDifferential",
    "GPSHPositioningError",
)
_EXIF_IFD, _GPS_IFD, _INTEROP_IFD, _SUB_IFDS = 0x8769, 0x8825, 0xA005, 0x014A
_XMP_TAG, _IPTC_TAG, _PHOTOSHOP_TAG = 0x02BC, 0x83BB, 0x8649

Entry = tuple[int, int, int, int]  # tag, type, count, position of the value field


class _Tiff:
    """Just enough TIFF to enumerate IFD entries; every read is bounds-checked (ValueError)."""

    def __init__(self, buf: Buf, base: int, end: int) -> None:
        order = bytes(buf[base:base + 2])
        if order not in (b"II", b"MM"):
            raise ValueError("no TIFF byte order")
        self.bo = "<" if order == b"II" else ">"
        self.buf, self.base, self.end = buf, base, end
        self.first = self.u32(base + 4)

    def u16(self, pos: int) -> int:
        if pos < 0 or pos + 2 > self.end:
            raise ValueError("TIFF read out of bounds")
        return struct.unpack_from(self.bo + "H", self.buf, pos)[0]

    def u32(self, pos: int) -> int:
        if pos < 0 or pos + 4 > self.end:
            raise ValueError("TIFF read out of bounds")
        return struct.unpack_from(self.bo + "I", self.buf, pos)[0]

    def entries(self, off: int) -> tuple[list[Entry], int]:
        pos = self.base + off
        count = self.u16(pos)
        out = [(self.u16(e), self.u16(e + 2), self.u32(e + 4), e + 8)
               for e in range(pos + 2, pos + 2 + 12 * count, 12)]
        tail = pos + 2 + 12 * count
        return out, (self.u32(tail) if tail + 4 <= self.end else 0)

    def pointers(self, typ: int, count: int, vpos: int) -> list[int]:
        if count == 1:
            return [self.u16(vpos) if typ == 3 else self.u32(vpos)]
        start = self.base + self.u32(vpos)
        return [self.u32(start + 4 * i) for i in range(min(count, 16))]

    def blob(self, typ: int, count: int, vpos: int) -> bytes:
        size = _TYPE_SIZE.get(typ, 1) * count
        if size <= 4:
            return bytes(self.buf[vpos:vpos + size])
        start = self.base + self.u32(vpos)
        return bytes(self.buf[start:min(start + size, self.end, start + _MAX_TEXT)])


def _tiff_items(
    buf: Buf, base: int, end: int, where: str, out: _Found, *, pages: bool = False
) -> None:
    """Walk a TIFF structure (an EXIF block, or a whole TIFF file when `pages`)."""
    try:
        tiff = _Tiff(buf, base, end)
    except (ValueError, struct.error):
        out.add("unparsed", where, "TIFF header")
        return
    seen: set[int] = set()
    off, index = tiff.first, 0
    while off and index < _MAX_IFDS and off not in seen:
        seen.add(off)
        try:
            entries, nxt = tiff.entries(off)
            if index == 0:
                _scan_ifd(tiff, entries, where, out, seen)
            else:
                _extra_ifd(tiff, entries, index, where, out, pages)
        except (ValueError, struct.error):
            out.add("unparsed", where, f"IFD{index}")
            return
        off, index = nxt, index + 1


def _extra_ifd(
    tiff: _Tiff, entries: list[Entry], index: int, where: str, out: _Found, pages: bool
) -> None:
    tags = {e[0]: e for e in entries}
    if not pages:
        # In EXIF the second IFD exists to carry the thumbnail.
        if 0x0201 in tags or 0x0111 in tags:
            out.add("thumbnail", where, "IFD1")
        return
    subfile = tags.get(0x00FE)
    reduced = subfile is not None and tiff.u32(subfile[3]) & 1
    out.add("thumbnail" if reduced else "embedded_image", where, f"page{index + 1}")
    _scan_ifd(tiff, entries, f"{where}/page{index + 1}", out, set())


def _scan_ifd(tiff: _Tiff, entries: list[Entry], where: str, out: _Found, seen: set[int]) -> None:
    for tag, typ, count, vpos in entries:
        if tag in (_EXIF_IFD, _GPS_IFD):
            for off in tiff.pointers(typ, count, vpos):
                _sub_ifd(tiff, off, tag, where, out, seen)
        elif tag == _SUB_IFDS:
            out.add("embedded_image", where, "SubIFDs")
        elif tag in (_XMP_TAG, _IPTC_TAG, _PHOTOSHOP_TAG):
            _tiff_blob(tag, tiff.blob(typ, count, vpos), where, out)
        elif tag in _TIFF_TAGS:
            cls, name = _TIFF_TAGS[tag]
            out.add(cls, where, name)


def _sub_ifd(tiff: _Tiff, off: int, kind: int, where: str, out: _Found, seen: set[int]) -> None:
    if off in seen or len(seen) > _MAX_IFDS:
        return
    seen.add(off)
    entries, _ = tiff.entries(off)
    if kind == _GPS_IFD:
        for tag, *_rest in entries:
            out.add("gps", where, _GPS_NAMES[tag] if tag < len(_GPS_NAMES) else f"GPS0x{tag:04X}")
        return
    _scan_ifd(tiff, entries, where, out, seen)


def _tiff_blob(tag: int, data: bytes, where: str, out: _Found) -> None:
    if tag == _XMP_TAG:
        _xmp_items(data, where, out)
    elif tag == _IPTC_TAG:
        _iptc_items(data, where, out)
    else:
        _irb_items(data, where, out)


def _exif_items(data: bytes, where: str, out: _Found) -> None:
    """An EXIF payload, with or without the 'Exif\\0\\0' preamble some containers keep."""
    start = 6 if data[:4] == b"Exif" else 0
    _tiff_items(data, start, len(data), where, out)


# ----------------------------------------------------------------- XMP, IPTC, Photoshop

# Property names appear as element names or as attributes of rdf:Description.
_XMP_PROP = re.compile(
    rb"<([A-Za-z][\w.-]*):([A-Za-z][\w.-]*)|\s([A-Za-z][\w.-]*):([A-Za-z][\w.-]*)\s*="
)
_XMP_SKIP = {"x", "rdf", "xmlns", "xml"}
_XMP_EMBED_PREFIX = {"GContainer", "Container", "Item", "hdrgm", "HDRGainMap", "apdi"}


def _xmp_items(data: bytes, where: str, out: _Found) -> None:
    out.add("xmp", where, "XMP")
    for m in _XMP_PROP.finditer(_xmp_utf8(data[:_MAX_TEXT])):
        prefix = (m.group(1) or m.group(3)).decode("ascii", "replace")
        local = (m.group(2) or m.group(4)).decode("ascii", "replace")
        if prefix in _XMP_SKIP:
            continue
        cls = _xmp_special(prefix, local) or _classify_name(local)
        if cls:
            out.add(cls, where, f"{prefix}:{local}")


def _xmp_utf8(data: bytes) -> bytes:
    """XMP may be UTF-16 (the spec allows it); names are matched on a UTF-8 copy."""
    head = data[:64]
    if head.count(b"\x00") < len(head) // 4:
        return data
    # The byte order follows from where the zero bytes of ASCII characters sit.
    codec = "utf-16-be" if head[0] == 0 or head[:2] == b"\xfe\xff" else "utf-16-le"
    return data[: len(data) & ~1].decode(codec, "replace").encode("utf-8")


def _xmp_special(prefix: str, local: str) -> str | None:
    # Google/Apple XMP that announces a second picture (motion photo, depth, gain map).
    if prefix in _XMP_EMBED_PREFIX:
        return "embedded_image"
    if prefix == "GCamera" and local in ("MotionPhoto", "MicroVideo", "MicroVideoOffset"):
        return "embedded_image"
    if prefix in ("GDepth", "GImage") and local == "Data":
        return "embedded_image"
    return None


_IPTC_NAMES = {
    5: "ObjectName", 15: "Category", 20: "SupplementalCategories", 25: "Keywords",
    40: "SpecialInstructions",
    55: "DateCreated", 60: "TimeCreated", 62: "DigitalCreationDate", 63: "DigitalCreationTime",
    65: "OriginatingProgram", 80: "By-line", 85: "By-lineTitle", 90: "City", 92: "Sub-location",
    95: "Province-State", 100: "Country-PrimaryLocationCode", 101: "Country-PrimaryLocationName",
    105: "Headline", 110: "Credit", 115: "Source", 116: "CopyrightNotice", 118: "Contact",
    120: "Caption-Abstract", 122: "Writer-Editor",
}


def _iptc_items(data: bytes, where: str, out: _Found) -> None:
    out.add("iptc", where, "IPTC")
    pos = 0
    while pos + 5 <= len(data) and data[pos] == 0x1C:
        record, dataset = data[pos + 1], data[pos + 2]
        length = struct.unpack_from(">H", data, pos + 3)[0]
        pos += 5
        if length & 0x8000:  # extended dataset: the length field holds the size of the real length
            nbytes = length & 0x7FFF
            length = int.from_bytes(data[pos:pos + nbytes], "big")
            pos += nbytes
        name = _IPTC_NAMES.get(dataset) if record == 2 else None
        cls = _classify_name(name) if name else None
        if cls and name:
            out.add(cls, where, name)
        pos += length


def _irb_items(data: bytes, where: str, out: _Found) -> None:
    """Photoshop image resource blocks: IPTC, thumbnails, EXIF, XMP, ICC hide here."""
    pos = data.find(b"8BIM")
    while pos >= 0 and pos + 12 <= len(data) and data[pos:pos + 4] == b"8BIM":
        rid = struct.unpack_from(">H", data, pos + 4)[0]
        name_field = (data[pos + 6] + 2) & ~1  # Pascal string padded to even length
        size_pos = pos + 6 + name_field
        if size_pos + 4 > len(data):
            break
        size = struct.unpack_from(">I", data, size_pos)[0]
        body = data[size_pos + 4:size_pos + 4 + size]
        _irb_resource(rid, body, f"{where}/8BIM", out)
        pos = size_pos + 4 + size + (size & 1)


def _irb_resource(rid: int, body: bytes, where: str, out: _Found) -> None:
    if rid == 0x0404:
        _iptc_items(body, where, out)
    elif rid in (0x0409, 0x040C):
        out.add("thumbnail", where, "PhotoshopThumbnail")
    elif rid == 0x040F:
        out.add("icc_profile", where, "ICC")
    elif rid in (0x0422, 0x0423):
        _exif_items(body, where, out)
    elif rid == 0x0424:
        _xmp_items(body, where, out)
    elif rid == 0x040B:
        out.add("owner", where, "URL")


# ----------------------------------------------------------------- JPEG

def _jpeg_inventory(path: Path, buf: Buf, out: _Found) -> None:
    _jpeg_walk(buf, 0, "jpeg", out, 0)


def _jpeg_walk(buf: Buf, start: int, where: str, out: _Found, depth: int) -> None:
    pos, end = start + 2, len(buf)
    while pos + 2 <= end:
        if buf[pos] != 0xFF:
            out.add("unparsed", where, "marker sync lost")
            return
        marker = buf[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xD9:
            _jpeg_trailer(buf, pos + 2, where, out, depth)
            return
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        seg_end = _segment_end(buf, pos)
        if seg_end is None:
            out.add("unparsed", where, f"segment 0x{marker:02X}")
            return
        _jpeg_segment(marker, bytes(buf[pos + 4:seg_end]), where, out)
        pos = _skip_entropy(buf, seg_end) if marker == 0xDA else seg_end
    out.add("unparsed", where, "no EOI")


def _segment_end(buf: Buf, pos: int) -> int | None:
    if pos + 4 > len(buf):
        return None
    length = struct.unpack_from(">H", buf, pos + 2)[0]
    end = pos + 2 + length
    return end if length >= 2 and end <= len(buf) else None


def _skip_entropy(buf: Buf, pos: int) -> int:
    """Position of the first marker after entropy-coded data (stuffed 0xFF00 and RSTn skipped)."""
    end = len(buf)
    while True:
        j = buf.find(b"\xff", pos)
        if j < 0 or j + 1 >= end:
            return end
        nxt = buf[j + 1]
        if nxt == 0x00 or 0xD0 <= nxt <= 0xD7:
            pos = j + 2
        elif nxt == 0xFF:
            pos = j + 1
        else:
            return j


def _jpeg_segment(marker: int, seg: bytes, where: str, out: _Found) -> None:
    if 0xE0 <= marker <= 0xEF:
        _jpeg_app(marker - 0xE0, seg, where, out)
    elif marker == 0xFE and seg.strip(b"\x00 \t\r\n"):
        out.add("comment", where, "COM")


def _app_ident(seg: bytes) -> bytes:
    return seg[:40].split(b"\x00", 1)[0]


def _jpeg_app(n: int, seg: bytes, where: str, out: _Found) -> None:
    ident = _app_ident(seg)
    w = f"{where}/APP{n}"
    handler = _APP_HANDLERS.get((n, ident))
    if handler is not None:
        handler(seg, w, out)
    elif n == 1 and ident.startswith(b"http://ns.adobe.com/xmp/extension"):
        out.add("xmp", w, "ExtendedXMP")
        _xmp_items(seg, w, out)
    elif seg[6:10] == b"HEAP":
        out.add("makernote", w, "CIFF")  # Canon raw-format maker data carried in APP0
    elif n == 11:
        # JPEG-HDR ratio images and JUMBF/C2PA boxes (which embed thumbnails) live in APP11.
        out.add("embedded_image", w, f"APP11:{ident[:16].decode('latin-1')}")
    else:
        out.add("unknown_block", w, f"APP{n}:{ident[:16].decode('latin-1')}")


def _app_jfif(seg: bytes, where: str, out: _Found) -> None:
    if len(seg) >= 14 and seg[12] * seg[13] > 0:
        out.add("thumbnail", where, "JFIFThumbnail")


def _app_mpf(seg: bytes, where: str, out: _Found) -> None:
    count = None
    try:
        tiff = _Tiff(seg, 4, len(seg))
        entries, _ = tiff.entries(tiff.first)
        count = next((tiff.u32(e[3]) for e in entries if e[0] == 0xB001), None)
    except (ValueError, struct.error):
        pass
    if count is None or count > 1:
        out.add("embedded_image", where, "MPF")


def _app_nothing(seg: bytes, where: str, out: _Found) -> None:
    """APP14 'Adobe' holds only colour-transform flags."""


_APP_HANDLERS: dict[tuple[int, bytes], Callable[[bytes, str, _Found], None]] = {
    (0, b"JFIF"): _app_jfif,
    (0, b"JFXX"): lambda seg, w, out: out.add("thumbnail", w, "JFXX"),
    (1, b"Exif"): lambda seg, w, out: _tiff_items(seg, 6, len(seg), w, out),
    (1, b"http://ns.adobe.com/xap/1.0/"): lambda seg, w, out: _xmp_items(seg[29:], w, out),
    (2, b"ICC_PROFILE"): lambda seg, w, out: out.add("icc_profile", w, "ICC_PROFILE"),
    (2, b"MPF"): _app_mpf,
    (2, b"FPXR"): lambda seg, w, out: out.add("embedded_image", w, "FlashPix"),
    (6, b"GoPro"): lambda seg, w, out: (
        out.add("serial", w, "GoPro"), out.add("device", w, "GoPro")
    ),
    (12, b"Ducky"): lambda seg, w, out: out.add("owner", w, "Ducky"),
    (13, b"Photoshop 3.0"): lambda seg, w, out: _irb_items(seg, w, out),
    (14, b"Adobe"): _app_nothing,
}


def _jpeg_trailer(buf: Buf, pos: int, where: str, out: _Found, depth: int) -> None:
    """Bytes after EOI: MPF second images, Motion Photo videos, vendor trailers."""
    head = bytes(buf[pos:pos + (1 << 20)])
    body = head.lstrip(b"\x00\xff")
    if not body:
        return
    stripped = len(head) - len(body)
    starts_jpeg = stripped > 0 and head[stripped - 1] == 0xFF and body[:2] == b"\xd8\xff"
    if starts_jpeg and depth < _MAX_DEPTH:
        start = pos + stripped - 1
        inner = f"{where}+image{depth + 2}"
        out.add("embedded_image", where, "trailer:JPEG")
        _jpeg_walk(buf, start, inner, out, depth + 1)
        return
    kind = "MP4" if b"ftyp" in body[:64] else ("SEFH" if b"SEFH" in head else "data")
    out.add("embedded_image", where, f"trailer:{kind}")


# ----------------------------------------------------------------- PNG

_PNG_PLAIN = {b"IHDR", b"PLTE", b"IDAT", b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"sBIT", b"bKGD",
              b"hIST", b"pHYs", b"sPLT", b"cICP", b"mDCv", b"cLLi", b"acTL", b"fcTL", b"fdAT",
              b"iDOT"}


def _png_chunks(buf: Buf, out: _Found) -> Iterator[tuple[bytes, int, int]]:
    """(type, body start, body end) of each chunk; reports truncation and bytes after IEND."""
    pos, end = 8, len(buf)
    while pos + 12 <= end:
        length, typ = struct.unpack_from(">I4s", buf, pos)
        nxt = pos + 12 + length
        if nxt > end:
            break
        yield typ, pos + 8, pos + 8 + length
        pos = nxt
        if typ == b"IEND":
            if bytes(buf[pos:pos + (1 << 20)]).strip(b"\x00"):
                out.add("embedded_image", "png", "after IEND")
            return
    out.add("unparsed", "png", "no IEND")


def _png_inventory(path: Path, buf: Buf, out: _Found) -> None:
    for typ, start, end in _png_chunks(buf, out):
        # Pixel data is never copied; other chunks only up to the text limit.
        body = b"" if typ in (b"IDAT", b"fdAT") else bytes(buf[start:min(end, start + _MAX_TEXT)])
        _png_chunk(typ, body, out)


def _png_chunk(typ: bytes, body: bytes, out: _Found) -> None:
    where = f"png/{_fourcc(typ)}"
    if typ in _PNG_PLAIN or typ == b"IEND":
        return
    if typ == b"eXIf":
        _exif_items(body, where, out)
    elif typ == b"iCCP":
        out.add("icc_profile", where, "iCCP")
    elif typ == b"tIME":
        out.add("datetime", where, "tIME")
    elif typ in (b"tEXt", b"zTXt", b"iTXt"):
        _png_text(typ, body, where, out)
    else:
        out.add("unknown_block", where, f"chunk:{_fourcc(typ)}")


def _png_text(typ: bytes, body: bytes, where: str, out: _Found) -> None:
    keyword, _, rest = body.partition(b"\x00")
    name = keyword.decode("latin-1")
    try:
        text = _png_text_payload(typ, rest)
    except (zlib.error, IndexError):
        out.add("unparsed", where, name)
        text = b""
    if name == "XML:com.adobe.xmp":
        _xmp_items(text, where, out)
    elif name.startswith("Raw profile type "):
        _raw_profile(name[len("Raw profile type "):].lower(), text, where, out)
    else:
        out.add(_classify_name(name) or "comment", where, name)


def _png_text_payload(typ: bytes, rest: bytes) -> bytes:
    if typ == b"tEXt":
        return rest[:_MAX_TEXT]
    if typ == b"zTXt":
        return zlib.decompressobj().decompress(rest[1:], _MAX_TEXT)
    compressed = rest[0] == 1
    _lang, _, rest = rest[2:].partition(b"\x00")
    _translated, _, text = rest.partition(b"\x00")
    return zlib.decompressobj().decompress(text, _MAX_TEXT) if compressed else text[:_MAX_TEXT]


def _raw_profile(kind: str, text: bytes, where: str, out: _Found) -> None:
    """ImageMagick stores whole EXIF/IPTC/XMP blocks hex-encoded in PNG text chunks."""
    parts = text.split(None, 2)
    try:
        hexdigits = re.sub(rb"\s", b"", parts[2]).decode("ascii") if len(parts) == 3 else ""
        blob = bytes.fromhex(hexdigits)
    except ValueError:
        blob = b""
    if kind in ("exif", "app1") and blob:
        _exif_items(blob, where, out)
    elif kind == "iptc":
        _irb_items(blob, where, out) if b"8BIM" in blob else _iptc_items(blob, where, out)
    elif kind == "xmp":
        _xmp_items(blob, where, out)
    elif kind in ("icc", "icm"):
        out.add("icc_profile", where, f"Raw profile type {kind}")
    else:
        out.add("unknown_block", where, f"Raw profile type {kind}")


# ----------------------------------------------------------------- WebP

_WEBP_PLAIN = {b"VP8 ", b"VP8L", b"VP8X", b"ALPH", b"ANIM", b"ANMF"}
_VP8X_META_FLAGS = 0x20 | 0x08 | 0x04  # ICC, EXIF, XMP


def _riff_chunks(buf: Buf, out: _Found) -> Iterator[tuple[bytes, int, int]]:
    """(type, body start, body end) of each top-level WebP chunk; reports bytes after RIFF."""
    riff_end = min(len(buf), 8 + struct.unpack_from("<I", buf, 4)[0])
    pos = 12
    while pos + 8 <= riff_end:
        typ, length = struct.unpack_from("<4sI", buf, pos)
        if pos + 8 + length > riff_end:
            out.add("unparsed", "webp", f"chunk {_fourcc(typ)}")
            return
        yield typ, pos + 8, pos + 8 + length
        pos += 8 + length + (length & 1)
    if bytes(buf[riff_end:riff_end + (1 << 20)]).strip(b"\x00"):
        out.add("embedded_image", "webp", "after RIFF")


def _webp_inventory(path: Path, buf: Buf, out: _Found) -> None:
    for typ, start, end in _riff_chunks(buf, out):
        _webp_chunk(typ, buf, start, end, out)


def _webp_chunk(typ: bytes, buf: Buf, start: int, end: int, out: _Found) -> None:
    where = f"webp/{_fourcc(typ).strip()}"
    if typ == b"EXIF":
        _exif_items(bytes(buf[start:min(end, start + _MAX_TEXT)]), where, out)
    elif typ == b"XMP ":
        _xmp_items(bytes(buf[start:min(end, start + _MAX_TEXT)]), where, out)
    elif typ == b"ICCP":
        out.add("icc_profile", where, "ICCP")
    elif typ not in _WEBP_PLAIN:
        out.add("unknown_block", where, f"chunk:{_fourcc(typ)}")


# ----------------------------------------------------------------- TIFF files

def _tiff_inventory(path: Path, buf: Buf, out: _Found) -> None:
    if bytes(buf[2:4]) in (b"+\x00", b"\x00+"):
        out.add("unparsed", "tiff", "BigTIFF")
        return
    _tiff_items(buf, 0, len(buf), "tiff", out, pages=True)


# ----------------------------------------------------------------- BMP

def _bmp_inventory(path: Path, buf: Buf, out: _Found) -> None:
    """BMP has no tags; a V5 header can still embed or link an ICC profile."""
    header = struct.unpack_from("<I", buf, 14)[0] if len(buf) >= 18 else 0
    if header >= 124 and len(buf) >= 14 + 124:
        cs_type = bytes(buf[14 + 56:14 + 60])
        if cs_type in (b"DEBM", b"KNIL"):  # 'MBED'/'LINK' stored little-endian
            out.add("icc_profile", "bmp", "ICC")
    declared = struct.unpack_from("<I", buf, 2)[0]
    if declared < len(buf) and bytes(buf[declared:declared + (1 << 20)]).strip(b"\x00"):
        out.add("embedded_image", "bmp", "after bitmap")


# ----------------------------------------------------------------- ISO-BMFF boxes

BoxT = tuple[bytes, int, int, bool]  # type, body start, box end, truncated


def _boxes(buf: Buf, start: int, end: int) -> Iterator[BoxT]:
    """Boxes in [start, end); a box that does not fit, or leftover bytes, come last, truncated."""
    pos = start
    while pos < end:
        if pos + 8 > end:
            yield b"", pos, end, True
            return
        size, typ = struct.unpack_from(">I4s", buf, pos)
        hdr = 8
        if size == 1 and pos + 16 <= end:
            size, hdr = struct.unpack_from(">Q", buf, pos + 8)[0], 16
        elif size == 0:
            size = end - pos  # "runs to the end of the file"
        if size < hdr or pos + size > end:
            yield typ, min(pos + hdr, end), end, True
            return
        yield typ, pos + hdr, pos + size, False
        pos += size


def _child(buf: Buf, start: int, end: int, path: tuple[bytes, ...]) -> tuple[int, int] | None:
    for typ, body, box_end, _trunc in _boxes(buf, start, end):
        if typ == path[0]:
            return (body, box_end) if len(path) == 1 else _child(buf, body, box_end, path[1:])
    return None


def _meta_body(buf: Buf, start: int) -> int:
    # ISO 'meta' is a FullBox (4 bytes version/flags); QuickTime 'meta' is a plain box.
    return start + 4 if bytes(buf[start:start + 4]) == b"\x00\x00\x00\x00" else start


def _uuid_item(buf: Buf, start: int, end: int, where: str, out: _Found) -> None:
    uid = bytes(buf[start:start + 16])
    if uid == _XMP_UUID:
        _xmp_items(bytes(buf[start + 16:min(end, start + 16 + _MAX_TEXT)]), f"{where}/uuid", out)
    else:
        out.add("unknown_block", f"{where}/uuid", f"uuid:{uid.hex()[:8]}")


# QuickTime/MP4 user-data atoms (Apple, ISO 14496-12 and GoPro names).
_UDTA_CLASS = {
    b"\xa9xyz": "gps", b"loci": "gps", b"\xa9mak": "device", b"\xa9mod": "device",
    b"\xa9swr": "device", b"\xa9too": "container_tags", b"\xa9enc": "container_tags",
    b"\xa9day": "datetime", b"FIRM": "device", b"LENS": "device", b"CAME": "serial",
    b"MUID": "serial", b"GUMI": "serial", b"BCID": "serial", b"GPMF": "serial", b"SETT": "device",
    b"HMMT": "chapters", b"chpl": "chapters", b"\xa9ART": "owner", b"\xa9aut": "owner",
    b"\xa9cpy": "owner", b"cprt": "owner", b"auth": "owner", b"perf": "owner",
    b"\xa9nam": "comment", b"\xa9cmt": "comment", b"\xa9des": "comment", b"titl": "comment",
    b"dscp": "comment", b"kywd": "comment", b"\xa9inf": "comment", b"clfn": "comment",
    b"covr": "embedded_image", b"thmb": "thumbnail", b"name": "container_tags",
}
_UDTA_SKIP = {b"free", b"skip", b"hnti", b"hinf", b"hdlr"}


def _udta_items(buf: Buf, start: int, end: int, where: str, out: _Found) -> None:
    for typ, body, box_end, _trunc in _boxes(buf, start, end):
        if typ == b"meta":
            _meta_items(buf, _meta_body(buf, body), box_end, f"{where}/meta", out)
        elif typ == b"XMP_":
            _xmp_items(bytes(buf[body:min(box_end, body + _MAX_TEXT)]), f"{where}/XMP_", out)
        elif typ not in _UDTA_SKIP and typ:
            name = _fourcc(typ)
            out.add(_UDTA_CLASS.get(typ) or _classify_name(name) or "unknown_block", where, name)


def _meta_items(buf: Buf, start: int, end: int, where: str, out: _Found) -> None:
    for typ, body, box_end, _trunc in _boxes(buf, start, end):
        if typ == b"keys":
            _keys_items(buf, body, box_end, where, out)
        elif typ == b"ilst":
            _ilst_items(buf, body, box_end, where, out)
        elif typ == b"XMP_" or typ == b"xml ":
            _xmp_items(bytes(buf[body:min(box_end, body + _MAX_TEXT)]), where, out)
        elif typ not in _UDTA_SKIP and typ:
            out.add("unknown_block", where, _fourcc(typ))


def _keys_items(buf: Buf, start: int, end: int, where: str, out: _Found) -> None:
    """QuickTime 'mdta' keys: the key names say what the ilst values are."""
    count = struct.unpack_from(">I", buf, start + 4)[0] if start + 8 <= end else 0
    pos = start + 8
    for _ in range(min(count, 4096)):
        if pos + 8 > end:
            break
        size = struct.unpack_from(">I", buf, pos)[0]
        key = bytes(buf[pos + 8:pos + max(size, 8)]).decode("utf-8", "replace")
        out.add(_av_tag_class(key, "?") or "container_tags", f"{where}/keys", key)
        pos += max(size, 8)


def _ilst_items(buf: Buf, start: int, end: int, where: str, out: _Found) -> None:
    for typ, _body, _box_end, _trunc in _boxes(buf, start, end):
        if not typ or typ[0] == 0:
            continue  # numbered entries belong to 'keys', reported there
        name = _fourcc(typ)
        cls = _UDTA_CLASS.get(typ) or _classify_name(name) or "container_tags"
        out.add(cls, f"{where}/ilst", name)


def _trak_kind(buf: Buf, start: int, end: int) -> tuple[str, str]:
    """Handler type and first sample-entry format of a track ('meta', 'gpmd')."""
    hdlr = _child(buf, start, end, (b"mdia", b"hdlr"))
    stsd = _child(buf, start, end, (b"mdia", b"minf", b"stbl", b"stsd"))
    handler = bytes(buf[hdlr[0] + 8:hdlr[0] + 12]) if hdlr and hdlr[0] + 12 <= hdlr[1] else b"?"
    fmt = bytes(buf[stsd[0] + 12:stsd[0] + 16]) if stsd and stsd[0] + 16 <= stsd[1] else b"?"
    return _fourcc(handler), _fourcc(fmt)


_MOOV_CONTAINERS = {b"trak", b"mdia", b"minf", b"edts", b"dinf", b"mvex", b"moof", b"traf"}


def _moov_items(buf: Buf, start: int, end: int, where: str, out: _Found, depth: int = 0) -> None:
    if depth > _MAX_DEPTH:
        out.add("unparsed", where, "nesting")
        return
    for typ, body, box_end, trunc in _boxes(buf, start, end):
        here = f"{where}/{_fourcc(typ)}"
        if trunc:
            out.add("unparsed", where, f"box {_fourcc(typ)}")
        if typ == b"udta":
            _udta_items(buf, body, box_end, here, out)
        elif typ == b"meta":
            _meta_items(buf, _meta_body(buf, body), box_end, here, out)
        elif typ == b"uuid":
            _uuid_item(buf, body, box_end, where, out)
        elif typ == b"tref" and _child(buf, body, box_end, (b"chap",)):
            out.add("chapters", here, "chap")
        elif typ in _MOOV_CONTAINERS:
            if typ == b"trak":
                _trak_telemetry(buf, body, box_end, here, out)
            _moov_items(buf, body, box_end, here, out, depth + 1)


def _trak_telemetry(buf: Buf, start: int, end: int, where: str, out: _Found) -> None:
    handler, fmt = _trak_kind(buf, start, end)
    if handler not in ("vide", "soun"):
        out.add("telemetry", where, f"{handler}/{fmt}")


_BMFF_TOP_PLAIN = {b"ftyp", b"mdat", b"free", b"skip", b"wide", b"pnot", b"moof", b"mfra", b"sidx",
                   b"styp", b"junk"}


def _bmff_items(buf: Buf, out: _Found) -> None:
    for typ, body, box_end, trunc in _boxes(buf, 0, len(buf)):
        name = _fourcc(typ)
        if trunc:
            out.add("unparsed", "bmff", f"box {name}")
        if typ == b"moov":
            _moov_items(buf, body, box_end, "moov", out)
        elif typ == b"udta":
            _udta_items(buf, body, box_end, "udta", out)
        elif typ == b"meta":
            _meta_items(buf, _meta_body(buf, body), box_end, "meta", out)
        elif typ == b"uuid":
            _uuid_item(buf, body, box_end, "bmff", out)
        elif typ not in _BMFF_TOP_PLAIN and not trunc:
            out.add("unknown_block", "bmff", name)


# ----------------------------------------------------------------- video (PyAV)

_AV_STRUCTURAL = {"major_brand", "minor_version", "compatible_brands", "duration", "bps",
                  "number_of_frames", "number_of_bytes"}  # Matroska statistics count bytes only
# What PyAV/FFmpeg writes into an MP4 with fflags=+bitexact (checked by writing one):
# only the track language 'und', the generic handler names and an all-zero vendor id.
_AV_STREAM_ALLOWED = {("language", "und"), ("handler_name", "VideoHandler"),
                      ("handler_name", "SoundHandler"), ("vendor_id", "[0][0][0][0]")}


def _av_tag_class(key: str, value: str) -> str | None:
    """Class of a container/stream tag; None for tags that carry nothing about the source."""
    k = key.lower()
    if k in _AV_STRUCTURAL or k == "language" or (key, value) in _AV_STREAM_ALLOWED:
        return None
    if k.startswith("_statistics"):
        return None
    if "location" in k or "iso6709" in k or k.endswith("xyz"):
        return "gps"
    if k in ("handler_name", "encoder", "vendor_id", "encoded_by"):
        return "container_tags"
    return _classify_name(key) or "container_tags"


def _av_items(path: Path, out: _Found) -> None:
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except Exception:  # noqa: BLE001 - any demuxer failure only means "could not read"
        out.add("unparsed", "av", "open")
        return
    with container:
        _av_tags(dict(container.metadata), "av/format", out)
        counts: dict[str, int] = {}
        for stream in container.streams:
            _av_stream(stream, counts, out)
            _av_tags(dict(stream.metadata), f"av/stream{stream.index}", out)
        for i, _chapter in enumerate(container.chapters()):
            out.add("chapters", "av", f"chapter{i}")


def _av_tags(tags: dict[str, str], where: str, out: _Found) -> None:
    for key, value in tags.items():
        cls = _av_tag_class(key, value)
        if cls:
            out.add(cls, where, key)


def _av_stream(stream: av.stream.Stream, counts: dict[str, int], out: _Found) -> None:
    where = f"av/stream{stream.index}"
    kind = stream.type
    if kind == "video" and stream.disposition & av.stream.Disposition.attached_pic:
        out.add("embedded_image", where, "attached_pic")
        return
    counts[kind] = counts.get(kind, 0) + 1
    if kind in ("video", "audio"):
        if counts[kind] > 1:
            out.add("extra_stream", where, kind)
    elif kind in ("data", "subtitle"):
        handler = str(stream.metadata.get("handler_name", "")).strip(" \x00\x0b") or kind
        out.add("telemetry", where, handler)
    elif kind == "attachment":
        out.add("embedded_image", where, "attachment")
    else:
        out.add("extra_stream", where, kind)


def _video_inventory(path: Path, buf: Buf, out: _Found) -> None:
    _av_items(path, out)
    if _sniff(buf) == "bmff":
        _bmff_items(buf, out)


# ----------------------------------------------------------------- HEIF

def _heif_inventory(path: Path, buf: Buf, out: _Found) -> None:
    _heif_boxes(buf, out)
    if len(buf) > _MAX_HEIF_BYTES:
        out.add("unparsed", "heif", "too large for pillow-heif")
        return
    try:
        heif = pillow_heif.open_heif(str(path), convert_hdr_to_8bit=False)
        images = [dict(im.info) for im in heif]
    except Exception:  # noqa: BLE001 - libheif errors come in many types; all mean "could not read"
        out.add("unparsed", "heif", "pillow-heif")
        return
    for i, info in enumerate(images):
        _heif_image(i, info, out)


def _heif_image(i: int, info: dict[str, object], out: _Found) -> None:
    where = f"heif/image{i}"
    if i > 0:
        out.add("embedded_image", "heif", f"image{i}")
    exif, xmp = info.get("exif"), info.get("xmp")
    if isinstance(exif, bytes | bytearray) and exif:
        _exif_items(bytes(exif), f"{where}/Exif", out)
    if isinstance(xmp, bytes | bytearray) and xmp:
        _xmp_items(bytes(xmp), f"{where}/XMP", out)
    if info.get("icc_profile"):
        out.add("icc_profile", where, "colr/prof")
    if info.get("thumbnails"):
        out.add("thumbnail", where, "thmb")
    if info.get("depth_images"):
        out.add("embedded_image", where, "depth")
    for urn in info.get("aux") or {}:  # type: ignore[union-attr]
        if "alpha" not in str(urn):
            out.add("embedded_image", where, str(urn).rsplit(":", 1)[-1])
    for block in info.get("metadata") or []:  # type: ignore[union-attr]
        kind = str(block.get("type", "")) if isinstance(block, dict) else ""
        out.add("iptc" if "iptc" in kind.lower() else "unknown_block", where, kind or "metadata")


_HEIF_TOP_PLAIN = {b"ftyp", b"mdat", b"free", b"skip", b"wide", b"idat"}


def _heif_boxes(buf: Buf, out: _Found) -> None:
    for typ, body, box_end, trunc in _boxes(buf, 0, len(buf)):
        if trunc:
            out.add("unparsed", "heif", f"box {_fourcc(typ)}")
        elif typ == b"meta":
            _heif_meta(buf, body + 4, box_end, out)
        elif typ == b"uuid":
            _uuid_item(buf, body, box_end, "heif", out)
        elif typ == b"moov":
            _moov_items(buf, body, box_end, "heif/moov", out)
        elif typ not in _HEIF_TOP_PLAIN:
            out.add("unknown_block", "heif", _fourcc(typ))


def _heif_meta(buf: Buf, start: int, end: int, out: _Found) -> None:
    for typ, body, box_end, _trunc in _boxes(buf, start, end):
        if typ == b"iinf":
            _heif_items(buf, body, box_end, out)
        elif typ == b"iref":
            refs = {t for t, *_r in _boxes(buf, body + 4, box_end)}
            if b"thmb" in refs:
                out.add("thumbnail", "heif/meta/iref", "thmb")
        elif typ == b"iprp":
            props = _child(buf, body, box_end, (b"ipco",))
            kinds = {t for t, *_r in _boxes(buf, *props)} if props else set()
            for rot in sorted(kinds & {b"irot", b"imir"}):
                out.add("orientation", "heif/meta/iprp", _fourcc(rot))


def _heif_items(buf: Buf, start: int, end: int, out: _Found) -> None:
    version = buf[start] if start < end else 0
    first = start + (6 if version == 0 else 8)
    for typ, body, box_end, _trunc in _boxes(buf, first, end):
        if typ != b"infe" or body + 4 > box_end or buf[body] < 2:
            continue
        id_len = 2 if buf[body] == 2 else 4
        item_type = bytes(buf[body + 4 + id_len + 2:body + 4 + id_len + 6])
        if item_type == b"mime":
            out.add("xmp", "heif/meta/iinf", "mime")
        elif item_type == b"tmap":
            out.add("embedded_image", "heif/meta/iinf", "tmap")
        elif item_type == b"uri ":
            out.add("unknown_block", "heif/meta/iinf", "uri")


# ----------------------------------------------------------------- public: inventory

Handler = Callable[[Path, Buf, _Found], None]

_INVENTORY: dict[str, Handler] = {
    "jpeg": _jpeg_inventory,
    "png": _png_inventory,
    "webp": _webp_inventory,
    "tiff": _tiff_inventory,
    "bmp": _bmp_inventory,
    "heif": _heif_inventory,
    "bmff": _video_inventory,
    "other": _video_inventory,  # MKV, AVI, WebM...: whatever the demuxer can read
}


def inventory(path: Path) -> list[MetadataItem]:
    """Identifying metadata an input file carries, as classes (no values).  Never raises."""
    out = _Found()
    try:
        with _mapped(Path(path)) as buf:
            if not buf:
                out.add("unparsed", "file", "empty")
                return out.items
            _INVENTORY[_sniff(buf)](Path(path), buf, out)
    except Exception as exc:  # noqa: BLE001 - an inventory must never stop the pipeline
        out.add("unparsed", "file", type(exc).__name__)
    return out.items


# ----------------------------------------------------------------- public: residual

_JPEG_ALLOWED = {0xDB, 0xC0, 0xC1, 0xC2, 0xC4, 0xDD, 0xDA}  # DQT, SOF0/1/2, DHT, DRI, SOS


def _jpeg_residual(path: Path, buf: Buf, out: _Found) -> None:
    pos, end = 2, len(buf)
    while pos + 2 <= end:
        if buf[pos] != 0xFF:
            out.add("unparsed", "jpeg", "marker sync lost")
            return
        marker = buf[pos + 1]
        if marker == 0xD9:
            if pos + 2 < end:
                out.add("embedded_image", "jpeg", "after EOI")
            return
        if marker == 0xFF or 0xD0 <= marker <= 0xD7:
            pos += 1 if marker == 0xFF else 2
            continue
        seg_end = _segment_end(buf, pos)
        if seg_end is None:
            out.add("unparsed", "jpeg", f"segment 0x{marker:02X}")
            return
        _jpeg_residual_segment(marker, bytes(buf[pos + 4:seg_end]), out)
        pos = _skip_entropy(buf, seg_end) if marker == 0xDA else seg_end
    out.add("unparsed", "jpeg", "no EOI")


def _jpeg_residual_segment(marker: int, seg: bytes, out: _Found) -> None:
    if marker in _JPEG_ALLOWED:
        return
    # A bare JFIF header (version, density, no thumbnail) says nothing about the source.
    if marker == 0xE0 and seg[:5] == b"JFIF\x00" and len(seg) == 14 and seg[12] == seg[13] == 0:
        return
    found = _Found()
    _jpeg_segment(marker, seg, "jpeg", found)
    if not found.items:
        found.add("unknown_block", "jpeg", f"marker 0x{marker:02X}")
    out.extend(found)


# Pillow writes pHYs when given a dpi, and gAMA/cHRM/sRGB only when told to; they are
# colour and density numbers with no room for identity, so they are allowed.  iCCP is
# not: profile description/copyright text can name the device.
_PNG_ALLOWED = {b"IHDR", b"PLTE", b"tRNS", b"IDAT", b"IEND", b"gAMA", b"cHRM", b"sRGB", b"pHYs"}


def _png_residual(path: Path, buf: Buf, out: _Found) -> None:
    for typ, start, end in _png_chunks(buf, out):
        if typ in _PNG_ALLOWED:
            continue
        found = _Found()
        _png_chunk(typ, bytes(buf[start:min(end, start + _MAX_TEXT)]), found)
        if not found.items:
            found.add("unknown_block", f"png/{_fourcc(typ)}", f"chunk:{_fourcc(typ)}")
        out.extend(found)


_WEBP_ALLOWED = {b"VP8 ", b"VP8L", b"ALPH", b"ANIM", b"ANMF"}


def _webp_residual(path: Path, buf: Buf, out: _Found) -> None:
    for typ, start, end in _riff_chunks(buf, out):
        if typ in _WEBP_ALLOWED:
            continue
        if typ == b"VP8X":
            if start < end and buf[start] & _VP8X_META_FLAGS:
                out.add("unknown_block", "webp/VP8X", "metadata flags")
            continue
        found = _Found()
        _webp_chunk(typ, buf, start, end, found)
        if not found.items:
            found.add("unknown_block", f"webp/{_fourcc(typ)}", f"chunk:{_fourcc(typ)}")
        out.extend(found)


def _av_residual(path: Path, out: _Found) -> None:
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except Exception:  # noqa: BLE001 - an output the demuxer cannot open is not verified
        out.add("unparsed", "av", "open")
        return
    with container:
        for key, value in container.metadata.items():
            if key not in _AV_STRUCTURAL:
                out.add(_av_tag_class(key, value) or "container_tags", "av/format", key)
        counts: dict[str, int] = {}
        for stream in container.streams:
            _av_residual_stream(stream, counts, out)
        for i, _chapter in enumerate(container.chapters()):
            out.add("chapters", "av", f"chapter{i}")


def _av_residual_stream(stream: av.stream.Stream, counts: dict[str, int], out: _Found) -> None:
    where = f"av/stream{stream.index}"
    found = _Found()
    _av_stream(stream, counts, found)
    if stream.type not in ("video", "audio"):
        found.add("extra_stream", where, stream.type)
    out.extend(found)
    for key, value in stream.metadata.items():
        if (key, value) not in _AV_STREAM_ALLOWED:
            out.add(_av_tag_class(key, value) or "container_tags", where, key)


def _mp4_residual(path: Path, buf: Buf, out: _Found) -> None:
    _av_residual(path, out)
    for typ, body, box_end, trunc in _boxes(buf, 0, len(buf)):
        name = _fourcc(typ)
        if trunc:
            out.add("unparsed", "bmff", f"box {name}")
        elif typ == b"moov":
            _moov_residual(buf, body, box_end, "moov", out, 0)
        elif typ in (b"free", b"skip"):
            if box_end - body > 65536 or bytes(buf[body:box_end]).strip(b"\x00"):
                out.add("unknown_block", "bmff", name)
        elif typ not in (b"ftyp", b"mdat"):
            found = _Found()
            _bmff_top_one(buf, typ, body, box_end, found)
            out.extend(found)


def _bmff_top_one(buf: Buf, typ: bytes, body: int, box_end: int, out: _Found) -> None:
    if typ == b"uuid":
        _uuid_item(buf, body, box_end, "bmff", out)
    elif typ in (b"udta", b"meta"):
        _udta_items(buf, body, box_end, _fourcc(typ), out)
    if not out.items:
        out.add("unknown_block", "bmff", _fourcc(typ))


_MP4_TIMED_HEADERS = {b"mvhd", b"tkhd", b"mdhd"}


def _moov_residual(buf: Buf, start: int, end: int, where: str, out: _Found, depth: int) -> None:
    if depth > _MAX_DEPTH:
        out.add("unparsed", where, "nesting")
        return
    for typ, body, box_end, trunc in _boxes(buf, start, end):
        here = f"{where}/{_fourcc(typ)}"
        if trunc:
            out.add("unparsed", where, f"box {_fourcc(typ)}")
        elif typ in _MP4_TIMED_HEADERS and _has_time(buf, body, box_end):
            out.add("datetime", here, "creation_time")
        elif typ in (b"udta", b"meta") and not _empty_udta(buf, body, box_end, typ):
            found = _Found()
            _udta_or_meta(buf, typ, body, box_end, here, found)
            if not found.items:
                found.add("unknown_block", here, _fourcc(typ))
            out.extend(found)
        elif typ == b"uuid":
            _uuid_item(buf, body, box_end, where, out)
        elif typ == b"tref" and _child(buf, body, box_end, (b"chap",)):
            out.add("chapters", here, "chap")
        elif typ in _MOOV_CONTAINERS:
            _moov_residual(buf, body, box_end, here, out, depth + 1)


def _udta_or_meta(buf: Buf, typ: bytes, body: int, box_end: int, where: str, out: _Found) -> None:
    if typ == b"udta":
        _udta_items(buf, body, box_end, where, out)
    else:
        _meta_items(buf, _meta_body(buf, body), box_end, where, out)


def _has_time(buf: Buf, body: int, end: int) -> bool:
    """Non-zero creation/modification time in a movie, track or media header."""
    wide = body < end and buf[body] == 1
    size = 16 if wide else 8
    return body + 4 + size <= end and any(bytes(buf[body + 4:body + 4 + size]))


def _empty_udta(buf: Buf, start: int, end: int, typ: bytes) -> bool:
    """FFmpeg's bitexact 'udta > meta > (hdlr mdir, empty ilst)' carries nothing."""
    body = _meta_body(buf, start) if typ == b"meta" else start
    for child, cbody, cend, trunc in _boxes(buf, body, end):
        if trunc:
            return False
        if child == b"meta" and _empty_udta(buf, cbody, cend, b"meta"):
            continue
        if child == b"hdlr" and typ == b"meta":
            continue
        if child in (b"ilst", b"free") and not bytes(buf[cbody:cend]).strip(b"\x00"):
            continue
        return False
    return True


_RESIDUAL: dict[str, Handler] = {
    "jpeg": _jpeg_residual,
    "png": _png_residual,
    "webp": _webp_residual,
    "bmff": _mp4_residual,
}


def residual(path: Path) -> list[MetadataItem]:
    """Everything in a written output beyond the structural allowlist; [] means clean.

    Fail-closed: formats other than JPEG/PNG/WebP/MP4, and anything unreadable,
    come back as "unparsed" items rather than as an empty list."""
    out = _Found()
    try:
        with _mapped(Path(path)) as buf:
            check = _RESIDUAL.get(_sniff(buf)) if buf else None
            if check is None:
                out.add("unparsed", "file", "not a JPEG/PNG/WebP/MP4 output")
            else:
                check(Path(path), buf, out)
    except Exception as exc:  # noqa: BLE001 - the re-check must report, not crash
        out.add("unparsed", "file", type(exc).__name__)
    return out.items
