"""Metadata blocks that ride inside many containers: EXIF/TIFF IFDs, XMP, IPTC, Photoshop.

JPEG APP segments, PNG eXIf/iTXt, WebP EXIF/XMP, HEIF items, TIFF files and MP4
uuid boxes all carry the same few block formats; each is parsed here once.  Every
read is bounds-checked: a bad offset raises ValueError, which the callers turn
into an `unparsed` item.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable

from sanitize.media.metadata.base import MAX_IFDS, MAX_TEXT, Buf, Collector
from sanitize.media.metadata.classify import IPTC_NAMES, TIFF_TAGS, classify_name, gps_name

_TYPE_SIZE = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4,
              16: 8, 17: 8, 18: 8}
_EXIF_IFD, _GPS_IFD, _SUB_IFDS = 0x8769, 0x8825, 0x014A
_XMP_TAG, _IPTC_TAG, _PHOTOSHOP_TAG = 0x02BC, 0x83BB, 0x8649

Entry = tuple[int, int, int, int]  # tag, type, count, position of the value field


class TiffReader:
    """Just enough TIFF (classic and BigTIFF) to enumerate IFD entries."""

    def __init__(self, buf: Buf, base: int, end: int) -> None:
        order = bytes(buf[base:base + 2])
        if order not in (b"II", b"MM"):
            raise ValueError("no TIFF byte order")
        self.bo = "<" if order == b"II" else ">"
        self.buf, self.base, self.end = buf, base, end
        # BigTIFF (magic 43): 8-byte offsets and counts, 20-byte entries.
        self.big = self.u16(base + 2) == 43
        self.inline = 8 if self.big else 4
        self.first = self.u64(base + 8) if self.big else self.u32(base + 4)

    def _read(self, fmt: str, size: int, pos: int) -> int:
        if pos < 0 or pos + size > self.end:
            raise ValueError("TIFF read out of bounds")
        return int(struct.unpack_from(self.bo + fmt, self.buf, pos)[0])

    def u16(self, pos: int) -> int:
        return self._read("H", 2, pos)

    def u32(self, pos: int) -> int:
        return self._read("I", 4, pos)

    def u64(self, pos: int) -> int:
        return self._read("Q", 8, pos)

    def offset(self, pos: int) -> int:
        return self.u64(pos) if self.big else self.u32(pos)

    def entries(self, off: int) -> tuple[list[Entry], int]:
        """Entries of the IFD at `off` and the offset of the next IFD (0: none)."""
        pos = self.base + off
        count, head, size = (self.u64(pos), 8, 20) if self.big else (self.u16(pos), 2, 12)
        cfield = self.u64 if self.big else self.u32
        # Entry: tag (2), type (2), count (4 or 8), then the value field.
        out = [(self.u16(e), self.u16(e + 2), cfield(e + 4), e + 4 + self.inline)
               for e in range(pos + head, pos + head + size * count, size)]
        tail = pos + head + size * count
        return out, (self.offset(tail) if tail + self.inline <= self.end else 0)

    def value_start(self, typ: int, count: int, vpos: int) -> int:
        if _TYPE_SIZE.get(typ, 1) * count <= self.inline:
            return vpos
        return self.base + self.offset(vpos)

    def pointers(self, typ: int, count: int, vpos: int) -> list[int]:
        """Offsets held by an IFD-pointer tag (LONG, SHORT, IFD or LONG8/IFD8 values)."""
        size = _TYPE_SIZE.get(typ, 4) if typ in (3, 16, 17, 18) else 4
        read = {2: self.u16, 4: self.u32, 8: self.u64}[size]
        start = self.value_start(typ, count, vpos)
        return [read(start + size * i) for i in range(min(count, 16))]

    def blob(self, typ: int, count: int, vpos: int) -> bytes:
        size = _TYPE_SIZE.get(typ, 1) * count
        if size <= self.inline:
            return bytes(self.buf[vpos:vpos + size])
        start = self.base + self.offset(vpos)
        return bytes(self.buf[start:min(start + size, self.end, start + MAX_TEXT)])


def tiff_items(buf: Buf, base: int, end: int, where: str, out: Collector, *,
               pages: bool = False) -> None:
    """Walk a TIFF structure (an EXIF block, or a whole TIFF file when `pages`)."""
    try:
        tiff = TiffReader(buf, base, end)
    except (ValueError, struct.error):
        out.add("unparsed", where, "TIFF header")
        return
    seen: set[int] = set()
    off, index = tiff.first, 0
    while off and index < MAX_IFDS and off not in seen:
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
    if off in seen:
        out.add("unparsed", where, "IFD loop")
    elif off:
        out.add("unparsed", where, "IFD chain too long")


def _extra_ifd(tiff: TiffReader, entries: list[Entry], index: int, where: str, out: Collector,
               pages: bool) -> None:
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


def _scan_ifd(tiff: TiffReader, entries: list[Entry], where: str, out: Collector,
              seen: set[int]) -> None:
    for tag, typ, count, vpos in entries:
        if tag in (_EXIF_IFD, _GPS_IFD):
            for off in tiff.pointers(typ, count, vpos):
                _sub_ifd(tiff, off, tag, where, out, seen)
        elif tag == _SUB_IFDS:
            out.add("embedded_image", where, "SubIFDs")
        elif tag in _BLOB_TAGS:
            _BLOB_TAGS[tag](tiff.blob(typ, count, vpos), where, out)
        elif tag in TIFF_TAGS:
            cls, name = TIFF_TAGS[tag]
            out.add(cls, where, name)


def _sub_ifd(tiff: TiffReader, off: int, kind: int, where: str, out: Collector,
             seen: set[int]) -> None:
    if off in seen or len(seen) > MAX_IFDS:
        out.add("unparsed", where, "IFD loop" if off in seen else "too many IFDs")
        return
    seen.add(off)
    entries, _ = tiff.entries(off)
    if kind == _GPS_IFD:
        for tag, *_rest in entries:
            out.add("gps", where, gps_name(tag))
        return
    _scan_ifd(tiff, entries, where, out, seen)


def exif_items(data: bytes, where: str, out: Collector) -> None:
    """An EXIF payload, with or without the 'Exif\\0\\0' preamble some containers keep."""
    start = 6 if data[:4] == b"Exif" else 0
    tiff_items(data, start, len(data), where, out)


# ----------------------------------------------------------------- XMP

# Property names appear as element names or as attributes of rdf:Description.
_XMP_PROP = re.compile(
    rb"<([A-Za-z][\w.-]*):([A-Za-z][\w.-]*)|\s([A-Za-z][\w.-]*):([A-Za-z][\w.-]*)\s*="
)
_XMP_SKIP = {"x", "rdf", "xmlns", "xml"}
_XMP_EMBED_PREFIX = {"GContainer", "Container", "Item", "hdrgm", "HDRGainMap", "apdi"}


def xmp_items(data: bytes, where: str, out: Collector) -> None:
    out.add("xmp", where, "XMP")
    for m in _XMP_PROP.finditer(_xmp_utf8(data[:MAX_TEXT])):
        prefix = (m.group(1) or m.group(3)).decode("ascii", "replace")
        local = (m.group(2) or m.group(4)).decode("ascii", "replace")
        if prefix in _XMP_SKIP:
            continue
        cls = _xmp_special(prefix, local) or classify_name(local)
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


# ----------------------------------------------------------------- IPTC, Photoshop

def iptc_items(data: bytes, where: str, out: Collector) -> None:
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
        name = IPTC_NAMES.get(dataset) if record == 2 else None
        cls = classify_name(name) if name else None
        if cls and name:
            out.add(cls, where, name)
        pos += length


def irb_items(data: bytes, where: str, out: Collector) -> None:
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


def _irb_resource(rid: int, body: bytes, where: str, out: Collector) -> None:
    if rid == 0x0404:
        iptc_items(body, where, out)
    elif rid in (0x0409, 0x040C):
        out.add("thumbnail", where, "PhotoshopThumbnail")
    elif rid == 0x040F:
        out.add("icc_profile", where, "ICC")
    elif rid in (0x0422, 0x0423):
        exif_items(body, where, out)
    elif rid == 0x0424:
        xmp_items(body, where, out)
    elif rid == 0x040B:
        out.add("owner", where, "URL")


_BLOB_TAGS: dict[int, Callable[[bytes, str, Collector], None]] = {
    _XMP_TAG: xmp_items, _IPTC_TAG: iptc_items, _PHOTOSHOP_TAG: irb_items,
}
