"""render(plan, decisions) = redact → encode → verify, always from the original.

The pipeline calls it right after the decide step with no decisions; the review
workstation calls it again for an approval with a reviewer's decisions.  Both go
through the same masks, the same encoders and the same re-check of the written
file, so an approved file is held to the same bar as one a run wrote.
"""

from __future__ import annotations

import os
import tempfile
from bisect import bisect_right
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sanitize.config import TMP_DIR, Settings
from sanitize.detect.faces import FaceDetector, PassMemo
from sanitize.detect.tracking import MaskPlan, Sightings
from sanitize.errors import VerifyError
from sanitize.geometry import cover_box
from sanitize.media import images
from sanitize.media.metadata import residual
from sanitize.plan import (
    BLUR,
    KEEP,
    KEYFRAMES,
    SAMPLED,
    STILL,
    TRACKED,
    Decisions,
    Problem,
    RenderPlan,
    Track,
)
from sanitize.policy import load_policy
from sanitize.redact import core_share, mask_boxes
from sanitize.types import Box, MediaKind, Region

# Faces the re-check finds in a written picture are masked and the file written
# again; after this many rounds what is still found goes back to the caller.
# Rounds after the first are cheap (PassMemo: only changed inputs re-run).
VERIFY_ROUNDS = 4
# Regions found on sampled video frames (plates, one frame per second) are held
# this long around their sample and grown by a quarter for motion.
SAMPLE_HOLD_S = 0.6
SAMPLE_GROW = 0.25
REVIEWER = "reviewer"  # detector name of boxes a person added
# A face the re-check finds is "kept" (expected) when this share of it lies in a kept box.
KEPT_SHARE = 0.5


@dataclass
class Rendered:
    path: Path  # the written file, in OUT/.tmp (the caller routes it)
    problems: list[Problem] = field(default_factory=list)  # faces still found, not kept
    extra: list[Track] = field(default_factory=list)  # faces only the re-check saw, now masked


# ------------------------------------------------------------------ masks


class PlanMasks:
    """The `MaskSource` of a plan under decisions: every track a person has not
    kept, plus the boxes they added.  Where a kept face overlaps a blurred one
    the blurred box is still masked in full: blur wins (fail closed)."""

    def __init__(self, plan: RenderPlan, decisions: Decisions) -> None:
        self.frames = plan.frames
        self._times = plan.frame_times
        t = plan.frame_times
        self.duration_s = t[-1] + ((t[-1] - t[-2]) if len(t) > 1 else 1 / 30)
        # A reviewer's own box "kept" is a box they took back: neither masked nor kept.
        blurred = [tr for tr in [*plan.tracks, *decisions.added] if decisions.action(tr) == BLUR]
        kept = [tr for tr in plan.tracks if decisions.action(tr) == KEEP]
        self._blur = MaskLayer(plan, blurred)
        self._keep = MaskLayer(plan, kept)

    def boxes_for_frame(self, index: int) -> list[Box]:
        return self._blur.boxes(index)

    def kept_boxes_for_frame(self, index: int) -> list[Box]:
        return self._keep.boxes(index)

    def frame_at(self, t: float) -> int:
        return max(0, min(self.frames - 1, bisect_right(self._times, t + 1e-6) - 1))

    def is_kept(self, p: Problem) -> bool:
        """A face the re-check found inside a box a reviewer kept is expected."""
        if p.box is None or p.box.area <= 0:
            return False
        frame = 0 if p.t is None else self.frame_at(p.t)
        return any(_inter(p.box, k) >= KEPT_SHARE * p.box.area
                   for k in self.kept_boxes_for_frame(frame))


