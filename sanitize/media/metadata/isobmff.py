"""ISO-BMFF boxes shared by HEIF and QuickTime/MP4: the box iterator, user data
(udta, meta, keys, ilst), XMP uuid boxes, and the one walk of a 'moov' tree."""

from __future__ import annotations

import struct
from collections.abc import Iterator

from sanitize.media.metadata.base import (
    MAX_DEPTH,
    MAX_TEXT,
    Buf,
    Collector,
    Part,
    failed,
    fourcc,
    item,
)
from sanitize.media.metadata.blocks import xmp_items
from sanitize.media.metadata.classify import atom_class, av_tag_class

XMP_UUID = bytes.fromhex("be7acfcb97a942e89c71999491e3afac")

Box = tuple[bytes, int, int, bool]  # type, body start, box end, truncated


def boxes(buf: Buf, start: int, end: int) -> Iterator[Box]:
    """Boxes in [start, end); a box that does not fit, or leftover bytes, come last, truncated.

    Every box advances the position by at least its 8-byte header, so a walk always ends."""
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


def child(buf: Buf, start: int, end: int, path: tuple[bytes, ...]) -> tuple[int, int] | None:
    for typ, body, box_end, _trunc in boxes(buf, start, end):
        if typ == path[0]:
            return (body, box_end) if len(path) == 1 else child(buf, body, box_end, path[1:])
    return None


def meta_body(buf: Buf, start: int) -> int:
    # ISO 'meta' is a FullBox (4 bytes version/flags); QuickTime 'meta' is a plain box.
    return start + 4 if bytes(buf[start:start + 4]) == b"\x00\x00\x00\x00" else start


def uuid_items(buf: Buf, start: int, end: int, where: str, out: Collector) -> None:
    uid = bytes(buf[start:start + 16])
    if uid == XMP_UUID:
        xmp_items(bytes(buf[start + 16:min(end, start + 16 + MAX_TEXT)]), f"{where}/uuid", out)
    else:
        out.add("unknown_block", f"{where}/uuid", f"uuid:{uid.hex()[:8]}")


_UDTA_SKIP = {b"free", b"skip", b"hnti", b"hinf", b"hdlr"}


def udta_items(buf: Buf, start: int, end: int, where: str, out: Collector) -> None:
    for typ, body, box_end, _trunc in boxes(buf, start, end):
        if typ == b"meta":
            meta_items(buf, meta_body(buf, body), box_end, f"{where}/meta", out)
        elif typ == b"XMP_":
            xmp_items(bytes(buf[body:min(box_end, body + MAX_TEXT)]), f"{where}/XMP_", out)
        elif typ not in _UDTA_SKIP and typ:
            out.add(atom_class(typ, "unknown_block"), where, fourcc(typ))


def meta_items(buf: Buf, start: int, end: int, where: str, out: Collector) -> None:
    for typ, body, box_end, _trunc in boxes(buf, start, end):
        if typ == b"keys":
            _keys_items(buf, body, box_end, where, out)
        elif typ == b"ilst":
            _ilst_items(buf, body, box_end, where, out)
        elif typ == b"XMP_" or typ == b"xml ":
            xmp_items(bytes(buf[body:min(box_end, body + MAX_TEXT)]), where, out)
        elif typ not in _UDTA_SKIP and typ:
            out.add("unknown_block", where, fourcc(typ))


def _keys_items(buf: Buf, start: int, end: int, where: str, out: Collector) -> None:
    """QuickTime 'mdta' keys: the key names say what the ilst values are."""
    count = struct.unpack_from(">I", buf, start + 4)[0] if start + 8 <= end else 0
    pos = start + 8
    for _ in range(min(count, 4096)):
        if pos + 8 > end:
            break
        size = struct.unpack_from(">I", buf, pos)[0]
        key = bytes(buf[pos + 8:pos + max(size, 8)]).decode("utf-8", "replace")
        out.add(av_tag_class(key, "?") or "container_tags", f"{where}/keys", key)
        pos += max(size, 8)


