"""One line per file that says why it went where it went.

Read by a person scanning a report or a review queue: the blocking findings
first with their confidence, then what was masked (saying when masks were put on
low-score detections: "when unsure, blur"), then what metadata was removed.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sanitize.types import FileResult, Finding, Status

# Face detections below this score were masked because the tool was unsure; a
# person may want to know (a flower, a lamp post, bushes).
LOW_SCORE = 0.5
_PLURAL = {"face": "faces", "plate": "plates", "text": "texts"}


def why(result: FileResult) -> str:
    return render(why_parts(result))


def why_parts(result: FileResult) -> list[dict[str, Any]]:
    """The why line as items ({"key": ..., values}), so that the review page can say
    it in the reviewer's language; `render` says it in English (reports, ledger)."""
    if result.status is Status.ERROR:
        return [{"key": "error", "text": result.error or "error"}]
    parts = _flags([f for f in result.findings if f.blocking])
    blurred = [f for f in result.findings if f.action == "blurred"]
    counts = Counter(f.kind for f in blurred)
    for kind, n in sorted(counts.items()):
        low = sum(1 for f in blurred if f.kind == kind and f.confidence < LOW_SCORE)
        parts.append({"key": "masked", "kind": kind, "n": n, "low": low})
    removed = sorted({m.cls for m in result.metadata_removed})
    if removed:
        parts.append({"key": "removed", "classes": removed})
    return parts or [{"key": "nothing"}]


def render(parts: list[dict[str, Any]]) -> str:
    """The why line in English, one item after the other, repeats dropped."""
    return " · ".join(dict.fromkeys(_english(p) for p in parts))


def _english(p: dict[str, Any]) -> str:
    key = p["key"]
    if key == "masked":
        n, kind = p["n"], p["kind"]
        text = f"{n} {kind if n == 1 else _PLURAL.get(kind, kind + 's')} masked"
        return text + (f" ({p['low']} low-score: unsure, masked anyway)" if p["low"] else "")
    if key == "flag":
        name = p["kind"].replace("_", " ")
        return (f"{name} {p['max']:.2f}" if p["n"] == 1
                else f"{p['n']} × {name} (max {p['max']:.2f})")
    if key == "flag_masked":  # e.g. plates found on sampled video frames
        return f"{p['kind'].replace('_', ' ')} masked, check it"
    if key == "metadata":
        return f"{p['name']} in metadata"
    if key == "removed":
        return "removed: " + ", ".join(p["classes"])
    if key == "officers":
        return f"{p['n']} officer?"
    if key == "approved":
        return f"approved by {p['by']}"
    if key == "error":
        return str(p["text"])
    return "nothing to mask or remove"


def _flags(blocking: list[Finding]) -> list[dict[str, Any]]:
    """One item per kind: the highest confidence, and how many when several."""
    out: list[dict[str, Any]] = []
    for kind in dict.fromkeys(f.kind for f in blocking):
        same = [f for f in blocking if f.kind == kind]
        if kind.startswith("metadata:"):
            out.append({"key": "metadata", "name": kind.split(":", 1)[1]})
        elif all(f.action == "blurred" for f in same):
            out.append({"key": "flag_masked", "kind": kind})
        else:
            out.append({"key": "flag", "kind": kind, "n": len(same),
                        "max": round(max(f.confidence for f in same), 2)})
    return out
