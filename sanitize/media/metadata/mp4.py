"""QuickTime/MP4/3GP: the demuxer's view plus one walk of the top-level boxes.

The output allowlist is what PyAV writes with fflags=+bitexact: ftyp, mdat, a moov
whose headers carry no time and whose user data is FFmpeg's empty shell, and
zero-filled free space."""

from __future__ import annotations

from collections.abc import Iterator

from sanitize.media.metadata.av import av_parts
from sanitize.media.metadata.base import Buf, Collector, Parser, Part, failed, fourcc, item
from sanitize.media.metadata.isobmff import (
    boxes,
    meta_body,
    meta_items,
    moov_parts,
    udta_items,
    uuid_items,
)

_FREE_MAX = 65536  # more padding than a muxer leaves is room for a payload
# Top-level boxes with nothing about the source in an input (fragments, indexes, padding).
_PLAIN = {b"ftyp", b"mdat", b"free", b"skip", b"wide", b"pnot", b"moof", b"mfra", b"sidx",
          b"styp", b"junk"}
_FTYP_MAX = 64  # major + minor + 14 compatible brands; PyAV's is 24 bytes


class Mp4Parser(Parser):
    formats = frozenset({"mp4", "mov", "3gp"})
    output = True

    def walk(self) -> Iterator[Part]:
        yield from av_parts(self.path)
        yield from top_parts(self.buf)


def top_parts(buf: Buf) -> Iterator[Part]:
    for typ, body, box_end, trunc in boxes(buf, 0, len(buf)):
        name = fourcc(typ)
        if trunc:
            yield failed("bmff", f"box {name}")
        if typ == b"moov":
            yield from moov_parts(buf, body, box_end, "moov")
        elif typ in (b"udta", b"meta", b"uuid"):
            found = Collector()
            if typ == b"udta":
                udta_items(buf, body, box_end, "udta", found)
            elif typ == b"meta":
                meta_items(buf, meta_body(buf, body), box_end, "meta", found)
            else:
                uuid_items(buf, body, box_end, "bmff", found)
            yield Part.judged(found.items, allowed=False, where="bmff", name=name)
        elif typ in (b"free", b"skip"):
            padding = box_end - body <= _FREE_MAX and not bytes(buf[body:box_end]).strip(b"\x00")
            yield Part.judged((), allowed=padding, where="bmff", name=name)
        elif not trunc:
            found_one = () if typ in _PLAIN else (item("unknown_block", "bmff", name),)
            allowed = typ == b"mdat" or (typ == b"ftyp" and _plain_ftyp(buf, body, box_end))
            yield Part.judged(found_one, allowed=allowed, where="bmff", name=name)


def _plain_ftyp(buf: Buf, body: int, end: int) -> bool:
    """An ftyp is a major brand, a minor version and printable four-letter brands;
    anything longer or otherwise is a place to carry bytes."""
    data = bytes(buf[body:end])
    if len(data) > _FTYP_MAX or len(data) < 8 or len(data) % 4:
        return False
    brands = data[:4] + data[8:]
    return all(32 <= c < 127 for c in brands)
