"""The flow of one file, top to bottom:

    probe → decode → analyse → decide → redact → encode → verify → route

`process_file` never raises for a bad file: every failure becomes an ERROR result
with a one-line reason and no output.  An output reaches safe/ or review/ only
after the written bytes were re-opened and re-checked (fail closed).
"""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from sanitize import __version__
from sanitize.config import Settings
from sanitize.detect.base import sha256_file
from sanitize.detect.registry import Detectors, get_detectors
from sanitize.errors import SanitizeError, VerifyError
from sanitize.media import images
from sanitize.media.metadata import inventory, residual
from sanitize.media.probe import sniff
from sanitize.naming import output_rel
from sanitize.policy import Decision
from sanitize.redact import cover_box, mask_boxes
from sanitize.types import Box, FileResult, Finding, MediaKind, Region, Status

TMP_DIR = ".tmp"
# Faces the verifier finds in the written file are masked and the file re-encoded;
# after this many rounds the file goes to review instead of safe.
_VERIFY_ROUNDS = 2


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
    regions = detectors.analyse(pic.rgb)                                     # analyse
    decision = detectors.policy(settings).decide(regions, metadata)  # decide
    out_fmt = images.output_format(fmt, pic.alpha is not None)
    tmp = _temp_path(out_root, images.EXTENSION[out_fmt])
    blur = list(decision.blur)
    findings = list(decision.findings)
    for round_ in range(_VERIFY_ROUNDS + 1):
        redacted = _redact(pic.rgb.copy(), blur, settings)                  # redact
        images.encode(redacted, pic.alpha, out_fmt, tmp, settings.jpeg_quality)  # encode
        leftover = _verify_image(tmp, out_fmt, settings, detectors)         # verify
        if not leftover:
            break
        if round_ == _VERIFY_ROUNDS:
            findings.append(Finding(
                kind="face_after_redaction", clauses=("27", "30"), confidence=max(
                    r.score for r in leftover), action="flagged", blocking=True,
                box=leftover[0].box.as_list(),
                detail="the re-check still found a face after masking; a person must look",
            ))
            break
        # A face only the re-check saw (JPEG re-compression can tip a borderline
        # score): mask it too and write again.  When unsure, blur.
        blur.extend(leftover)
        findings.extend(detectors.policy(settings).decide(leftover).findings)
    result.findings = findings
    result.status = Status.REVIEW if Decision(blur, findings).needs_review else Status.SAFE
    return tmp, out_fmt


def _video_job(src: Path, fmt: str, out_root: Path, settings: Settings,
               detectors: Detectors, result: FileResult,
               progress: Callable[[int], None] | None) -> tuple[Path, str]:
    from sanitize import video_stages
    from sanitize.media.video import probe_video

    info = probe_video(src, settings)                                        # probe + decode
    result.media = info
    metadata = inventory(src)
    analysis = video_stages.analyse_video(                                   # analyse (pass 1)
        src, info, detectors.video_faces, settings, progress=progress,
        frame_flags=lambda rgb: [r for r in detectors.analyse(rgb) if r.kind != "face"],
    )
    decision = detectors.policy(settings).decide(                           # decide
        analysis.faces + analysis.flags, metadata)
    sampled = [r for r in decision.blur if r.kind != "face"]
    findings = [_sampled_blur_needs_review(f) for f in decision.findings]
    tmp = _temp_path(out_root, ".mp4")
    masks = _FaceTracksAndSampledMasks(analysis, sampled, info.width, info.height)
    video_stages.redact_video(src, tmp, masks, settings)                     # redact + encode
    problems = video_stages.verify_video(info, tmp, detectors.faces, analysis, settings)
    faces_seen = [p for p in problems if p.startswith("face visible")]       # verify
    if len(faces_seen) != len(problems):
        raise VerifyError("written video failed the re-check: " + "; ".join(
            p for p in problems if p not in faces_seen))
    if faces_seen:
        findings.append(Finding(
            kind="face_after_redaction", clauses=("27", "30"), confidence=1.0,
            action="flagged", blocking=True, detail="; ".join(faces_seen)[:500]))
    result.metadata_removed = metadata
    result.findings = findings
    result.status = Status.REVIEW if any(f.blocking for f in findings) else Status.SAFE
    return tmp, "mp4"


def _sampled_blur_needs_review(f: Finding) -> Finding:
    """Plates in video are found on one frame per second only, so their masks may
    miss a moving car between samples: a person must look (fail closed)."""
    if f.action == "blurred" and f.kind != "face":
        return replace(f, blocking=True,
                       detail=(f.detail + " · found on sampled frames; check between").strip())
    return f


class _FaceTracksAndSampledMasks:
    """Pass 2's masks: face tracks on every frame, plus regions found on sampled
    frames (plates) held for ±SAMPLE_HOLD_S around their sample, grown for motion."""

    SAMPLE_HOLD_S = 0.6

    def __init__(self, analysis, sampled: list[Region], width: int, height: int) -> None:
        self._analysis = analysis
        self.frames = analysis.frames
        self._times = analysis.plan.times
        self._sampled = [
            (r.t_start - self.SAMPLE_HOLD_S, (r.t_end or r.t_start) + self.SAMPLE_HOLD_S,
             cover_box(r.kind, Box(r.box.x1 - 0.25 * r.box.w, r.box.y1 - 0.25 * r.box.h,
                                   r.box.x2 + 0.25 * r.box.w, r.box.y2 + 0.25 * r.box.h),
                       width, height))
            for r in sampled if r.t_start is not None
        ]

    def boxes_for_frame(self, index: int) -> list[Box]:
        boxes = self._analysis.boxes_for_frame(index)
        if self._sampled:
            t = self._times[index]
            boxes = boxes + [b for start, end, b in self._sampled if start <= t <= end]
        return boxes


def _redact(rgb, regions: list[Region], settings: Settings):
    h, w = rgb.shape[:2]
    boxes = [cover_box(r.kind, r.box, w, h) for r in regions]
    return mask_boxes(rgb, boxes, settings.mask)


def _verify_image(path: Path, fmt: str, settings: Settings, detectors: Detectors) -> list[Region]:
    """Re-open the written file: its metadata must be empty and no face visible.
    Returns faces still found (the caller masks them); raises VerifyError for
    anything that cannot be fixed by masking."""
    leaks = residual(path)
    if leaks:
        names = ", ".join(sorted({f"{m.cls}:{m.name or m.where}" for m in leaks}))
        raise VerifyError(f"written file still carries metadata ({names}); output withheld")
    pic = images.decode(path, fmt, settings.max_pixels)
    return detectors.faces.detect(pic.rgb)


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


def _temp_path(out_root: Path, ext: str) -> Path:
    d = out_root / TMP_DIR
    d.mkdir(parents=True, exist_ok=True)
    import tempfile

    fd, name = tempfile.mkstemp(prefix="part-", suffix=ext, dir=d)
    os.close(fd)
    return Path(name)


def _log_internal(out_root: Path, rel: Path, tb: str) -> None:
    try:
        with open(out_root / "internal-errors.log", "a", encoding="utf-8") as f:
            f.write(f"--- {rel.as_posix()} (sanitize {__version__})\n{tb}\n")
    except OSError:
        pass
