"""WebP (RIFF): top-level chunks and the VP8X flags that announce ICC/EXIF/XMP."""

from __future__ import annotations

import struct
from collections.abc import Iterator

from sanitize.media.metadata.base import MAX_TEXT, Collector, Parser, Part, failed, fourcc, trailing
from sanitize.media.metadata.blocks import exif_items, xmp_items

_PLAIN = {b"VP8 ", b"VP8L", b"VP8X", b"ALPH", b"ANIM", b"ANMF"}
_ALLOWED = {b"VP8 ", b"VP8L", b"ALPH", b"ANIM", b"ANMF"}  # VP8X: only without metadata flags
_VP8X_META_FLAGS = 0x20 | 0x08 | 0x04  # ICC, EXIF, XMP


class WebpParser(Parser):
    formats = frozenset({"webp"})
    output = True

    def walk(self) -> Iterator[Part]:
        buf = self.buf
        declared = 8 + struct.unpack_from("<I", buf, 4)[0]
        if declared > len(buf):
            yield failed("webp", "RIFF size past end of file")
        riff_end = min(len(buf), declared)
        pos = 12
        while pos + 8 <= riff_end:
            typ, length = struct.unpack_from("<4sI", buf, pos)
            start, end = pos + 8, pos + 8 + length
            if end > riff_end:
                yield failed("webp", f"chunk {fourcc(typ)}")
                return
            # Only metadata chunks are copied (up to the text limit), never pixel data.
            copied = typ in (b"EXIF", b"XMP ", b"VP8X")
            yield _chunk(typ, bytes(buf[start:min(end, start + MAX_TEXT)]) if copied else b"")
            pos = end + (length & 1)
        yield from trailing(buf, riff_end, "webp", "after RIFF")


def _chunk(typ: bytes, body: bytes) -> Part:
    where = f"webp/{fourcc(typ).strip()}"
    found = Collector()
    if typ == b"EXIF":
        exif_items(body, where, found)
    elif typ == b"XMP ":
        xmp_items(body, where, found)
    elif typ == b"ICCP":
        found.add("icc_profile", where, "ICCP")
    elif typ not in _PLAIN:
        found.add("unknown_block", where, f"chunk:{fourcc(typ)}")
    if typ == b"VP8X":
        flagged = bool(body) and body[0] & _VP8X_META_FLAGS
        return Part.judged(found.items, allowed=not flagged, where="webp/VP8X",
                           name="metadata flags")
    return Part.judged(found.items, allowed=typ in _ALLOWED, where=f"webp/{fourcc(typ)}",
                       name=f"chunk:{fourcc(typ)}")
