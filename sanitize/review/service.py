"""What the review page can see and do in one run folder (no HTTP in here).

Files are named by an opaque id (a hash of the ledger key), never by a path, so
no request can reach outside OUT.  Every change is an audit row (store.py); the
page's view of a file is derived from the stored plan plus those rows.
"""

from __future__ import annotations

import functools
import hashlib
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import cv2
import numpy as np

from sanitize import summary
from sanitize.ledger import Ledger, LedgerRow
from sanitize.plan import (
    BLUR,
    CLEARED,
    CONFIRMED,
    KEEP,
    KEYFRAMES,
    OPEN,
    STILL,
    Decisions,
    Flag,
    RenderPlan,
    Track,
)
from sanitize.redact import mask_boxes
from sanitize.render import REVIEWER, MaskLayer, PlanMasks
from sanitize.review.frames import FrameError, FrameStore, jpeg
from sanitize.review.jobs import ApprovalQueue, Job, JobError
from sanitize.review.store import (
    ADD,
    APPROVE_QUEUED,
    APPROVE_REFUSED,
    BLUR_ACTION,
    EDIT,
    KEEP_ACTION,
    MUTE,
    REJECT,
    UNDO,
    AuditRow,
    FileState,
    ReviewStore,
    derive,
)
from sanitize.types import Box, MediaKind, Status
from sanitize.video_stages import FLAG_EVERY_S

ID_RE = re.compile(r"^[0-9a-f]{16}$")
ADD_KINDS = ("face", "plate", "text", "other")
MAX_REASON = 500
VIEWS = ("edit", "preview", "output")
JPEG_CACHE = 64
# A flag counts as fixed by added boxes when they cover this share of its box on
# every sampled second of its span (video flags are found once a second).
COVERED = 0.9
# Outline colours (RGB) in the edit view.
_BLURRED, _KEPT, _ADDED, _FLAG, _OFFICER = (230, 40, 40), (40, 200, 60), (40, 120, 255), \
    (255, 170, 0), (255, 230, 0)


class ReviewError(Exception):
    """An answer other than 200: HTTP status and a JSON body."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"error": message, **extra}


def file_id(rel: str) -> str:
    return hashlib.sha256(rel.encode("utf-8")).hexdigest()[:16]


@dataclass
class FileRef:
    id: str
    row: LedgerRow
    plan: RenderPlan | None
    state: FileState

    @property
    def rel(self) -> str:
        return self.row.rel


Method = TypeVar("Method", bound=Callable[..., Any])


def _decision(method: Method) -> Method:
    """A reviewer's decision on file `fid`: refused while the file's approval is
    queued or running, and made under the lock that queues approvals, so none
    slips in between the check and an approval's start."""
    @functools.wraps(method)
    def wrapper(self: ReviewService, fid: str, *args: Any, **kwargs: Any) -> Any:
        with self._decide_lock:
            self._not_approving(fid)
            return method(self, fid, *args, **kwargs)
    return wrapper  # type: ignore[return-value]


