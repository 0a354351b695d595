"""Which parser reads which format: probe.identify names the format, this maps it.

To add a format: teach `probe.identify` its name, write a Parser subclass in its own
module with `formats` naming it, and list the class here."""

from __future__ import annotations

from pathlib import Path

from sanitize.media.metadata.av import AvParser, UnknownParser
from sanitize.media.metadata.base import Buf, Parser
from sanitize.media.metadata.bmp import BmpParser
from sanitize.media.metadata.heif import HeifParser
from sanitize.media.metadata.jpeg import JpegParser
from sanitize.media.metadata.mp4 import Mp4Parser
from sanitize.media.metadata.png import PngParser
from sanitize.media.metadata.tiff import TiffParser
from sanitize.media.metadata.webp import WebpParser
from sanitize.media.probe import HEAD_BYTES, identify

PARSERS: tuple[type[Parser], ...] = (
    JpegParser, PngParser, WebpParser, TiffParser, BmpParser, HeifParser, Mp4Parser, AvParser,
)
BY_FORMAT: dict[str, type[Parser]] = {fmt: p for p in PARSERS for fmt in p.formats}
# Content probe does not name: unparsed, plus whatever the demuxer makes of it.
FALLBACK: type[Parser] = UnknownParser


def parser_for(path: Path, buf: Buf) -> Parser:
    fmt = identify(bytes(buf[:HEAD_BYTES]))
    return BY_FORMAT.get(fmt or "", FALLBACK)(path, buf)
