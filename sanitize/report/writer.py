"""Write OUT/report.json and OUT/report.html from a list of FileResults.

Both are written to a temp name and renamed, so a reader never sees half a report.
The HTML shows thumbnails made from the sanitized OUTPUT (never the original),
with the boxes of flagged findings drawn on them, and is escaped throughout by
Jinja2's autoescape (file names are user data)."""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from PIL import Image, ImageDraw

from sanitize import __version__
from sanitize.config import Settings
from sanitize.policy import load_policy
from sanitize.summary import why
from sanitize.types import FileResult, Status

THUMB = 240  # shown at 160 px; 1.5x for sharp high-density screens
# The review page's Devanagari font (Noto Sans Devanagari, OFL), embedded in report.html
# when it shows Hindi, so the clause texts render on a machine with no Hindi font.
DEVANAGARI_FONT = (Path(__file__).parents[1] / "review" / "static" / "fonts"
                   / "NotoSansDevanagari-Regular.woff2")
_env = Environment(loader=PackageLoader("sanitize.report", "templates"),
                   autoescape=select_autoescape(["html", "j2"]))


def write_reports(out_root: Path, results: list[FileResult], models: list[str],
                  settings: Settings | None = None, review_url: str | None = None) -> None:
    """`settings`: the run's own (recorded in both reports); default settings if None.
    `review_url`, when the review page runs, adds links to it from each row."""
    out_root.mkdir(parents=True, exist_ok=True)
    settings = settings or Settings()
    ordered = sorted(results, key=lambda r: r.input)
    counts = Counter(r.status.value for r in ordered)
    doc = {
        "tool": {"name": "sanitize", "version": __version__},
        "generated": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "summary": {s.value: counts.get(s.value, 0) for s in Status} | {"total": len(ordered)},
        "settings": settings.describe(),
        "models": models,
        "files": [r.to_json() for r in ordered],
    }
    _atomic_write(out_root / "report.json", json.dumps(doc, ensure_ascii=False, indent=1))
    policy = load_policy(settings.policy_file)
    cited = {c for r in ordered for f in r.findings for c in f.clauses}
    legend = [policy.clauses[c] for c in sorted(cited, key=_clause_order) if c in policy.clauses]
    html = _env.get_template("report.html.j2").render(
        doc=doc, rows=[_row(out_root, r) for r in ordered], legend=legend,
        review_url=review_url, devanagari_font=_font_data_uri() if legend else None,
    )
    _atomic_write(out_root / "report.html", html)


def _font_data_uri() -> str | None:
    try:
        data = DEVANAGARI_FONT.read_bytes()
    except OSError:  # a broken install: the report still works, Hindi may show boxes
        return None
    return "data:font/woff2;base64," + base64.b64encode(data).decode()


_RANK = {Status.REVIEW: "0", Status.ERROR: "1", Status.SAFE: "2"}  # status sort: work first


def _row(out_root: Path, r: FileResult) -> dict[str, Any]:
    return {
        "r": r,
        "rank": _RANK.get(r.status, "3"),
        "why": why(r),
        "lines": _lines(r),
        "thumb": _thumbnail(out_root, r),
    }


def _lines(r: FileResult) -> list[str]:
    """The findings folded under the why line: each flag in full, one line per
    masked kind (a crowd gives dozens of faces), metadata classes in one line.
    Clauses by number only: their text is in the legend once."""
    out: list[str] = []
    masked = Counter(f.kind for f in r.findings if f.action == "blurred" and not f.blocking)
    for f in r.findings:
        if (f.action == "blurred" and not f.blocking) or f.kind.startswith("metadata:"):
            continue
        where = ""
        if f.t_start is not None:
            where = f" · {f.t_start:.1f}–{(f.t_end or f.t_start):.1f} s"
        elif f.box:
            where = f" · box {f.box}"
        out.append(f"{f.kind} · {f.action} · {f.confidence:.2f}{where} · {_cl(f.clauses)}"
                   + (f" · {f.detail}" if f.detail else ""))
    clauses_of = {f.kind: f.clauses for f in r.findings}
    for kind, n in sorted(masked.items()):
        out.append(f"{kind} × {n} · masked · {_cl(clauses_of[kind])}")
    removed = sorted({m.cls for m in r.metadata_removed})
    if removed:
        out.append(f"metadata removed: {', '.join(removed)} · cl. 29")
    return out


def _cl(clauses: tuple[str, ...]) -> str:
    return "cl. " + ", ".join(clauses) if clauses else ""


def _clause_order(number: str) -> tuple[int, str]:
    digits = "".join(ch for ch in number if ch.isdigit())
    return (int(digits) if digits else 10**6, number)


def _thumbnail(out_root: Path, r: FileResult) -> str | None:
    """A small JPEG data URI of the sanitized output with flagged boxes drawn."""
    if not r.output:
        return None
    path = out_root / r.output
    try:
        im = _first_picture(path)
    except Exception:  # noqa: BLE001 — a missing thumbnail must not break the report
        return None
    scale = THUMB / max(im.size)
    size = (max(1, round(im.width * scale)), max(1, round(im.height * scale)))
    im = im.convert("RGB").resize(size)
    draw = ImageDraw.Draw(im)
    for f in r.findings:
        if f.box and f.action == "flagged":
            x1, y1, x2, y2 = (v * scale for v in f.box)
            draw.rectangle([x1, y1, x2, y2], outline=(255, 40, 40), width=2)
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()


def _first_picture(path: Path) -> Image.Image:
    if path.suffix.lower() == ".mp4":
        import av

        with av.open(str(path)) as c:
            frame = next(c.decode(video=0))
            return frame.to_image()
    with Image.open(path) as im:
        im.load()
        return im.copy()


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
