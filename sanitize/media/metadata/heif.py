"""HEIF/HEIC (and AVIF, which probe names but refuses): the item boxes for what
libheif does not report (thumbnail references, rotation, MIME/XMP, tone maps), then
libheif via pillow-heif for each image's EXIF, XMP, ICC, thumbnails, depth, aux."""

from __future__ import annotations

from collections.abc import Iterator

import pillow_heif

from sanitize.media.metadata.base import Buf, Collector, Parser, Part, failed, fourcc
from sanitize.media.metadata.blocks import exif_items, xmp_items
from sanitize.media.metadata.isobmff import boxes, child, moov_parts, uuid_items

_MAX_HEIF_BYTES = 512 << 20  # pillow-heif reads the whole file; bigger ones get the box walk only
_TOP_PLAIN = {b"ftyp", b"mdat", b"free", b"skip", b"wide", b"idat"}
# The boxes ISO/IEC 23008-12 and 14496-12 put in a file-level 'meta'; anything else is named.
_META_KNOWN = {b"hdlr", b"pitm", b"iloc", b"iinf", b"iref", b"iprp", b"idat", b"dinf", b"grpl",
               b"ipmc", b"ipro", b"fiin", b"xml ", b"bxml", b"free", b"skip"}


class HeifParser(Parser):
    formats = frozenset({"heif", "avif"})

    def walk(self) -> Iterator[Part]:
        yield from _top(self.buf)
        if len(self.buf) > _MAX_HEIF_BYTES:
            yield failed("heif", "too large for pillow-heif")
            return
        try:
            heif = pillow_heif.open_heif(str(self.path), convert_hdr_to_8bit=False)
            images = [dict(im.info) for im in heif]
        except Exception:  # noqa: BLE001 - libheif errors come in many types; all mean "could not read"
            yield failed("heif", "pillow-heif")
            return
        for i, info in enumerate(images):
            found = Collector()
            _image(i, info, found)
            yield Part.both(*found.items)


def _image(i: int, info: dict[str, object], out: Collector) -> None:
    where = f"heif/image{i}"
    if i > 0:
        out.add("embedded_image", "heif", f"image{i}")
    exif, xmp = info.get("exif"), info.get("xmp")
    if isinstance(exif, bytes | bytearray) and exif:
        exif_items(bytes(exif), f"{where}/Exif", out)
    if isinstance(xmp, bytes | bytearray) and xmp:
        xmp_items(bytes(xmp), f"{where}/XMP", out)
    if info.get("icc_profile"):
        out.add("icc_profile", where, "colr/prof")
    if info.get("thumbnails"):
        out.add("thumbnail", where, "thmb")
    if info.get("depth_images"):
        out.add("embedded_image", where, "depth")
    aux, blocks = info.get("aux"), info.get("metadata")
    for urn in aux if isinstance(aux, dict) else {}:
        if "alpha" not in str(urn):
            out.add("embedded_image", where, str(urn).rsplit(":", 1)[-1])
    for block in blocks if isinstance(blocks, list) else []:
        kind = str(block.get("type", "")) if isinstance(block, dict) else ""
        out.add("iptc" if "iptc" in kind.lower() else "unknown_block", where, kind or "metadata")


def _top(buf: Buf) -> Iterator[Part]:
    for typ, body, box_end, trunc in boxes(buf, 0, len(buf)):
        found = Collector()
        if trunc:
            yield failed("heif", f"box {fourcc(typ)}")
            continue
        if typ == b"meta":
            _meta(buf, body + 4, box_end, found)
        elif typ == b"uuid":
            uuid_items(buf, body, box_end, "heif", found)
        elif typ == b"moov":
            for part in moov_parts(buf, body, box_end, "heif/moov"):
                found.extend(part.items)
        elif typ not in _TOP_PLAIN:
            found.add("unknown_block", "heif", fourcc(typ))
        yield Part.both(*found.items)


def _meta(buf: Buf, start: int, end: int, out: Collector) -> None:
    for typ, body, box_end, _trunc in boxes(buf, start, end):
        if typ == b"iinf":
            _item_infos(buf, body, box_end, out)
        elif typ == b"iref":
            refs = {t for t, *_r in boxes(buf, body + 4, box_end)}
            if b"thmb" in refs:
                out.add("thumbnail", "heif/meta/iref", "thmb")
        elif typ == b"iprp":
            props = child(buf, body, box_end, (b"ipco",))
            kinds = {t for t, *_r in boxes(buf, *props)} if props else set()
            for rot in sorted(kinds & {b"irot", b"imir"}):
                out.add("orientation", "heif/meta/iprp", fourcc(rot))
        elif typ not in _META_KNOWN:
            out.add("unknown_block", "heif/meta", fourcc(typ))


def _item_infos(buf: Buf, start: int, end: int, out: Collector) -> None:
    version = buf[start] if start < end else 0
    first = start + (6 if version == 0 else 8)
    for typ, body, box_end, _trunc in boxes(buf, first, end):
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
