"""decide → plan: turn what the policy decided about one input into its RenderPlan.

Every region the policy blurs becomes a `Track` with a stable id (r0, r1, … in
the order the detectors reported them), so a reviewer's decision names the same
region on every re-run of the same input with the same settings.  Faces of
people who seem to wear a uniform are *suggested* keep ("officer?"): policy
clauses 27 and 30 ask to blur the accused and the public, not the police team.
The suggestion never changes what is written until a person keeps the face.
"""

from __future__ import annotations

from pathlib import Path

from sanitize.config import Settings
from sanitize.detect.tracking import MaskPlan
from sanitize.detect.uniforms import faces_in_uniform
from sanitize.plan import BLUR, KEEP, SAMPLED, STILL, TRACKED, RenderPlan, Track, settings_to_json
from sanitize.policy import Policy
from sanitize.types import Box, MediaInfo, Region

OFFICER_LABEL = "officer?"
# Video: a uniform seen on a sampled frame belongs to a face track seen within this time.
UNIFORM_NEAR_S = 0.5


def new_plan(rel: Path, src: Path, sha256: str, media: MediaInfo, out_format: str,
             settings: Settings) -> RenderPlan:
    return RenderPlan(input=rel.as_posix(), source=str(src), sha256=sha256, media=media,
                      out_format=out_format, settings=settings_to_json(settings),
                      fingerprint=settings.fingerprint())


def plan_image(plan: RenderPlan, blur: list[Region], regions: list[Region],
               policy: Policy) -> RenderPlan:
    """Tracks for a picture: one still box per region the policy blurs."""
    uniforms = [r for r in regions if r.kind == "uniform"]
    in_uniform = faces_in_uniform([r.box for r in blur], uniforms)
    for r, officer in zip(blur, in_uniform, strict=True):
        officer = officer and r.kind == "face"
        plan.tracks.append(Track(
            plan.next_track_id(), r.kind, {0: _box(r.box)}, {0: float(r.score)}, r.detector,
            STILL, KEEP if officer else BLUR, policy.rule(r.kind).clauses,
            OFFICER_LABEL if officer else r.label,
        ))
    return plan


def plan_video(plan: RenderPlan, faces: MaskPlan, summaries: list[Region],
               sampled: list[Region], flags: list[Region], policy: Policy) -> RenderPlan:
    """Tracks for a video: every face track with its sightings (masked through the
    face tracker exactly as in pass 2), then regions found on sampled frames."""
    plan.frame_times = [float(t) for t in faces.times]
    plan.analysed = None if faces.analysed is None else [int(i) for i in faces.analysed]
    plan.extend_s, plan.min_span_s = faces.extend_s, faces.min_span_s
    uniforms = [r for r in flags if r.kind == "uniform"]
    summary = {r.track_id: r for r in summaries}
    clauses = policy.rule("face").clauses
    for s in faces.sightings():
        boxes = dict(zip(s.frames, s.boxes, strict=True))
        officer = _wears_uniform(boxes, plan.frame_times, uniforms)
        r = summary.get(s.id)
        plan.tracks.append(Track(
            plan.next_track_id(), "face", boxes, dict(zip(s.frames, s.scores, strict=True)),
            r.detector if r else "faces", TRACKED, KEEP if officer else BLUR, clauses,
            OFFICER_LABEL if officer else "face",
            r.t_start if r else None, r.t_end if r else None, track_no=s.id,
        ))
    for r in sampled:
        if r.t_start is None:
            continue
        plan.tracks.append(Track(
            plan.next_track_id(), r.kind, {r.frame or 0: _box(r.box)},
            {r.frame or 0: float(r.score)}, r.detector, SAMPLED, BLUR,
            policy.rule(r.kind).clauses, r.label, r.t_start, r.t_end,
        ))
    return plan


def _wears_uniform(boxes: dict[int, Box], times: list[float], uniforms: list[Region]) -> bool:
    """A face track is an officer's when, on a sampled frame with a uniformed person,
    its nearest sighting lies in that person's box (the uniform detector's rule)."""
    for u in uniforms:
        t0 = u.t_start
        if t0 is None:
            continue
        near = [i for i in boxes if abs(times[i] - t0) <= UNIFORM_NEAR_S]
        if not near:
            continue
        i = min(near, key=lambda k: abs(times[k] - t0))
        if faces_in_uniform([boxes[i]], [u])[0]:
            return True
    return False


def _box(b: Box) -> Box:
    # Plain floats (a detector may hand numpy scalars): the plan must round-trip JSON.
    return Box(float(b.x1), float(b.y1), float(b.x2), float(b.y2))
