"""TIFF and BigTIFF files: every IFD in the chain is a page; later pages are images too."""

from __future__ import annotations

from collections.abc import Iterator

from sanitize.media.metadata.base import Collector, Parser, Part
from sanitize.media.metadata.blocks import tiff_items


class TiffParser(Parser):
    formats = frozenset({"tiff"})

    def walk(self) -> Iterator[Part]:
        found = Collector()
        tiff_items(self.buf, 0, len(self.buf), "tiff", found, pages=True)
        yield Part.both(*found.items)