class MaskLayer:
    """Boxes per frame for a set of tracks: face tracks through the face tracker's
    own plan (interpolated, held, grown exactly as in the run), the rest here."""

    def __init__(self, plan: RenderPlan, tracks: list[Track]) -> None:
        self._w, self._h = plan.media.width, plan.media.height
        self._times = plan.frame_times
        faces = [tr for tr in tracks if tr.motion == TRACKED]
        self._faces = MaskPlan.from_sightings(
            self._w, self._h, plan.frame_times,
            [Sightings(tr.track_no if tr.track_no is not None else k, sorted(tr.boxes),
                       [tr.boxes[i] for i in sorted(tr.boxes)],
                       [tr.scores.get(i, 0.0) for i in sorted(tr.boxes)])
             for k, tr in enumerate(faces)],
            plan.extend_s, plan.analysed, plan.min_span_s) if faces else None
        self._others = [tr for tr in tracks if tr.motion != TRACKED]

    def boxes(self, index: int) -> list[Box]:
        out = self._faces.boxes_for_frame(index) if self._faces is not None else []
        t = self._times[index]
        for tr in self._others:
            box = self._box_at(tr, index, t)
            if box is not None and box.w > 0 and box.h > 0:
                out.append(box)
        return out

    def _box_at(self, tr: Track, index: int, t: float) -> Box | None:
        kind = "added" if tr.detector == REVIEWER else tr.kind  # drawn boxes: a small margin
        if tr.motion == STILL:
            b = tr.boxes.get(index)
            return None if b is None else cover_box(kind, b, self._w, self._h)
        if tr.motion == SAMPLED:
            start = (tr.t_start or 0.0) - SAMPLE_HOLD_S
            end = (tr.t_end if tr.t_end is not None else tr.t_start or 0.0) + SAMPLE_HOLD_S
            if not start <= t <= end:
                return None
            b = next(iter(tr.boxes.values()))
            g = SAMPLE_GROW
            return cover_box(kind, Box(b.x1 - g * b.w, b.y1 - g * b.h, b.x2 + g * b.w,
                                       b.y2 + g * b.h), self._w, self._h)
        if tr.motion == KEYFRAMES:
            t0 = tr.t_start if tr.t_start is not None else -1e9
            t1 = tr.t_end if tr.t_end is not None else 1e9
            if not t0 - 1e-6 <= t <= t1 + 1e-6 or not tr.boxes:
                return None
            return cover_box(kind, _interpolate(tr, t, self._times), self._w, self._h)
        return None


def _interpolate(tr: Track, t: float, times: list[float]) -> Box:
    """A keyframed box at time t: linear between the keyframes around t, held outside."""
    keys = sorted(tr.boxes)
    kt = [times[min(k, len(times) - 1)] for k in keys]
    j = bisect_right(kt, t)
    if j == 0:
        return tr.boxes[keys[0]]
    if j == len(keys):
        return tr.boxes[keys[-1]]
    a, b = tr.boxes[keys[j - 1]], tr.boxes[keys[j]]
    u = (t - kt[j - 1]) / max(kt[j] - kt[j - 1], 1e-9)
    return Box(a.x1 + (b.x1 - a.x1) * u, a.y1 + (b.y1 - a.y1) * u,
               a.x2 + (b.x2 - a.x2) * u, a.y2 + (b.y2 - a.y2) * u)


def _inter(a: Box, b: Box) -> float:
    return (max(0.0, min(a.x2, b.x2) - max(a.x1, b.x1))
            * max(0.0, min(a.y2, b.y2) - max(a.y1, b.y1)))


# ------------------------------------------------------------------ render


def render(plan: RenderPlan, decisions: Decisions, out_root: Path, face_detector: Any,
           src: Path | None = None, pic: images.Picture | None = None,
           memo: PassMemo | None = None) -> Rendered:
    """Write the output of `plan` under `decisions` into OUT/.tmp and re-check it.

    Raises VerifyError when the written file fails a check that masking cannot fix
    (metadata, streams, frame count …); faces still found come back as problems."""
    src = src or Path(plan.source)
    if plan.media.kind is MediaKind.IMAGE:
        return _render_image(plan, decisions, out_root, face_detector, src, pic, memo)
    return _render_video(plan, decisions, out_root, face_detector, src)


def _render_image(plan: RenderPlan, decisions: Decisions, out_root: Path, face_detector: Any,
                  src: Path, pic: images.Picture | None, memo: PassMemo | None) -> Rendered:
    settings = plan.run_settings()
    pic = pic or images.decode(src, plan.media.format, settings.max_pixels)        # decode
    out = Rendered(temp_path(out_root, images.EXTENSION[plan.out_format]))
    # The re-check re-runs the models only on inputs whose pixels changed since the
    # analysis (given its memo: it searched the pixels as they would be written,
    # images.as_written) or since the previous round.
    if memo is None and isinstance(face_detector, FaceDetector):
        memo = PassMemo()
    redacted, masked = pic.rgb, list[Box]()
    try:
        for round_ in range(VERIFY_ROUNDS + 1):
            masks = PlanMasks(plan, decisions)
            boxes = masks.boxes_for_frame(0)
            redacted = _masked(pic.rgb, redacted, masked, boxes, settings.mask)   # redact
            images.encode(redacted, pic.alpha, plan.out_format, out.path,         # encode
                          settings.jpeg_quality)
            written = _reopen(out.path, plan.out_format, settings).rgb            # verify
            found = recheck_faces(face_detector, written, memo)
            faces = [r for r in found if not _on_masks(r.box, boxes, settings.mask, written)]
            out.problems = _fixable(_face_problems(faces), masks)
            if not out.problems or round_ == VERIFY_ROUNDS:
                break
            # A face only the re-check saw (a mask next to it changed what the
            # detector sees there): mask it too and write again.  When unsure, blur.
            masked = boxes
            for p in out.problems:
                new = _recheck_track(plan, p, settings)
                plan.tracks.append(new)
                out.extra.append(new)
    except BaseException:
        out.path.unlink(missing_ok=True)
        raise
    return out