class ReviewService:
    def __init__(self, out_root: Path, reviewer: str) -> None:
        self.out_root = out_root.resolve()
        self.reviewer = reviewer
        self.store = ReviewStore.open(self.out_root)
        self.frames = FrameStore()
        self.render_lock = threading.Lock()  # one render (approval) at a time
        self.approvals = ApprovalQueue()
        self._decide_lock = threading.Lock()
        self._jpeg: OrderedDict[tuple[Any, ...], bytes] = OrderedDict()
        self._jpeg_lock = threading.Lock()
        self._resume_approvals()

    def close(self) -> None:
        # The approval being written finishes; those still queued stay queued in
        # the store and are taken up at the next start (_resume_approvals).
        self.approvals.close()
        self.store.close()

    def _resume_approvals(self) -> None:
        """Queue again, in the order they were asked for, the approvals that were
        queued when the server last stopped (or was killed): an approval is a
        reviewer's decision and must not vanish with a closed window.  Each is
        recorded under the name of the reviewer who asked for it."""
        rows_of: dict[str, list[AuditRow]] = {}
        for r in self.store.rows():
            rows_of.setdefault(r.file, []).append(r)
        waiting = []
        for rel, rows in rows_of.items():
            plan = self.store.plan(rel)
            if plan is not None and (q := derive(rows, plan.sha256).approval_queued) is not None:
                waiting.append(q)
        for q in sorted(waiting, key=lambda r: r.seq):
            self._queue_approval(file_id(q.file), q.file, q.sha256_in, q.reviewer)

    def _queue_approval(self, fid: str, rel: str, sha: str, reviewer: str) -> Job:
        return self.approvals.submit(fid, rel, lambda: self._approve_job(rel, sha, reviewer))

    # ---------------------------------------------------------------- lookup

    def rows(self) -> list[LedgerRow]:
        with Ledger.open(self.out_root) as ledger:
            return ledger.rows()

    def ref(self, fid: str) -> FileRef:
        if not ID_RE.match(fid):
            raise ReviewError(404, "no such file")
        row = next((r for r in self.rows() if file_id(r.rel) == fid), None)
        if row is None:
            raise ReviewError(404, "no such file")
        plan = self.store.plan(row.rel)
        sha = plan.sha256 if plan else (row.sha256_in or "")
        return FileRef(fid, row, plan, self.store.state(row.rel, sha))

    def _inside(self, rel: str) -> Path:
        """A path the ledger names below OUT; never anything outside it."""
        p = (self.out_root / rel).resolve()
        if self.out_root not in p.parents:
            raise ReviewError(404, "no such file")
        return p

    def _plan(self, ref: FileRef) -> RenderPlan:
        if ref.plan is None:
            raise ReviewError(409, "no render plan is stored for this file (it failed, or was "
                                   "processed by an older version): run it again")
        return ref.plan

    # ---------------------------------------------------------------- reading

    def list_files(self) -> list[dict[str, Any]]:
        out = []
        for row in self.rows():
            plan = self.store.plan(row.rel)
            sha = plan.sha256 if plan else (row.sha256_in or "")
            state = self.store.state(row.rel, sha)
            out.append({
                "id": file_id(row.rel), "input": row.rel, "status": _status(row, state),
                "output": row.output, "why": why(row, plan), "why_parts": why_parts(row, plan),
                "open": len(open_flags(plan, state.decisions)) if plan else 0,
                "kind": plan.media.kind.value if plan else None,
                "reviewable": plan is not None,
                "approving": self._approving(file_id(row.rel)),
            })
        return out

    def _approving(self, fid: str) -> str | None:
        job = self.approvals.pending(fid)
        return None if job is None else job.state

    def file(self, fid: str) -> dict[str, Any]:
        ref = self.ref(fid)
        plan, d = ref.plan, ref.state.decisions
        base: dict[str, Any] = {
            "id": ref.id, "input": ref.rel, "status": _status(ref.row, ref.state),
            "output": ref.row.output, "why": why(ref.row, plan),
            "why_parts": why_parts(ref.row, plan),
            "error": ref.row.result().error, "rejected": ref.state.rejected,
            "approved": None if ref.state.approved is None else {
                "by": ref.state.approved.reviewer, "time": ref.state.approved.time},
            "approval_refused": None if (no := ref.state.approval_refused) is None else {
                "by": no.reviewer, "time": no.time, "reason": no.reason,
                "problems": no.payload.get("problems", [])},
            "history": _history(ref.state.history),
            "can_undo": ref.state.last_undoable is not None,
            "approving": self._approving(ref.id),
        }
        if plan is None:
            return base | {"kind": None, "width": 0, "height": 0, "duration": None,
                           "frames": 0, "regions": [], "flags": [], "mutes": [],
                           "reviewable": False}
        return base | {
            "kind": plan.media.kind.value, "width": plan.media.width, "height": plan.media.height,
            "duration": _duration(plan), "frames": plan.frames,
            "frame_times": [round(t, 4) for t in plan.frame_times],
            "has_audio": bool(plan.media.has_audio and not plan.run_settings().mute),
            "regions": [region_json(plan, t, d) for t in [*plan.tracks, *d.added]],
            "flags": [flag_json(plan, f, d) for f in plan.flags],
            "mutes": [[a, b] for a, b in d.mutes],
            "reviewable": True,
        }

    def boxes(self, fid: str, index: int) -> list[dict[str, Any]]:
        """Each region's masked box on one frame (what the edit view outlines)."""
        ref = self.ref(fid)
        plan = self._plan(ref)
        if not 0 <= index < plan.frames:
            raise ReviewError(404, "no such frame")
        return [{"id": t.id, "box": _box(b), "action": ref.state.decisions.action(t)}
                for t in [*plan.tracks, *ref.state.decisions.added]
                for b in MaskLayer(plan, [t]).boxes(index)]

    def audit(self) -> list[dict[str, Any]]:
        return [{"time": r.time, "reviewer": r.reviewer, "file": r.file, "target": r.target,
                 "action": r.action, "reason": r.reason} for r in self.store.rows()]

    # ---------------------------------------------------------------- decisions

    @_decision
    def set_region(self, fid: str, rid: str, action: Any, reason: Any) -> dict[str, Any]:
        ref = self.ref(fid)
        plan = self._plan(ref)
        track = plan.track(rid) or next((t for t in ref.state.decisions.added if t.id == rid),
                                        None)
        if track is None:
            raise ReviewError(404, "no such region")
        if action not in (KEEP, BLUR):
            raise ReviewError(400, 'action must be "keep" or "blur"')
        reason = _reason(reason)
        if action == KEEP and not reason:
            raise ReviewError(400, "keeping a region visible needs a reason")
        self.store.append(self.reviewer, ref.rel, plan.sha256, rid,
                          KEEP_ACTION if action == KEEP else BLUR_ACTION, reason)
        return region_json(plan, track, self.ref(fid).state.decisions)

    @_decision
    def keep_officers(self, fid: str, reason: Any) -> list[dict[str, Any]]:
        """Keep every face suggested as an officer (one action for the whole file)."""
        ref = self.ref(fid)
        plan = self._plan(ref)
        reason = _reason(reason)
        if not reason:
            raise ReviewError(400, "keeping a region visible needs a reason")
        d = ref.state.decisions
        kept = [t for t in plan.tracks if t.suggested == KEEP and d.action(t) != KEEP]
        if kept:
            self.store.append(self.reviewer, ref.rel, plan.sha256, "officers", KEEP_ACTION,
                              reason, {"ids": [t.id for t in kept]})
        d = self.ref(fid).state.decisions
        return [region_json(plan, t, d) for t in kept]

    @_decision
    def add_region(self, fid: str, body: dict[str, Any]) -> dict[str, Any]:
        ref = self.ref(fid)
        plan = self._plan(ref)
        kind = body.get("kind")
        if kind not in ADD_KINDS:
            raise ReviewError(400, f"kind must be one of {', '.join(ADD_KINDS)}")
        n = sum(1 for r in ref.state.history if r.action == ADD)
        rid = f"a{n}"
        track = _added_track(plan, rid, kind, body, self)
        self.store.append(self.reviewer, ref.rel, plan.sha256, rid, ADD,
                          _reason(body.get("reason")), {"track": track.to_json()})
        return {"id": rid, "region": region_json(plan, track, self.ref(fid).state.decisions)}

    @_decision
    def edit_region(self, fid: str, rid: str, body: dict[str, Any]) -> dict[str, Any]:
        """Move or resize a box a reviewer drew: on a picture its one box, on a video a
        keyframe at time `t` (the box is interpolated between keyframes).  Boxes a
        detector found are not edited: shrinking one could uncover a face; a person
        who wants more masked draws another box (fail closed)."""
        ref = self.ref(fid)
        plan = self._plan(ref)
        drawn = next((t for t in ref.state.decisions.added if t.id == rid), None)
        if drawn is None:
            if plan.track(rid) is not None:
                raise ReviewError(400, "only a box a reviewer drew can be moved or resized; "
                                       "draw another box to mask more")
            raise ReviewError(404, "no such region")
        box = _parse_box(body.get("box"), plan)
        frame = 0
        if plan.media.kind is MediaKind.VIDEO:
            t = _time(body.get("t"), plan, "t")
            if not (drawn.t_start or 0.0) - 1e-6 <= t <= (drawn.t_end or 0.0) + 1e-6:
                raise ReviewError(400, "t is outside the box's time range")
            frame = _frame_at(plan, t)
        self.store.append(self.reviewer, ref.rel, plan.sha256, rid, EDIT,
                          _reason(body.get("reason")), {"frame": frame, "box": _box(box)})
        d = self.ref(fid).state.decisions
        return region_json(plan, next(t for t in d.added if t.id == rid), d)

    @_decision
    def set_flag(self, fid: str, flag_id: str, state: Any, reason: Any) -> dict[str, Any]:
        ref = self.ref(fid)
        plan = self._plan(ref)
        flag = plan.flag(flag_id)
        if flag is None:
            raise ReviewError(404, "no such flag")
        if state not in (CLEARED, CONFIRMED):
            raise ReviewError(400, 'state must be "cleared" or "confirmed"')
        reason = _reason(reason)
        if not reason:
            raise ReviewError(400, "resolving a flag needs a reason")
        self.store.append(self.reviewer, ref.rel, plan.sha256, flag_id, state, reason)
        return flag_json(plan, flag, self.ref(fid).state.decisions)

    @_decision
    def set_mutes(self, fid: str, ranges: Any) -> dict[str, Any]:
        ref = self.ref(fid)
        plan = self._plan(ref)
        if plan.media.kind is not MediaKind.VIDEO:
            raise ReviewError(400, "mute ranges apply to videos only")
        if not isinstance(ranges, list):
            raise ReviewError(400, "ranges must be a list of [t0, t1]")
        end = _duration(plan) or 0.0
        clean: list[list[float]] = []
        for r in ranges:
            if not (isinstance(r, list) and len(r) == 2 and all(_is_num(v) for v in r)):
                raise ReviewError(400, "each range must be [t0, t1] in seconds")
            a, b = max(0.0, float(r[0])), min(end + 1.0, float(r[1]))
            if b <= a:
                raise ReviewError(400, "each range needs t0 < t1")
            clean.append([a, b])
        self.store.append(self.reviewer, ref.rel, plan.sha256, "audio", MUTE, "",
                          {"ranges": sorted(clean)})
        return {"mutes": sorted(clean)}

    @_decision
    def undo(self, fid: str) -> dict[str, Any]:
        ref = self.ref(fid)
        sha = ref.plan.sha256 if ref.plan else (ref.row.sha256_in or "")
        row = self.store.undo(self.reviewer, ref.rel, sha)
        if row is None:
            raise ReviewError(409, "nothing to undo")
        return {"undone": row.reason}

    @_decision
    def reject(self, fid: str, reason: Any) -> dict[str, Any]:
        ref = self.ref(fid)
        reason = _reason(reason)
        if not reason:
            raise ReviewError(400, "rejecting needs a reason")
        sha = ref.plan.sha256 if ref.plan else (ref.row.sha256_in or "")
        self.store.append(self.reviewer, ref.rel, sha, "file", REJECT, reason)
        return {"status": "rejected"}

    def approve(self, fid: str, wait: bool = True) -> dict[str, Any]:
        """Render the file again with its decisions and publish it to safe/.  With
        `wait` the answer is the result; without, the approval is queued (the page
        goes on to the next file) and the answer is the job (`jobs`)."""
        with self._decide_lock:
            ref = self.ref(fid)
            plan = self._plan(ref)
            self._not_approving(fid)
            d = ref.state.decisions
            blocking = open_flags(plan, d) + confirmed_flags(plan, d)
            if blocking:
                raise ReviewError(409, "resolve every flag before approving",
                                  open=[flag_json(plan, f, d) for f in blocking])
            if not wait:
                # On disk before it is queued: a server stopped now resumes it.
                self.store.append(self.reviewer, ref.rel, plan.sha256, "file", APPROVE_QUEUED)
                try:
                    job = self._queue_approval(fid, ref.rel, plan.sha256, self.reviewer)
                except ValueError as e:
                    raise ReviewError(409, str(e)) from e
                return job.to_json()
        return self._render_approval(ref.rel, self.reviewer)

    def jobs(self) -> list[dict[str, Any]]:
        return [j.to_json() for j in self.approvals.jobs()]

    def _render_approval(self, rel: str, reviewer: str) -> dict[str, Any]:
        from sanitize.review.approve import approve

        with self.render_lock:
            return approve(self.out_root, rel, reviewer, self.store)

    def _approve_job(self, rel: str, sha: str, reviewer: str) -> str:
        """A queued approval; how it ended is recorded (the approval itself, or
        why it was refused), which ends the queued request in the store."""
        try:
            return str(self._render_approval(rel, reviewer)["output"])
        except ReviewError as e:
            problems = [str(p) for p in e.body.get("problems") or []]
            self.store.append(reviewer, rel, sha, "file", APPROVE_REFUSED, str(e),
                              {"problems": problems})
            raise JobError(str(e), problems) from e
        except Exception as e:
            self.store.append(reviewer, rel, sha, "file", APPROVE_REFUSED,
                              f"internal error: {type(e).__name__}: {e}")
            raise

    def _not_approving(self, fid: str) -> None:
        """Decisions freeze while a file's approval is queued or running: it is
        written with exactly the decisions that were approved."""
        if self.approvals.pending(fid) is not None:
            raise ReviewError(409, "this file is being approved; wait until it has finished")

    # ---------------------------------------------------------------- frames

    def frame(self, fid: str, index: int, view: str, allow_edit: bool) -> bytes:
        if view not in VIEWS:
            raise ReviewError(400, "view must be edit, preview or output")
        if view == "edit" and not allow_edit:
            raise ReviewError(403, "the edit view shows the original: only on 127.0.0.1")
        ref = self.ref(fid)
        key = (fid, index, view, len(ref.state.history), ref.row.sha256_out, ref.row.finished_at)
        with self._jpeg_lock:
            if key in self._jpeg:
                self._jpeg.move_to_end(key)
                return self._jpeg[key]
        data = jpeg(self._frame_rgb(ref, index, view))
        with self._jpeg_lock:
            self._jpeg[key] = data
            while len(self._jpeg) > JPEG_CACHE:
                self._jpeg.popitem(last=False)
        return data

    def _frame_rgb(self, ref: FileRef, index: int, view: str) -> np.ndarray:
        try:
            if view == "output":
                if not ref.row.output:
                    raise ReviewError(404, "this file has no output")
                return self.frames.frame(self._inside(ref.row.output), index,
                                         ref.plan.frames if ref.plan else None)
            plan = self._plan(ref)
            if not 0 <= index < plan.frames:
                raise ReviewError(404, "no such frame")
            src = Path(plan.source)
            if not src.is_file():
                raise ReviewError(410, "the original is gone")
            rgb = self.frames.frame(src, index, plan.frames).copy()
        except FrameError as e:
            raise ReviewError(404, str(e)) from e
        d = ref.state.decisions
        if view == "preview":
            return mask_boxes(rgb, PlanMasks(plan, d).boxes_for_frame(index),
                              plan.run_settings().mask)
        return _outline(rgb, plan, d, index)



