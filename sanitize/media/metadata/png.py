"""PNG (and APNG): chunks, text keywords, compressed XMP, ImageMagick raw profiles."""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Iterator

from sanitize.media.metadata.base import MAX_TEXT, Collector, Parser, Part, failed, fourcc, trailing
from sanitize.media.metadata.blocks import exif_items, iptc_items, irb_items, xmp_items
from sanitize.media.metadata.classify import classify_name

_SIG_LEN = 8
# Chunks that hold pixels, colour numbers, animation timing: nothing about the source.
_PLAIN = {b"IHDR", b"PLTE", b"IDAT", b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"sBIT", b"bKGD",
          b"hIST", b"pHYs", b"sPLT", b"cICP", b"mDCv", b"cLLi", b"acTL", b"fcTL", b"fdAT",
          b"iDOT", b"IEND"}
# In an output: Pillow writes pHYs when given a dpi, and gAMA/cHRM/sRGB only when told
# to; they are colour and density numbers with no room for identity, so they are
# allowed.  iCCP is not: profile description/copyright text can name the device.
_ALLOWED = {b"IHDR", b"PLTE", b"tRNS", b"IDAT", b"IEND", b"gAMA", b"cHRM", b"sRGB", b"pHYs"}


class PngParser(Parser):
    formats = frozenset({"png"})
    output = True

    def walk(self) -> Iterator[Part]:
        buf = self.buf
        pos, end = _SIG_LEN, len(buf)
        while pos + 12 <= end:
            length, typ = struct.unpack_from(">I4s", buf, pos)
            nxt = pos + 12 + length
            if nxt > end:
                break
            start = pos + 8
            # Pixel data is never copied; other chunks only up to the text limit.
            pixels = typ in (b"IDAT", b"fdAT")
            body = b"" if pixels else bytes(buf[start:min(start + length, start + MAX_TEXT)])
            found = Collector()
            _chunk(typ, body, found)
            yield Part.judged(found.items, allowed=typ in _ALLOWED, where=f"png/{fourcc(typ)}",
                              name=f"chunk:{fourcc(typ)}")
            pos = nxt
            if typ == b"IEND":
                yield from trailing(buf, pos, "png", "after IEND")
                return
        yield failed("png", "no IEND")


def _chunk(typ: bytes, body: bytes, out: Collector) -> None:
    where = f"png/{fourcc(typ)}"
    if typ in _PLAIN:
        return
    if typ == b"eXIf":
        exif_items(body, where, out)
    elif typ == b"iCCP":
        out.add("icc_profile", where, "iCCP")
    elif typ == b"tIME":
        out.add("datetime", where, "tIME")
    elif typ in (b"tEXt", b"zTXt", b"iTXt"):
        _text(typ, body, where, out)
    else:
        out.add("unknown_block", where, f"chunk:{fourcc(typ)}")


def _text(typ: bytes, body: bytes, where: str, out: Collector) -> None:
    keyword, _, rest = body.partition(b"\x00")
    name = keyword.decode("latin-1")
    try:
        text = _text_payload(typ, rest)
    except (zlib.error, IndexError):
        out.add("unparsed", where, name)
        text = b""
    if name == "XML:com.adobe.xmp":
        xmp_items(text, where, out)
    elif name.startswith("Raw profile type "):
        _raw_profile(name[len("Raw profile type "):].lower(), text, where, out)
    else:
        out.add(classify_name(name) or "comment", where, name)


def _text_payload(typ: bytes, rest: bytes) -> bytes:
    if typ == b"tEXt":
        return rest[:MAX_TEXT]
    if typ == b"zTXt":
        return zlib.decompressobj().decompress(rest[1:], MAX_TEXT)
    compressed = rest[0] == 1
    _lang, _, rest = rest[2:].partition(b"\x00")
    _translated, _, text = rest.partition(b"\x00")
    return zlib.decompressobj().decompress(text, MAX_TEXT) if compressed else text[:MAX_TEXT]


def _raw_profile(kind: str, text: bytes, where: str, out: Collector) -> None:
    """ImageMagick stores whole EXIF/IPTC/XMP blocks hex-encoded in PNG text chunks."""
    parts = text.split(None, 2)
    try:
        hexdigits = re.sub(rb"\s", b"", parts[2]).decode("ascii") if len(parts) == 3 else ""
        blob = bytes.fromhex(hexdigits)
    except ValueError:
        blob = b""
    if kind in ("exif", "app1") and blob:
        exif_items(blob, where, out)
    elif kind == "iptc":
        irb_items(blob, where, out) if b"8BIM" in blob else iptc_items(blob, where, out)
    elif kind == "xmp":
        xmp_items(blob, where, out)
    elif kind in ("icc", "icm"):
        out.add("icc_profile", where, f"Raw profile type {kind}")
    else:
        out.add("unknown_block", where, f"Raw profile type {kind}")
