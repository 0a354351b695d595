"""The flow of one file, top to bottom:

    probe → decode → analyse → decide (→ plan) → render(plan, decisions) → route
                                                  = redact → encode → verify

`process_file` never raises for a bad file: every failure becomes an ERROR result
with a one-line reason and no output.  An output reaches safe/ or review/ only
after the written bytes were re-opened and re-checked (fail closed).  The plan
(sanitize/plan.py) travels back with the result and is stored in the ledger, so
the review workstation can call the same `render` later, from the original,
with a reviewer's decisions.
"""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from sanitize import __version__, planning
from sanitize.config import Settings
from sanitize.detect.faces import PassMemo
from sanitize.detect.registry import Detectors, get_detectors
from sanitize.errors import SanitizeError
from sanitize.hashing import sha256_file
from sanitize.media import images
from sanitize.media.metadata import inventory
from sanitize.media.probe import sniff
from sanitize.naming import output_rel
from sanitize.plan import Decisions, Problem, RenderPlan, Track
from sanitize.policy import needs_review, policy_for
from sanitize.render import TMP_DIR, render
from sanitize.types import FileResult, Finding, MediaKind, Region, Status

__all__ = ["TMP_DIR", "process_file"]


def process_file(src: Path, rel: Path, out_root: Path, settings: Settings,
                 progress: Callable[[int], None] | None = None) -> FileResult:
    """`progress`, if given, is called with the number of video frames analysed."""
    started = time.monotonic()
    result = FileResult(input=rel.as_posix(), status=Status.ERROR)
    tmp: Path | None = None
    try:
        result.sha256_in = sha256_file(src)
        kind, fmt = sniff(src)                                              # probe
        detectors = get_detectors(settings)
        result.models = detectors.model_labels()
        if kind is MediaKind.IMAGE:
            tmp, out_fmt = _image_job(src, fmt, out_root, settings, detectors, result)
        else:
            tmp, out_fmt = _video_job(src, fmt, out_root, settings, detectors, result, progress)
        _route(tmp, rel, out_fmt, out_root, result)                         # route
        tmp = None
    except SanitizeError as e:
        result.status, result.error, result.output = Status.ERROR, str(e), None
    except OSError as e:
        # Vanished files, symlink loops, permissions, a full disk: the user can act on
        # the OS's own words, a traceback would not help them.
        result.status, result.output = Status.ERROR, None
        where = Path(e.filename).name if e.filename else rel.name
        result.error = f"cannot read or write {where}: {e.strerror or e}"
    except Exception as e:  # noqa: BLE001 — fail closed: a bug must cost one file, not the batch
        result.status, result.output = Status.ERROR, None
        result.error = f"internal error ({type(e).__name__}: {str(e)[:200]})"
        _log_internal(out_root, rel, traceback.format_exc())
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        result.seconds = time.monotonic() - started
    return result


def _image_job(src: Path, fmt: str, out_root: Path, settings: Settings,
               detectors: Detectors, result: FileResult) -> tuple[Path, str]:
    metadata = inventory(src)
    pic = images.decode(src, fmt, settings.max_pixels)                      # decode
    result.media = pic.info
    result.metadata_removed = metadata
    out_fmt = images.output_format(fmt, pic.alpha is not None)
    # The pixels as the output will store them: where no mask goes the written file
    # decodes to exactly these, so the re-check need not search there again.
    seen = images.as_written(pic.rgb, pic.alpha, out_fmt, settings.jpeg_quality,
                             settings.max_pixels)
    memo = PassMemo()
    regions, near = detectors.analyse_with_near(seen, memo)                  # analyse
    # Near misses are masked at once (when unsure, blur): a mask next to them could
    # tip them over, and then the re-check would cost another round.
    regions += near
    policy = policy_for(settings, detectors.user_classes)
    decision = policy.decide(regions, metadata)                              # decide
    plan = planning.plan_image(planning.new_plan(                           # → plan
        Path(result.input), src, result.sha256_in or "", pic.info, out_fmt, settings),
        decision.blur, regions, policy)
    rendered = render(plan, Decisions(), out_root, detectors.faces,         # redact → encode
                      src=src, pic=pic, memo=memo)                           # → verify
    findings = list(decision.findings)
    findings += policy.decide([_region(t) for t in rendered.extra]).findings
    findings += _faces_after_redaction(rendered.problems)
    _finish(result, plan, findings)
    return rendered.path, out_fmt