# -------------------------------------------------------------------- JSON shapes


def region_json(plan: RenderPlan, t: Track, d: Decisions) -> dict[str, Any]:
    choice = d.regions.get(t.id)
    best = max(t.scores, key=lambda k: t.scores[k]) if t.scores else min(t.boxes)
    return {
        "id": t.id, "kind": t.kind, "box": _box(t.boxes[best] if best in t.boxes
                                                 else t.best_box()),
        "frame": best, "first_frame": min(t.boxes), "last_frame": max(t.boxes),
        "t_start": t.t_start, "t_end": t.t_end, "score": round(t.score, 3),
        "action": d.action(t), "suggested": t.suggested, "label": t.label,
        "clauses": list(t.clauses), "reason": choice.reason if choice else "",
        "source": "reviewer" if t.detector == REVIEWER else "detector",
        # A drawn box as drawn (not grown), per keyframe: where a move or resize starts.
        **({"keyframes": [{"t": plan.frame_times[min(i, plan.frames - 1)], "box": _box(b)}
                          for i, b in sorted(t.boxes.items())]}
           if t.detector == REVIEWER and plan.media.kind is MediaKind.VIDEO else {}),
    }


def flag_json(plan: RenderPlan, f: Flag, d: Decisions) -> dict[str, Any]:
    state, reason = flag_state(plan, f, d)
    return {"id": f.id, "kind": f.kind, "state": state,
            "box": None if f.box is None else _box(f.box), "t_start": f.t_start,
            "t_end": f.t_end, "clauses": list(f.clauses), "score": round(f.score, 3),
            "detail": f.detail, "reason": reason}


