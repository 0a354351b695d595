"""What every metadata parser shares: the Part a walk yields, the abstract Parser, limits.

A parser walks its container ONCE and yields Parts.  Each Part says what
identifying metadata it holds (`items`, listed by `inventory()`) and what it would
leak if found in an output we wrote (`leaks`, listed by `residual()`): empty for
parts on the format's structural allowlist, otherwise the part's items or, when it
carries nothing we can name, an `unknown_block`.  Allowlists, not blocklists: a part
the parser does not know is never clean.
"""

from __future__ import annotations

import mmap
import os
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from sanitize.types import MetadataItem

Buf = bytes | mmap.mmap

MAX_TEXT = 4 << 20  # XMP/text payloads scanned for property names; larger ones are cut
MAX_IFDS = 64  # a TIFF chain longer than this is hostile, not a camera file
MAX_DEPTH = 12  # box/JPEG nesting beyond this is hostile
MAX_TRAILER = 1 << 20  # bytes after the end marker inspected for content


def printable(text: str, limit: int = 64) -> str:
    # Names come from the file itself; keep them short and free of control bytes.
    return "".join(c if 32 <= ord(c) < 127 or c == "©" else "?" for c in text[:limit])


def fourcc(typ: bytes) -> str:
    return typ.decode("latin-1")


def item(cls: str, where: str, name: str = "") -> MetadataItem:
    return MetadataItem(cls, where, printable(name))


@dataclass(frozen=True)
class Part:
    """One structural piece of a file as the walk met it."""

    items: tuple[MetadataItem, ...] = ()  # identifying metadata inside it (inventory)
    leaks: tuple[MetadataItem, ...] = ()  # what it is in an output (residual); () = allowed

    @classmethod
    def judged(cls, items: Iterable[MetadataItem], *, allowed: bool, where: str, name: str,
               fallback: str = "unknown_block") -> Part:
        """A part with its allowlist verdict: outside the list it leaks its items, or
        (when it carries nothing nameable) itself as `fallback`."""
        found = tuple(items)
        if allowed:
            return cls(found, ())
        return cls(found, found or (item(fallback, where, name),))

    @classmethod
    def both(cls, *items: MetadataItem) -> Part:
        """Found in an input and a leak in an output alike (unparsed bytes, trailers...)."""
        return cls(items, items)


def failed(where: str, name: str) -> Part:
    """Something the walk could not read: listed by both, so residual() stays non-empty."""
    return Part.both(item("unparsed", where, name))


def trailing(buf: Buf, pos: int, where: str, name: str) -> list[Part]:
    """Bytes after a format's end marker: anything but zero padding (checked up to
    MAX_TRAILER bytes) is a hiding place for a second picture or a payload."""
    if not bytes(buf[pos:pos + MAX_TRAILER]).strip(b"\x00"):
        return []
    return [Part.both(item("embedded_image", where, name))]


class Collector:
    """Items once each, in discovery order, for the walkers that gather inner blocks."""

    def __init__(self) -> None:
        self.items: list[MetadataItem] = []
        self._seen: set[MetadataItem] = set()

    def add(self, cls: str, where: str, name: str = "") -> None:
        self.extend((item(cls, where, name),))

    def extend(self, items: Iterable[MetadataItem]) -> None:
        for it in items:
            if it not in self._seen:
                self._seen.add(it)
                self.items.append(it)


@contextmanager
def mapped(path: Path) -> Iterator[Buf]:
    """Files are memory-mapped: a multi-gigabyte video costs page cache, not process
    memory, and box walks touch only the headers they need."""
    with open(path, "rb") as fh:
        if os.fstat(fh.fileno()).st_size == 0:
            yield b""  # mmap refuses empty files
            return
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            yield mm


class Parser(ABC):
    """One container family.  `formats` are the names `probe.identify` gives it;
    `output` is True for the formats we write, whose residual() has an allowlist."""

    formats: ClassVar[frozenset[str]]
    output: ClassVar[bool] = False

    def __init__(self, path: Path, buf: Buf) -> None:
        self.path, self.buf = path, buf
        self._parts: list[Part] | None = None

    @abstractmethod
    def walk(self) -> Iterator[Part]:
        """The one walk of the file; raising is allowed (reported as unparsed)."""

    def parts(self) -> list[Part]:
        if self._parts is None:
            parts: list[Part] = []
            try:
                parts.extend(self.walk())
            except Exception as exc:  # noqa: BLE001 - a walk that fails is reported, never clean
                parts.append(failed("file", type(exc).__name__))
            self._parts = parts
        return self._parts

    def inventory(self) -> list[MetadataItem]:
        out = Collector()
        for part in self.parts():
            out.extend(part.items)
        return out.items

    def residual(self) -> list[MetadataItem]:
        if not self.output:
            return [item("unparsed", "file", "not a JPEG/PNG/WebP/MP4 output")]
        out = Collector()
        for part in self.parts():
            out.extend(part.leaks)
        return out.items
