"""What identifying metadata a file carries, and what a written output still carries.

`inventory(path)` lists the metadata of an INPUT as classes (gps, datetime, device,
serial, owner, location, thumbnail, embedded_image, xmp, iptc, icc_profile, comment,
makernote, orientation, telemetry, chapters, container_tags, extra_stream,
unknown_block, unparsed).  `residual(path)` is the fail-closed re-check of an
OUTPUT: anything outside a small allowlist of structural parts is reported.

Both are read-only and never raise: what cannot be read becomes an item of class
"unparsed", so a caller that refuses any residual item stays fail-closed.  Items
name tags, boxes and segments, never their values: a report must not repeat the
coordinates or serials it says were removed.

One parser class per container family (`registry.PARSERS`), chosen by
`probe.identify`; each walks its file once and derives both lists from that walk.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sanitize.media.metadata.base import Parser, item, mapped
from sanitize.media.metadata.registry import parser_for
from sanitize.types import MetadataItem

__all__ = ["Parser", "inventory", "residual"]


def inventory(path: Path) -> list[MetadataItem]:
    """Identifying metadata an input file carries, as classes (no values).  Never raises."""
    return _read(Path(path), Parser.inventory)


def residual(path: Path) -> list[MetadataItem]:
    """Everything in a written output beyond the structural allowlist; [] means clean.

    Fail-closed: formats other than JPEG/PNG/WebP/MP4, and anything unreadable,
    come back as "unparsed" items rather than as an empty list."""
    return _read(Path(path), Parser.residual)


def _read(path: Path, view: Callable[[Parser], list[MetadataItem]]) -> list[MetadataItem]:
    try:
        with mapped(path) as buf:
            if not buf:
                return [item("unparsed", "file", "empty")]
            return view(parser_for(path, buf))
    except Exception as exc:  # noqa: BLE001 - a re-read must report, never stop the pipeline
        return [item("unparsed", "file", type(exc).__name__)]
