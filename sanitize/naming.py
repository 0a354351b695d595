"""Output names: a pure function of one input's relative path and output format.

An output keeps the input's relative path when the extension does not change
(`clip.mp4` → `clip.mp4`, `IMG_1.JPG` → `IMG_1.JPG`, `photo.jpeg` → `photo.jpeg`).
When it changes, the old extension joins the stem (`iphone.heic` → `iphone-heic.jpg`,
`clip.mov` → `clip-mov.mp4`), so `iphone.heic` next to `iphone.jpg`, or `clip.mov`
next to `clip.mp4`, never write the same file.  Since a name depends on nothing but
its own input, it is the same in any order or subset of inputs, in `run` and `watch`;
the report's `input` is always the real relative path.
"""

from __future__ import annotations

from pathlib import Path

OUTPUT_EXTS = (".jpg", ".png", ".webp", ".mp4")  # every extension an output can have
_SAME_AS = {".jpeg": ".jpg", ".jpe": ".jpg"}  # spellings of an unchanged extension


def output_rel(rel: Path, ext: str) -> Path:
    """Where the output of input `rel` goes below safe/ or review/, for extension `ext`."""
    own = rel.suffix.lower()
    if _SAME_AS.get(own, own) == ext:
        return rel
    tag = f"-{rel.suffix[1:].lower()}" if rel.suffix else ""
    return rel.with_name(f"{rel.stem}{tag}{ext}")


def possible_outputs(rel: Path) -> frozenset[str]:
    """Every output name input `rel` could get (any format), casefolded for disks that
    ignore case: two inputs whose sets meet could write the same file."""
    return frozenset(output_rel(rel, e).as_posix().casefold() for e in OUTPUT_EXTS)
