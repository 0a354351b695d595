"""What the demuxer (PyAV/FFmpeg) sees: container and stream tags, extra streams,
attached pictures, chapters.  Alone it is the parser for Matroska/WebM, AVI and
MPEG-TS inputs, and for content `probe` does not name; with the box walk it is half
of the QuickTime/MP4 parser."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import av

from sanitize.media.metadata.base import Buf, Collector, Parser, Part, failed, item
from sanitize.media.metadata.classify import AV_STREAM_ALLOWED, AV_STRUCTURAL, av_tag_class


class AvParser(Parser):
    formats = frozenset({"avi", "mkv", "webm", "mts"})

    def walk(self) -> Iterator[Part]:
        # The demuxer reads what is there and stays silent about what is missing
        # (Matroska keeps its Tags near the end): a cut file is named here.
        problem = _cut_or_broken(self.buf)
        if problem:
            yield failed("av", problem)
        yield from av_parts(self.path)


_EBML, _SEGMENT = b"\x1a\x45\xdf\xa3", b"\x18\x53\x80\x67"


def _cut_or_broken(buf: Buf) -> str | None:
    """What is wrong with the container's own framing, if anything: the RIFF size of
    an AVI, the EBML header and Segment size of Matroska/WebM (a Segment of unknown
    size is what a live-written file has, and is fine)."""
    head = bytes(buf[:256])  # an EBML header is some 40 bytes
    if head[:4] == b"RIFF":
        declared = 8 + int.from_bytes(head[4:8], "little")
        return "RIFF size past end of file" if declared > len(buf) else None
    if head[:4] != _EBML:
        return None
    header = _vint(head, 4)
    seg = header[0] + header[1] if header else 0
    size = _vint(head, seg + 4) if head[seg:seg + 4] == _SEGMENT else None
    if header is None or size is None:
        return "Matroska header unreadable"
    return "Segment size past end of file" if not size[2] and sum(size[:2]) > len(buf) else None


def _vint(b: bytes, pos: int) -> tuple[int, int, bool] | None:
    """EBML variable-length size at `pos`: (end of the field, value, unknown-size flag)."""
    if pos >= len(b) or b[pos] == 0:
        return None
    width = 9 - b[pos].bit_length()  # leading zero bits + 1
    if pos + width > len(b):
        return None
    value = int.from_bytes(b[pos:pos + width], "big") & ((1 << (7 * width)) - 1)
    return pos + width, value, value == (1 << (7 * width)) - 1


def av_parts(path: Path) -> Iterator[Part]:
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except Exception:  # noqa: BLE001 - any demuxer failure only means "could not read"
        yield failed("av", "open")
        return
    with container:
        for key, value in container.metadata.items():
            yield _tag(key, value, "av/format", allowed=key in AV_STRUCTURAL)
        counts: dict[str, int] = {}
        for stream in container.streams:
            where = f"av/stream{stream.index}"
            yield _stream(stream, counts, where)
            for key, value in stream.metadata.items():
                yield _tag(key, value, where, allowed=(key, value) in AV_STREAM_ALLOWED)
        for i, _chapter in enumerate(container.chapters()):
            yield Part.both(item("chapters", "av", f"chapter{i}"))


def _tag(key: str, value: str, where: str, *, allowed: bool) -> Part:
    cls = av_tag_class(key, value)
    found = (item(cls, where, key),) if cls else ()
    return Part.judged(found, allowed=allowed, where=where, name=key, fallback="container_tags")


def _stream(stream: av.stream.Stream, counts: dict[str, int], where: str) -> Part:
    """One stream: the first video and first audio stream are the picture and sound;
    anything else (a second angle, GPS/telemetry data, subtitles, cover art) is found."""
    found = Collector()
    kind = stream.type
    if kind == "video" and stream.disposition & av.stream.Disposition.attached_pic:
        found.add("embedded_image", where, "attached_pic")
    else:
        counts[kind] = counts.get(kind, 0) + 1
        if kind in ("video", "audio"):
            if counts[kind] > 1:
                found.add("extra_stream", where, kind)
        elif kind in ("data", "subtitle"):
            handler = str(stream.metadata.get("handler_name", "")).strip(" \x00\x0b") or kind
            found.add("telemetry", where, handler)
        elif kind == "attachment":
            found.add("embedded_image", where, "attachment")
        else:
            found.add("extra_stream", where, kind)
    leaks = Collector()
    leaks.extend(found.items)
    if kind not in ("video", "audio"):
        leaks.add("extra_stream", where, kind)
    return Part(tuple(found.items), tuple(leaks.items))


class UnknownParser(Parser):
    """Content `probe` does not name: listed as unparsed whatever the demuxer makes of
    it, so a file nothing here could walk never reads as metadata-free."""

    formats = frozenset()

    def walk(self) -> Iterator[Part]:
        yield failed("file", "unrecognised format")
        yield from av_parts(self.path)