def flag_state(plan: RenderPlan, f: Flag, d: Decisions) -> tuple[str, str]:
    """(state, reason): a person's choice, else "cleared" when boxes they added mask
    the flagged area wherever it was seen (fixed by blurring it), else open."""
    choice = d.flags.get(f.id)
    if choice is not None:
        return choice.state, choice.reason
    covering = [t for t in d.added if d.action(t) == BLUR]
    if f.box is not None and covering and _covered(plan, f, covering):
        return CLEARED, "masked by an added box"
    return OPEN, ""


def _covered(plan: RenderPlan, f: Flag, added: list[Track]) -> bool:
    assert f.box is not None
    layer = MaskLayer(plan, added)
    if f.t_start is None:
        frames = [0]
    else:  # every sampled second of the flag's span (its box is the union over them)
        from bisect import bisect_right

        end = max(f.t_start, (f.t_end or f.t_start) - FLAG_EVERY_S)
        times = [f.t_start + k * FLAG_EVERY_S
                 for k in range(int((end - f.t_start) / FLAG_EVERY_S + 1e-6) + 1)]
        frames = [max(0, bisect_right(plan.frame_times, t + 1e-6) - 1) for t in times]
    area = f.box.area
    return area > 0 and all(
        sum(_inter(f.box, b) for b in layer.boxes(i)) >= COVERED * area for i in frames)


