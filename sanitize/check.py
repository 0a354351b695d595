"""The pre-upload gate: is this file safe to post exactly as it is?  Read-only.

The same questions the pipeline's final re-check asks of a written file, asked of
any file: does it carry anything beyond pixels (allowlist), is any face or number
plate visible, does any policy flag fire."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field, replace
from pathlib import Path

from sanitize.config import Settings
from sanitize.detect.registry import get_detectors
from sanitize.errors import SanitizeError
from sanitize.hashing import sha256_file
from sanitize.ledger import LEDGER_NAME
from sanitize.media import images
from sanitize.media.metadata import residual
from sanitize.media.probe import sniff
from sanitize.policy import policy_for
from sanitize.types import Finding, MediaKind, Region

OUTPUT_DIRS = ("safe", "review")


@dataclass
class CheckResult:
    path: str
    readable: bool
    problems: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    error: str | None = None
    known: str | None = None  # why the run ledger decided, when it did
    looked: bool = True  # False: metadata already refused it, the pixels were not searched

    @property
    def safe(self) -> bool:
        return self.readable and not self.problems

    def to_json(self) -> dict:
        return {"path": self.path, "safe": self.safe, "readable": self.readable,
                "problems": self.problems, "error": self.error, "ledger": self.known,
                "pixels_searched": self.looked,
                "findings": [f.to_json() for f in self.findings]}


def check_file(path: Path, settings: Settings, ledger: Path | None = None,
               every_reason: bool = False) -> CheckResult:
    """`ledger`: the run's OUT/ledger.sqlite; by default the one of the run folder the
    file sits in (OUT/safe/… or OUT/review/…).  A file that ledger lists as written to
    safe/ (by a run or an approval) passes; a review copy never does; a file no
    ledger knows is judged by its metadata, then its pixels.

    A gate only has to refuse: a file whose metadata already makes it unsafe (most
    photos straight from a phone) is refused without searching its pixels, which
    costs 5-10x a decode; `every_reason` searches them anyway, to list every reason."""
    res = CheckResult(path=str(path), readable=True)
    known = ledger_verdict(path, ledger or find_ledger(path))
    if known is not None:
        res.problems, res.known = known
        return res
    try:
        kind, fmt = sniff(path)
        leaks = residual(path)
        if leaks:
            classes = ", ".join(sorted({m.cls for m in leaks}))
            res.problems.append(f"carries metadata beyond the pixels: {classes} (cl. 29)")
        if res.problems and not every_reason:
            res.looked = False
            return res
        detectors = get_detectors(settings)
        if kind is MediaKind.IMAGE:
            pic = images.decode(path, fmt, settings.max_pixels)
            if pic.info.rotation or pic.info.mirrored:
                res.problems.append("relies on an EXIF orientation tag (cl. 29: metadata)")
            regions = detectors.analyse(pic.rgb)
        else:
            regions = sample_regions(path, settings)
    except SanitizeError as e:
        res.readable, res.error = False, str(e)
        return res
    decision = policy_for(settings, detectors.user_classes).decide(regions)
    res.findings = decision.findings
    counts: dict[str, int] = {}
    for f in decision.findings:
        counts[f.kind] = counts.get(f.kind, 0) + 1
    for what, n in sorted(counts.items()):
        clauses = next(f.clauses for f in decision.findings if f.kind == what)
        res.problems.append(f"{n} {what} region(s) visible (cl. {', '.join(clauses)})")
    return res


def sample_regions(path: Path, settings: Settings, every_s: float = 1.0,
                   max_samples: int = 120) -> list[Region]:
    """Regions on frames sampled through a video (a gate, not a redactor: it
    only has to find that something is visible, not every frame where it is)."""
    from sanitize.media.video import decode_frames, probe_video

    info = probe_video(path, settings)
    detectors = get_detectors(settings)
    every_s = max(every_s, (info.duration_s or 0.0) / max_samples)
    out: list[Region] = []
    next_t = 0.0
    for f in decode_frames(path, long_side=1280):
        if f.t + 1e-6 < next_t:
            continue
        next_t = f.t + every_s
        inv = 1.0 / f.scale
        out += [replace(r, box=r.box.scaled(inv), frame=f.index, t_start=round(f.t, 3),
                        t_end=round(f.t + every_s, 3)) for r in detectors.analyse(f.rgb)]
    return out


def find_ledger(path: Path) -> Path | None:
    """OUT/ledger.sqlite for a file below OUT/safe/ or OUT/review/."""
    folder = _run_folder(path)
    return None if folder is None else folder[1] / LEDGER_NAME


def _run_folder(path: Path) -> tuple[str, Path] | None:
    """("safe" | "review", OUT) for a file below a run folder's safe/ or review/."""
    for parent in path.resolve().parents:
        if parent.name in OUTPUT_DIRS and (parent.parent / LEDGER_NAME).is_file():
            return parent.name, parent.parent
    return None


def ledger_verdict(path: Path, ledger: Path | None) -> tuple[list[str], str] | None:
    """(problems, why) when the ledger decides, else None (judge the pixels)."""
    if ledger is None or not ledger.is_file():
        return None
    folder = _run_folder(path)
    review_copy = ([
        "a review copy: sanitize sent it to review/ and it must not be posted as it is; "
        "approve it with `sanitize review` (the approved version goes to safe/)"],
        f"review copy (ledger {ledger})")
    if folder is not None and folder[0] == "review":
        return review_copy
    try:
        digest = sha256_file(path)
        db = sqlite3.connect(f"{ledger.resolve().as_uri()}?mode=ro", uri=True)
        try:
            rows = db.execute("SELECT output, status FROM files WHERE sha256_out = ?",
                              (digest,)).fetchall()
        finally:
            db.close()
    except (OSError, sqlite3.Error):
        return None
    if any(status == "review" or (out or "").startswith("review/") for out, status in rows):
        return review_copy
    if any(status == "safe" and (out or "").startswith("safe/") for out, status in rows):
        return [], f"written to safe/ by sanitize (ledger {ledger})"
    return None