def _masked(rgb: np.ndarray, last: np.ndarray, last_boxes: list[Box], boxes: list[Box],
            mode: str) -> np.ndarray:
    """`rgb` with `boxes` masked.  Masks composite in order, so when `boxes` only
    appends to what `last` was masked with, masking the new ones on top of `last`
    gives the same pixels for a fraction of the cost."""
    if last_boxes and boxes[:len(last_boxes)] == last_boxes:
        return mask_boxes(last.copy(), boxes[len(last_boxes):], mode)
    return mask_boxes(rgb.copy(), boxes, mode)


def _render_video(plan: RenderPlan, decisions: Decisions, out_root: Path, face_detector: Any,
                  src: Path) -> Rendered:
    from sanitize import video_stages

    settings = plan.run_settings()
    masks = PlanMasks(plan, decisions)
    out = Rendered(temp_path(out_root, ".mp4"))
    try:
        video_stages.redact_video(src, out.path, masks, settings,                  # redact + encode
                                  mutes=decisions.mutes)
        out.problems = _fixable(video_stages.verify_video(                          # verify
            plan.media, out.path, face_detector, masks, settings), masks)
    except BaseException:
        out.path.unlink(missing_ok=True)
        raise
    return out


def _reopen(path: Path, fmt: str, settings: Settings) -> images.Picture:
    """The written file decoded again; VerifyError when it still carries metadata."""
    leaks = residual(path)
    if leaks:
        names = ", ".join(sorted({f"{m.cls}:{m.name or m.where}" for m in leaks}))
        raise VerifyError(f"written file failed the re-check: still carries metadata "
                          f"({names}); output withheld")
    return images.decode(path, fmt, settings.max_pixels)


def _face_problems(found: list[Region]) -> list[Problem]:
    return [Problem("face", f"face visible in output (score {r.score:.2f}, box "
                            f"{r.box.as_list()})", box=r.box, score=float(r.score))
            for r in found]


def recheck_faces(face_detector: Any, rgb: Any, memo: PassMemo | None = None) -> list[Region]:
    """Faces in a written picture: the pictures' detector over the whole picture;
    with `memo` the models re-run only on inputs whose pixels changed since the
    analysis or the previous round.

    Searching only round the masks plus a downscaled whole pass was measured and
    dropped: on a 12 MP crowd the windows cover 89 % of the picture and cost more
    than the tiles (1.03 s against 0.90 s), and on sparser pictures the crops'
    narrower context let blobs of masks through that a search of the whole
    picture finds (graduation_group: 1 of 57)."""
    if memo is not None:
        return list(face_detector.detect_all(rgb, memo=memo).faces)
    return list(face_detector.detect(rgb))


# A re-check detection lying this much in pixels the masks replaced entirely
# has found the masks, not a face (the int8 detector fires on some blurred
# ovals at 0.25-0.4); as does one mostly on masks that holds two or more whole
# masks (neighbouring masked heads seen together as one large "face").
ON_MASKS = 0.8
ON_MASKS_GROUP = 0.5


def _on_masks(box: Box, masks: list[Box], mode: str, rgb: np.ndarray) -> bool:
    h, w = rgb.shape[:2]
    share = core_share(box, masks, mode, w, h)
    if share >= ON_MASKS:
        return True
    whole = sum(1 for m in masks if _inter(m, box) >= 0.95 * m.area)
    return share >= ON_MASKS_GROUP and whole >= 2


def _fixable(problems: list[Problem], masks: PlanMasks) -> list[Problem]:
    """Raise for what masking cannot fix; return the faces no reviewer kept."""
    hard = [p for p in problems if p.kind != "face"]
    if hard:
        raise VerifyError("written file failed the re-check: "
                          + "; ".join(p.detail for p in hard) + "; output withheld")
    return [p for p in problems if not masks.is_kept(p)]


def _recheck_track(plan: RenderPlan, p: Problem, settings: Settings) -> Track:
    assert p.box is not None
    clauses = load_policy(settings.policy_file).rule("face").clauses
    return Track(plan.next_track_id(), "face", {0: p.box}, {0: float(p.score)}, "faces",
                 STILL, clauses=clauses, label="face (found by the re-check)")


def temp_path(out_root: Path, ext: str) -> Path:
    d = out_root / TMP_DIR
    d.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix="part-", suffix=ext, dir=d)
    os.close(fd)
    return Path(name)