def _inter(a: Box, b: Box) -> float:
    return (max(0.0, min(a.x2, b.x2) - max(a.x1, b.x1))
            * max(0.0, min(a.y2, b.y2) - max(a.y1, b.y1)))


def open_flags(plan: RenderPlan, d: Decisions) -> list[Flag]:
    return [f for f in plan.flags if flag_state(plan, f, d)[0] == OPEN]


def confirmed_flags(plan: RenderPlan, d: Decisions) -> list[Flag]:
    return [f for f in plan.flags if flag_state(plan, f, d)[0] == CONFIRMED]


def why(row: LedgerRow, plan: RenderPlan | None) -> str:
    return summary.render(why_parts(row, plan))


def why_parts(row: LedgerRow, plan: RenderPlan | None) -> list[dict[str, Any]]:
    """The report's why line (sanitize.summary), plus what only the review knows:
    who approved it, and how many faces are suggested as officers.  As items, so
    that the page says it in the reviewer's language."""
    result = row.result()
    parts = summary.why_parts(result)
    if plan is not None and row.status is not Status.ERROR:
        officers = sum(1 for t in plan.tracks if t.suggested == KEEP)
        if officers:
            parts.append({"key": "officers", "n": officers})
    if result.approval is not None:
        parts.insert(0, {"key": "approved", "by": result.approval.by})
    return parts


