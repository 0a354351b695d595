"""What the demuxer (PyAV/FFmpeg) sees: container and stream tags, extra streams,
attached pictures, chapters.  Alone it is the parser for Matroska/WebM, AVI and
MPEG-TS inputs, and for content `probe` does not name; with the box walk it is half
of the QuickTime/MP4 parser."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import av

from sanitize.media.metadata.base import Collector, Parser, Part, failed, item
from sanitize.media.metadata.classify import AV_STREAM_ALLOWED, AV_STRUCTURAL, av_tag_class


class AvParser(Parser):
    formats = frozenset({"avi", "mkv", "webm", "mts"})

    def walk(self) -> Iterator[Part]:
        return av_parts(self.path)


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
