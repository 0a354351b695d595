"""One line per file that says why it went where it went.

Read by a person scanning a report or a review queue: the blocking findings
first with their confidence, then what was masked (saying when masks were put on
low-score detections: "when unsure, blur"), then what metadata was removed.
"""

from __future__ import annotations

from collections import Counter

from sanitize.types import FileResult, Finding, Status

# Face detections below this score were masked because the tool was unsure; a
# person may want to know (a flower, a lamp post, bushes).
LOW_SCORE = 0.5
_PLURAL = {"face": "faces", "plate": "plates", "text": "texts"}


def why(result: FileResult) -> str:
    if result.status is Status.ERROR:
        return result.error or "error"
    parts = _flags([f for f in result.findings if f.blocking])
    blurred = [f for f in result.findings if f.action == "blurred"]
    counts = Counter(f.kind for f in blurred)
    for kind, n in sorted(counts.items()):
        name = kind if n == 1 else _PLURAL.get(kind, kind + "s")
        low = sum(1 for f in blurred if f.kind == kind and f.confidence < LOW_SCORE)
        text = f"{n} {name} masked"
        if low:
            text += f" ({low} low-score: unsure, masked anyway)"
        parts.append(text)
    removed = sorted({m.cls for m in result.metadata_removed})
    if removed:
        parts.append("removed: " + ", ".join(removed))
    return " · ".join(dict.fromkeys(parts)) or "nothing to mask or remove"


def _flags(blocking: list[Finding]) -> list[str]:
    """One item per kind: the highest confidence, and how many when several."""
    out = []
    for kind in dict.fromkeys(f.kind for f in blocking):
        same = [f for f in blocking if f.kind == kind]
        name = kind.replace("_", " ")
        if kind.startswith("metadata:"):
            out.append(kind.split(":", 1)[1] + " in metadata")
        elif all(f.action == "blurred" for f in same):
            out.append(f"{name} masked, check it")  # e.g. plates found on sampled video frames
        else:
            best = max(f.confidence for f in same)
            out.append(f"{name} {best:.2f}" if len(same) == 1
                       else f"{len(same)} × {name} (max {best:.2f})")
    return out