def _status(row: LedgerRow, state: FileState) -> str:
    return "rejected" if state.rejected else row.status.value


def _history(rows: list[AuditRow]) -> list[dict[str, Any]]:
    """The audit rows for the page.  An undo also names what it undid (action and
    target), so the page can word it in the reviewer's language; its stored reason
    is the English of the same."""
    by_seq = {r.seq: r for r in rows}
    out = []
    for r in rows:
        item = {"time": r.time, "reviewer": r.reviewer, "target": r.target,
                "action": r.action, "reason": r.reason}
        if r.action == UNDO and r.target.isdigit() and (gone := by_seq.get(int(r.target))):
            item["undoes"] = {"action": gone.action, "target": gone.target}
        out.append(item)
    return out


def _duration(plan: RenderPlan) -> float | None:
    if plan.media.kind is MediaKind.IMAGE:
        return None
    t = plan.frame_times
    return round(t[-1] + ((t[-1] - t[-2]) if len(t) > 1 else 1 / 30), 4)


def _box(b: Box) -> list[float]:
    return [round(b.x1, 1), round(b.y1, 1), round(b.x2, 1), round(b.y2, 1)]


def _is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and np.isfinite(v)


def _reason(v: Any) -> str:
    if v is None:
        return ""
    if not isinstance(v, str):
        raise ReviewError(400, "reason must be text")
    return v.strip()[:MAX_REASON]


def _parse_box(v: Any, plan: RenderPlan) -> Box:
    if not (isinstance(v, list) and len(v) == 4 and all(_is_num(x) for x in v)):
        raise ReviewError(400, "box must be [x1, y1, x2, y2] in pixels of the upright picture")
    x1, y1, x2, y2 = (float(x) for x in v)
    b = Box(min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)).clipped(
        plan.media.width, plan.media.height)
    if b.w < 2 or b.h < 2:
        raise ReviewError(400, "box is empty or outside the picture")
    return b


def _time(v: Any, plan: RenderPlan, name: str) -> float:
    if not _is_num(v):
        raise ReviewError(400, f"{name} must be a number of seconds")
    return min(max(0.0, float(v)), _duration(plan) or 0.0)


