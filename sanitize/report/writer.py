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

from jinja2 import Environment, PackageLoader, select_autoescape
from PIL import Image, ImageDraw

from sanitize import __version__
from sanitize.config import Settings
from sanitize.policy import load_policy
from sanitize.types import FileResult, Status

THUMB = 320
_env = Environment(loader=PackageLoader("sanitize.report", "templates"),
                   autoescape=select_autoescape(["html", "j2"]))


def write_reports(out_root: Path, results: list[FileResult], models: list[str],
                  settings: Settings | None = None) -> None:
    """`settings`: the run's own (recorded in both reports); default settings if None."""
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
    html = _env.get_template("report.html.j2").render(
        doc=doc, rows=[_row(out_root, r) for r in ordered], clauses=policy.clauses,
    )
    _atomic_write(out_root / "report.html", html)


def _row(out_root: Path, r: FileResult) -> dict:
    visual = [f for f in r.findings if not f.kind.startswith("metadata:")]
    # A crowd gives dozens of face findings: one line per blurred kind, each flag in full.
    blurred = Counter(f.kind for f in visual if f.action == "blurred")
    clauses_of = {f.kind: f.clauses for f in visual}
    return {
        "r": r,
        "thumb": _thumbnail(out_root, r),
        "metadata": sorted({m.cls for m in r.metadata_removed}),
        "blurred": [(k, n, clauses_of[k]) for k, n in sorted(blurred.items())],
        "flags": [f for f in visual if f.action != "blurred"],
    }


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
