"""`sanitize inspect`: what a file carries, for a person deciding what to do with it.
Read-only; metadata is listed by class and tag name, never by value."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sanitize.config import Settings
from sanitize.detect.registry import get_detectors
from sanitize.errors import SanitizeError
from sanitize.media import images
from sanitize.media.metadata import inventory
from sanitize.media.probe import sniff
from sanitize.types import MediaKind


def inspect_file(path: Path, settings: Settings) -> dict[str, Any]:
    out: dict[str, Any] = {"file": str(path)}
    try:
        kind, fmt = sniff(path)
        out |= {"kind": kind.value, "format": fmt, "bytes": path.stat().st_size}
        items = inventory(path)
        out["metadata"] = sorted({f"{m.cls}: {m.name or m.where}" for m in items})
        out["metadata_classes"] = sorted({m.cls for m in items})
        if kind is MediaKind.IMAGE:
            pic = images.decode(path, fmt, settings.max_pixels)
            out |= {"width": pic.info.width, "height": pic.info.height,
                    "orientation_applied": pic.info.rotation, "mirrored": pic.info.mirrored}
            faces = get_detectors(settings).faces.detect(pic.rgb)
        else:
            from sanitize.check import sample_regions

            faces = [r for r in sample_regions(path, settings) if r.kind == "face"]
        out["faces_found"] = len(faces)
        out["faces"] = [f"{r.box.as_list()} score {r.score:.2f}" + (
            f" at {r.t_start:.1f}s" if r.t_start is not None else "") for r in faces]
    except SanitizeError as e:
        out["error"] = str(e)
    return out