def _video_job(src: Path, fmt: str, out_root: Path, settings: Settings,
               detectors: Detectors, result: FileResult,
               progress: Callable[[int], None] | None) -> tuple[Path, str]:
    from sanitize import video_stages
    from sanitize.media.video import probe_video

    info = probe_video(src, settings)                                        # probe + decode
    result.media = info
    result.metadata_removed = inventory(src)
    analysis = video_stages.analyse_video(                                   # analyse (pass 1)
        src, info, detectors.video_faces, settings, progress=progress,
        frame_flags=detectors.flags,
    )
    policy = policy_for(settings, detectors.user_classes)
    decision = policy.decide(analysis.faces + analysis.flags,                # decide
                             result.metadata_removed)
    plan = planning.plan_video(planning.new_plan(                           # → plan
        Path(result.input), src, result.sha256_in or "", info, "mp4", settings),
        analysis.plan, analysis.faces, [r for r in decision.blur if r.kind != "face"],
        analysis.flags, policy)
    rendered = render(plan, Decisions(), out_root, detectors.faces, src=src)  # redact + encode
    findings = [_sampled_blur_needs_review(f) for f in decision.findings]   # → verify
    findings += _faces_after_redaction(rendered.problems)
    _finish(result, plan, findings)
    return rendered.path, "mp4"


def _finish(result: FileResult, plan: RenderPlan, findings: list[Finding]) -> None:
    """Findings, flags and status: the one place that decides "needs review"."""
    plan.add_flags(findings)
    result.findings = findings
    result.plan = plan
    result.status = Status.REVIEW if needs_review(findings) else Status.SAFE


def _faces_after_redaction(problems: list[Problem]) -> list[Finding]:
    """Faces the re-check of the written file still found: a person must look."""
    if not problems:
        return []
    return [Finding(
        kind="face_after_redaction", clauses=("27", "30"),
        confidence=round(max(p.score for p in problems), 3), action="flagged", blocking=True,
        box=problems[0].box.as_list() if problems[0].box else None,
        t_start=problems[0].t,
        detail=("the re-check still found a face after masking; a person must look: "
                + "; ".join(p.detail for p in problems))[:500],
    )]


def _sampled_blur_needs_review(f: Finding) -> Finding:
    """Plates in video are found on one frame per second only, so their masks may
    miss a moving car between samples: a person must look (fail closed)."""
    if f.action == "blurred" and f.kind != "face":
        return replace(f, blocking=True,
                       detail=(f.detail + " · found on sampled frames; check between").strip())
    return f


def _region(t: Track) -> Region:
    return Region(t.kind, t.best_box(), t.score, t.detector, label=t.label)


def _route(tmp: Path, rel: Path, out_fmt: str, out_root: Path, result: FileResult) -> None:
    """Atomic publish: the temp file is renamed into safe/ or review/ (same file
    system, so os.replace is atomic); a stale copy in the other folder is removed
    so an input never appears twice.  Only an explicit SAFE or REVIEW is published:
    any other status is a bug upstream, and failing closed means no output."""
    if result.status is Status.SAFE:
        folder, other = "safe", "review"
    elif result.status is Status.REVIEW:
        folder, other = "review", "safe"
    else:
        raise SanitizeError(f"internal error: no route for status {result.status!r}; "
                            "output withheld")
    out_rel = output_rel(rel, images.EXTENSION.get(out_fmt, ".mp4"))
    dst = out_root / folder / out_rel
    dst.parent.mkdir(parents=True, exist_ok=True)
    result.sha256_out = sha256_file(tmp)
    os.replace(tmp, dst)
    (out_root / other / out_rel).unlink(missing_ok=True)
    result.output = (Path(folder) / out_rel).as_posix()


def _log_internal(out_root: Path, rel: Path, tb: str) -> None:
    try:
        with open(out_root / "internal-errors.log", "a", encoding="utf-8") as f:
            f.write(f"--- {rel.as_posix()} (sanitize {__version__})\n{tb}\n")
    except OSError:
        pass
