"""JPEG: markers and segments, APPn blocks, and whatever follows EOI (MPF images,
Motion Photo videos, vendor trailers).  One walk; the output allowlist is the
segments a baseline/progressive encoder needs plus a bare JFIF header."""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator

from sanitize.media.metadata.base import (
    MAX_DEPTH,
    MAX_TRAILER,
    Buf,
    Collector,
    Parser,
    Part,
    failed,
    item,
)
from sanitize.media.metadata.blocks import TiffReader, irb_items, tiff_items, xmp_items

_ALLOWED = {0xDB, 0xC0, 0xC1, 0xC2, 0xC4, 0xDD, 0xDA}  # DQT, SOF0/1/2, DHT, DRI, SOS


class JpegParser(Parser):
    formats = frozenset({"jpeg"})
    output = True

    def walk(self) -> Iterator[Part]:
        return _walk(self.buf, 0, "jpeg", 0)


def _walk(buf: Buf, start: int, where: str, depth: int) -> Iterator[Part]:
    pos, end = start + 2, len(buf)
    while pos + 2 <= end:
        if buf[pos] != 0xFF:
            yield failed(where, "marker sync lost")
            return
        marker = buf[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xD9:
            yield _trailer(buf, pos + 2, where, depth)
            return
        if 0xD0 <= marker <= 0xD7:  # RSTn outside entropy data: no length, nothing inside
            pos += 2
            continue
        if marker == 0x01:  # TEM: no length; an encoder of ours never writes it
            yield Part.judged((), allowed=False, where=where, name="marker 0x01")
            pos += 2
            continue
        seg_end = _segment_end(buf, pos)
        if seg_end is None:
            yield failed(where, f"segment 0x{marker:02X}")
            return
        yield _segment(marker, bytes(buf[pos + 4:seg_end]), where)
        pos = _skip_entropy(buf, seg_end) if marker == 0xDA else seg_end
    yield failed(where, "no EOI")


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


def _segment(marker: int, seg: bytes, where: str) -> Part:
    found = Collector()
    if 0xE0 <= marker <= 0xEF:
        _app(marker - 0xE0, seg, where, found)
    elif marker == 0xFE and seg.strip(b"\x00 \t\r\n"):
        found.add("comment", where, "COM")
    # A bare JFIF header (version, density, no thumbnail) says nothing about the source.
    bare_jfif = marker == 0xE0 and seg[:5] == b"JFIF\x00" and len(seg) == 14 and not any(seg[12:])
    return Part.judged(found.items, allowed=marker in _ALLOWED or bare_jfif, where=where,
                       name=f"marker 0x{marker:02X}")


def _app(n: int, seg: bytes, where: str, out: Collector) -> None:
    ident = seg[:40].split(b"\x00", 1)[0]
    w = f"{where}/APP{n}"
    handler = _APP_HANDLERS.get((n, ident))
    if handler is not None:
        handler(seg, w, out)
    elif n == 1 and ident.startswith(b"http://ns.adobe.com/xmp/extension"):
        out.add("xmp", w, "ExtendedXMP")
        xmp_items(seg, w, out)
    elif seg[6:10] == b"HEAP":
        out.add("makernote", w, "CIFF")  # Canon raw-format maker data carried in APP0
    elif n == 11:
        # JPEG-HDR ratio images and JUMBF/C2PA boxes (which embed thumbnails) live in APP11.
        out.add("embedded_image", w, f"APP11:{ident[:16].decode('latin-1')}")
    else:
        out.add("unknown_block", w, f"APP{n}:{ident[:16].decode('latin-1')}")


def _app_jfif(seg: bytes, where: str, out: Collector) -> None:
    if len(seg) >= 14 and seg[12] * seg[13] > 0:
        out.add("thumbnail", where, "JFIFThumbnail")


def _app_mpf(seg: bytes, where: str, out: Collector) -> None:
    count = None
    try:
        tiff = TiffReader(seg, 4, len(seg))
        entries, _ = tiff.entries(tiff.first)
        count = next((tiff.u32(e[3]) for e in entries if e[0] == 0xB001), None)
    except (ValueError, struct.error):
        pass
    if count is None or count > 1:
        out.add("embedded_image", where, "MPF")


def _app_gopro(seg: bytes, where: str, out: Collector) -> None:
    out.add("serial", where, "GoPro")
    out.add("device", where, "GoPro")


def _app_nothing(seg: bytes, where: str, out: Collector) -> None:
    """APP14 'Adobe' holds only colour-transform flags."""


_APP_HANDLERS: dict[tuple[int, bytes], Callable[[bytes, str, Collector], None]] = {
    (0, b"JFIF"): _app_jfif,
    (0, b"JFXX"): lambda seg, w, out: out.add("thumbnail", w, "JFXX"),
    (1, b"Exif"): lambda seg, w, out: tiff_items(seg, 6, len(seg), w, out),
    (1, b"http://ns.adobe.com/xap/1.0/"): lambda seg, w, out: xmp_items(seg[29:], w, out),
    (2, b"ICC_PROFILE"): lambda seg, w, out: out.add("icc_profile", w, "ICC_PROFILE"),
    (2, b"MPF"): _app_mpf,
    (2, b"FPXR"): lambda seg, w, out: out.add("embedded_image", w, "FlashPix"),
    (6, b"GoPro"): _app_gopro,
    (12, b"Ducky"): lambda seg, w, out: out.add("owner", w, "Ducky"),
    (13, b"Photoshop 3.0"): lambda seg, w, out: irb_items(seg, w, out),
    (14, b"Adobe"): _app_nothing,
}


def _trailer(buf: Buf, pos: int, where: str, depth: int) -> Part:
    """Bytes after EOI.  In an input they are named (a second JPEG is walked in turn);
    in an output any byte there at all is a leak."""
    found = Collector()
    _trailer_items(buf, pos, where, depth, found)
    leak = (item("embedded_image", where, "after EOI"),) if pos < len(buf) else ()
    return Part(tuple(found.items), leak)


def _trailer_items(buf: Buf, pos: int, where: str, depth: int, out: Collector) -> None:
    head = bytes(buf[pos:pos + MAX_TRAILER])
    body = head.lstrip(b"\x00\xff")
    if not body:
        return
    stripped = len(head) - len(body)
    starts_jpeg = stripped > 0 and head[stripped - 1] == 0xFF and body[:2] == b"\xd8\xff"
    if starts_jpeg and depth < MAX_DEPTH:
        out.add("embedded_image", where, "trailer:JPEG")
        for part in _walk(buf, pos + stripped - 1, f"{where}+image{depth + 2}", depth + 1):
            out.extend(part.items)
        return
    kind = "MP4" if b"ftyp" in body[:64] else ("SEFH" if b"SEFH" in head else "data")
    out.add("embedded_image", where, f"trailer:{kind}")