def _ilst_items(buf: Buf, start: int, end: int, where: str, out: Collector) -> None:
    for typ, _body, _box_end, _trunc in boxes(buf, start, end):
        if not typ or typ[0] == 0:
            continue  # numbered entries belong to 'keys', reported there
        out.add(atom_class(typ, "container_tags"), f"{where}/ilst", fourcc(typ))


def user_data_part(buf: Buf, typ: bytes, body: int, end: int, where: str) -> Part:
    """A 'udta' or 'meta' box: its tags; in an output, anything beyond FFmpeg's empty shell."""
    found = Collector()
    if typ == b"udta":
        udta_items(buf, body, end, where, found)
    else:
        meta_items(buf, meta_body(buf, body), end, where, found)
    return Part.judged(found.items, allowed=_empty_udta(buf, body, end, typ), where=where,
                       name=fourcc(typ))


def _empty_udta(buf: Buf, start: int, end: int, typ: bytes, depth: int = 0) -> bool:
    """FFmpeg's bitexact 'udta > meta > (hdlr mdir, empty ilst)' carries nothing."""
    if depth > MAX_DEPTH:
        return False
    body = meta_body(buf, start) if typ == b"meta" else start
    for kid, cbody, cend, trunc in boxes(buf, body, end):
        if trunc:
            return False
        if kid == b"meta" and _empty_udta(buf, cbody, cend, b"meta", depth + 1):
            continue
        if kid == b"hdlr" and typ == b"meta":
            continue
        if kid in (b"ilst", b"free") and not bytes(buf[cbody:cend]).strip(b"\x00"):
            continue
        return False
    return True


def _trak_kind(buf: Buf, start: int, end: int) -> tuple[str, str]:
    """Handler type and first sample-entry format of a track ('meta', 'gpmd')."""
    hdlr = child(buf, start, end, (b"mdia", b"hdlr"))
    stsd = child(buf, start, end, (b"mdia", b"minf", b"stbl", b"stsd"))
    handler = bytes(buf[hdlr[0] + 8:hdlr[0] + 12]) if hdlr and hdlr[0] + 12 <= hdlr[1] else b"?"
    fmt = bytes(buf[stsd[0] + 12:stsd[0] + 16]) if stsd and stsd[0] + 16 <= stsd[1] else b"?"
    return fourcc(handler), fourcc(fmt)


def _has_time(buf: Buf, body: int, end: int) -> bool:
    """Non-zero creation/modification time in a movie, track or media header."""
    wide = body < end and buf[body] == 1
    size = 16 if wide else 8
    return body + 4 + size <= end and any(bytes(buf[body + 4:body + 4 + size]))


_CONTAINERS = {b"trak", b"mdia", b"minf", b"edts", b"dinf", b"mvex", b"moof", b"traf"}
_TIMED_HEADERS = {b"mvhd", b"tkhd", b"mdhd"}


def moov_parts(buf: Buf, start: int, end: int, where: str, depth: int = 0) -> Iterator[Part]:
    """The one walk of a movie box.  Header times and track kinds are for outputs and
    inputs respectively: PyAV reports creation_time tags and streams of an input, the
    box walk is what sees a non-zero time left in an output's headers."""
    if depth > MAX_DEPTH:
        yield failed(where, "nesting")
        return
    for typ, body, box_end, trunc in boxes(buf, start, end):
        here = f"{where}/{fourcc(typ)}"
        if trunc:
            yield failed(where, f"box {fourcc(typ)}")
        if typ in _TIMED_HEADERS:
            if _has_time(buf, body, box_end):
                yield Part(leaks=(item("datetime", here, "creation_time"),))
        elif typ in (b"udta", b"meta"):
            yield user_data_part(buf, typ, body, box_end, here)
        elif typ == b"uuid":
            found = Collector()
            uuid_items(buf, body, box_end, where, found)
            yield Part.both(*found.items)
        elif typ == b"tref" and child(buf, body, box_end, (b"chap",)):
            yield Part.both(item("chapters", here, "chap"))
        elif typ in _CONTAINERS:
            if typ == b"trak":
                handler, fmt = _trak_kind(buf, body, box_end)
                if handler not in ("vide", "soun"):
                    yield Part(items=(item("telemetry", here, f"{handler}/{fmt}"),))
            yield from moov_parts(buf, body, box_end, here, depth + 1)