def _frame_at(plan: RenderPlan, t: float) -> int:
    from bisect import bisect_right

    return max(0, min(plan.frames - 1, bisect_right(plan.frame_times, t + 1e-6) - 1))


def _added_track(plan: RenderPlan, rid: str, kind: str, body: dict[str, Any],
                 svc: ReviewService) -> Track:
    if plan.media.kind is MediaKind.IMAGE:
        return Track(rid, kind, {0: _parse_box(body.get("box"), plan)}, {}, REVIEWER, STILL,
                     label=f"{kind} (added)")
    dur = _duration(plan) or 0.0
    keys = body.get("keyframes")
    boxes: dict[int, Box] = {}
    if keys is not None:
        if not isinstance(keys, list) or not keys:
            raise ReviewError(400, "keyframes must be a non-empty list of {t, box}")
        for k in keys:
            if not isinstance(k, dict):
                raise ReviewError(400, "keyframes must be a non-empty list of {t, box}")
            boxes[_frame_at(plan, _time(k.get("t"), plan, "t"))] = _parse_box(k.get("box"), plan)
        times = [plan.frame_times[i] for i in boxes]
        t0 = _time(body["t_start"], plan, "t_start") if "t_start" in body else min(times)
        t1 = _time(body["t_end"], plan, "t_end") if "t_end" in body else max(times)
    else:
        t0 = _time(body.get("t_start", 0.0), plan, "t_start")
        t1 = _time(body.get("t_end", dur), plan, "t_end")
        anchor = _time(body.get("t", t0), plan, "t")
        boxes[_frame_at(plan, anchor)] = _parse_box(body.get("box"), plan)
    if t1 < t0:
        raise ReviewError(400, "t_end must not be before t_start")
    if body.get("track") is True:
        from sanitize.review.tracker import track_box

        (start_frame, start_box), = sorted(boxes.items())[:1]
        boxes = track_box(svc, plan, start_frame, start_box,
                          _frame_at(plan, t0), _frame_at(plan, t1))
    return Track(rid, kind, boxes, {}, REVIEWER, KEYFRAMES, label=f"{kind} (added)",
                 t_start=t0, t_end=t1 + 1e-3)


def _outline(rgb: np.ndarray, plan: RenderPlan, d: Decisions, index: int) -> np.ndarray:
    """The original frame with every region's masked box outlined (and flags)."""
    h, w = rgb.shape[:2]
    th = max(2, round(max(w, h) / 500))
    t = plan.frame_times[index]
    for tr in [*plan.tracks, *d.added]:
        action = d.action(tr)
        colour = (_ADDED if tr.detector == REVIEWER else _KEPT if action == KEEP
                  else _OFFICER if tr.suggested == KEEP else _BLURRED)
        for b in MaskLayer(plan, [tr]).boxes(index):
            _rect(rgb, b, colour, th, dashed=action == KEEP)
            cv2.putText(rgb, tr.id, (int(b.x1) + 2, max(12, int(b.y1) - 4)),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.4 + th / 6, colour, max(1, th // 2))
    for f in plan.flags:
        if f.box is None:
            continue
        if f.t_start is not None and not (f.t_start - 1e-6 <= t <= (f.t_end or f.t_start) + 1e-6):
            continue
        _rect(rgb, f.box, _FLAG, th)
        cv2.putText(rgb, f"{f.id} {f.kind}", (int(f.box.x1) + 2, int(f.box.y2) - 4),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.4 + th / 6, _FLAG, max(1, th // 2))
    return rgb


def _rect(rgb: np.ndarray, b: Box, colour: tuple[int, int, int], th: int,
          dashed: bool = False) -> None:
    p1, p2 = (int(b.x1), int(b.y1)), (int(b.x2) - 1, int(b.y2) - 1)
    if not dashed:
        cv2.rectangle(rgb, p1, p2, colour, th)
        return
    step = 8 * th
    for x in range(p1[0], p2[0], step):
        cv2.line(rgb, (x, p1[1]), (min(x + step // 2, p2[0]), p1[1]), colour, th)
        cv2.line(rgb, (x, p2[1]), (min(x + step // 2, p2[0]), p2[1]), colour, th)
    for y in range(p1[1], p2[1], step):
        cv2.line(rgb, (p1[0], y), (p1[0], min(y + step // 2, p2[1])), colour, th)
        cv2.line(rgb, (p2[0], y), (p2[0], min(y + step // 2, p2[1])), colour, th)
