"""Face tracks over video frames, so that a face is masked on every frame it is on.

Per-frame detection misses a face now and then (a turn of the head, motion
blur); an unmasked single frame is enough to identify someone, and it is the
failure users of other tools complain about most (docs/measurements.md).  So:

- detections are linked into tracks by overlap (IoU) or, for small fast faces
  that stop overlapping, by centre distance to the position predicted from the
  track's velocity;
- a face seen before and after a gap of up to `max_gap_s` is covered in the gap
  by a box interpolated between the two sightings;
- every track is extended `extend_s` before its first and after its last
  sighting (faces enter and leave a few frames before the detector fires);
- boxes away from a sighting are grown by how far the face moves per second
  times the time to the nearest sighting, since the true position drifts from
  the interpolated one as the face moves;
- every track is masked, even a single low-score detection: when unsure, blur;
  and no track is masked for less than `MIN_SPAN_S`, while a still region seen
  again at the same place within `STILL_GAP_S` stays one track, masked in
  between: a flower or a bush that the detector fires on now and then gets a
  steady mask instead of one that flashes on and off (issue 12);
- frames may be left unanalysed (video analysis detects on every k-th frame):
  a face's first sighting is also held back over the unanalysed frames before
  it, and its last sighting forward over those after it (the face may have come
  or gone on any of them), before `extend_s` is added.

Memory: tracks keep their sightings in flat typed arrays (about 36 bytes per
detection) and the plan computes each frame's boxes on demand, so nothing is
stored per frame except its time (8 bytes) and, for analysed frames, the index
(4 bytes).
"""

from __future__ import annotations

import heapq
from array import array
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field

import numpy as np

from sanitize.geometry import cover_box
from sanitize.types import Box, Region

_EPS = 1e-6
MIN_SPAN_S = 1.0  # shortest time a track is masked (centred on its sightings)
STILL_GAP_S = 2.0  # longest gap bridged for a region that stays put (IoU >= STILL_IOU)
STILL_IOU = 0.3


@dataclass
class _Track:
    id: int
    frames: array[int] = field(default_factory=lambda: array("i"))
    times: array[float] = field(default_factory=lambda: array("d"))
    boxes: array[float] = field(default_factory=lambda: array("f"))  # x1, y1, x2, y2 per sighting
    scores: array[float] = field(default_factory=lambda: array("f"))
    vx: float = 0.0  # centre velocity, pixels per second (smoothed), for linking only
    vy: float = 0.0

    def box(self, i: int) -> Box:
        return Box(*(float(v) for v in self.boxes[4 * i:4 * i + 4]))

    def predict(self, t: float) -> Box:
        dt = t - self.times[-1]
        return self.box(len(self.frames) - 1).shifted(self.vx * dt, self.vy * dt)

    def add(self, frame: int, t: float, box: Box, score: float) -> None:
        if len(self.frames):
            dt = t - self.times[-1]
            last = self.box(len(self.frames) - 1)
            if dt > 0:
                nvx, nvy = (box.cx - last.cx) / dt, (box.cy - last.cy) / dt
                # Light smoothing: detector jitter should not read as motion.
                k = 0.5 if len(self.frames) > 1 else 1.0
                self.vx, self.vy = (1 - k) * self.vx + k * nvx, (1 - k) * self.vy + k * nvy
        self.frames.append(frame)
        self.times.append(t)
        self.boxes.extend((box.x1, box.y1, box.x2, box.y2))
        self.scores.append(score)

    def velocity(self, i: int) -> tuple[float, float]:
        """Centre velocity (px/s) of the segment starting at sighting i (or ending there)."""
        if len(self.frames) < 2:
            return (0.0, 0.0)
        a, b = (i, i + 1) if i + 1 < len(self.frames) else (i - 1, i)
        dt = self.times[b] - self.times[a]
        if dt <= 0:
            return (0.0, 0.0)
        ba, bb = self.box(a), self.box(b)
        return ((bb.cx - ba.cx) / dt, (bb.cy - ba.cy) / dt)


@dataclass(frozen=True)
class Sightings:
    """One face track as the detector saw it: frame indices, boxes and scores."""

    id: int
    frames: list[int]
    boxes: list[Box]
    scores: list[float]


class MaskPlan:
    """What pass 2 masks: each frame's boxes, grown to whole heads, computed on
    demand from the tracks; plus one summary Region per track for the report.

    Fastest when frames are asked for in order (a sweep keeps the active tracks);
    any order works."""

    def __init__(self, width: int, height: int, times: array[float], tracks: list[_Track],
                 extend_s: float, analysed: array[int] | None = None,
                 min_span_s: float = MIN_SPAN_S) -> None:
        self.width, self.height = width, height
        self.times = times
        self.extend_s, self.min_span_s = extend_s, min_span_s
        # Indices of the frames the detector ran on (sorted); None: every frame.
        self.analysed = analysed
        self._tracks = tracks
        # Frame span each track covers, extension included, sorted by first frame.
        self._spans = sorted((self._span(tr), tr.id) for tr in tracks)
        self._by_id = {tr.id: tr for tr in tracks}
        self._reset()

    @property
    def frames(self) -> int:
        return len(self.times)

    @property
    def tracks(self) -> list[Region]:
        return [_summary(tr) for tr in self._tracks]

    def sightings(self) -> list[Sightings]:
        """Each track's sightings, exactly as stored (for the render plan)."""
        return [Sightings(tr.id, list(tr.frames), [tr.box(i) for i in range(len(tr.frames))],
                          [float(s) for s in tr.scores]) for tr in self._tracks]

    @classmethod
    def from_sightings(cls, width: int, height: int, times: list[float],
                       tracks: list[Sightings], extend_s: float,
                       analysed: list[int] | None,
                       min_span_s: float = MIN_SPAN_S) -> MaskPlan:
        """The plan that `sightings()` came from (or the same for a subset of its
        tracks): boxes per frame are identical, so a stored plan re-renders exactly."""
        t = array("d", times)
        rebuilt = []
        for s in tracks:
            tr = _Track(id=s.id)
            tr.frames.extend(s.frames)
            tr.times.extend(t[f] for f in s.frames)
            for b in s.boxes:
                tr.boxes.extend((b.x1, b.y1, b.x2, b.y2))
            tr.scores.extend(s.scores)
            rebuilt.append(tr)
        return cls(width, height, t, rebuilt, extend_s,
                   None if analysed is None else array("i", analysed), min_span_s)

    def _span(self, tr: _Track) -> tuple[int, int]:
        # The unanalysed frames next to the first and last sightings count as
        # possible sightings: the extension is measured from the furthest of them.
        t0, t1 = tr.times[0], tr.times[-1]
        if self.analysed is not None and len(self.analysed):
            k = bisect_left(self.analysed, tr.frames[0])
            prev = self.analysed[k - 1] if k > 0 else -1
            t0 = min(t0, self.times[prev + 1])
            k = bisect_right(self.analysed, tr.frames[-1])
            nxt = self.analysed[k] if k < len(self.analysed) else len(self.times)
            t1 = max(t1, self.times[nxt - 1])
        t0, t1 = t0 - self.extend_s, t1 + self.extend_s
        short = self.min_span_s - (t1 - t0)
        if short > 0:
            t0, t1 = t0 - short / 2, t1 + short / 2
        first = bisect_left(self.times, t0 - _EPS)
        last = bisect_right(self.times, t1 + _EPS) - 1
        return first, last

    def _reset(self) -> None:
        self._next = 0  # next span to activate
        self._active: list[tuple[int, int]] = []  # heap of (last frame, track id)
        self._at = -1

    def boxes_for_frame(self, index: int) -> list[Box]:
        if index < self._at:
            self._reset()
        self._at = index
        while self._next < len(self._spans) and self._spans[self._next][0][0] <= index:
            (_, last), tid = self._spans[self._next]
            heapq.heappush(self._active, (last, tid))
            self._next += 1
        while self._active and self._active[0][0] < index:
            heapq.heappop(self._active)
        out = []
        # Track order, not heap order: overlapping masks then compose the same way
        # whatever order frames were asked for (byte-identical re-runs).
        for last, tid in sorted(self._active, key=lambda a: a[1]):
            if last < index:
                continue
            box = self._box_at(self._by_id[tid], index)
            grown = cover_box("face", box, self.width, self.height)
            if grown.w > 0 and grown.h > 0:
                out.append(grown)
        return out

    def _box_at(self, tr: _Track, frame: int) -> Box:
        """Observed, interpolated or held box at a frame, grown for motion."""
        t = self.times[frame]
        j = bisect_left(tr.frames, frame)
        if j < len(tr.frames) and tr.frames[j] == frame:
            a = b = j
        else:
            a, b = max(0, j - 1), min(len(tr.frames) - 1, j)
        ta, tb = tr.times[a], tr.times[b]
        if a == b or tb <= ta:
            # On a sighting, or before the first / after the last: hold the box.
            box = tr.box(a) if abs(t - ta) <= abs(t - tb) else tr.box(b)
        else:
            u = min(1.0, max(0.0, (t - ta) / (tb - ta)))
            ba, bb = tr.box(a), tr.box(b)
            box = Box(ba.x1 + (bb.x1 - ba.x1) * u, ba.y1 + (bb.y1 - ba.y1) * u,
                      ba.x2 + (bb.x2 - ba.x2) * u, ba.y2 + (bb.y2 - ba.y2) * u)
        vx, vy = tr.velocity(a)
        return _grow(box, abs(vx), abs(vy), min(abs(t - ta), abs(t - tb)))


class FaceTracker:
    """Online linking of per-frame face detections; `finish()` returns the MaskPlan.

    max_gap_s: longest gap bridged between two sightings of one face (a region
        that stays put: up to STILL_GAP_S).
    extend_s: how long a track is kept masked before/after it was seen.
    min_span_s: the shortest time any track is masked.
    iou_min / dist_max: link when the predicted box overlaps by iou_min, or the
        centres are within dist_max face heights (fast small faces).
    """

    def __init__(self, width: int, height: int, max_gap_s: float = 0.5, extend_s: float = 0.15,
                 iou_min: float = 0.15, dist_max: float = 1.2,
                 min_span_s: float = MIN_SPAN_S) -> None:
        self.width, self.height = width, height
        self.max_gap_s, self.extend_s, self.min_span_s = max_gap_s, extend_s, min_span_s
        self.iou_min, self.dist_max = iou_min, dist_max
        self.tracks: list[_Track] = []
        self._active: list[_Track] = []
        self.times = array("d")
        self.analysed = array("i")  # frames the detector ran on

    def update(self, index: int, t: float, regions: list[Region] | None) -> None:
        """Frames must arrive in order, `index` counting from 0 without holes.

        `regions` None: the frame was not analysed (no detector ran on it)."""
        if index != len(self.times):
            raise ValueError(f"frame {index} out of order (expected {len(self.times)})")
        self.times.append(t)
        if regions is None:
            return
        self.analysed.append(index)
        self._active = [tr for tr in self._active
                        if t - tr.times[-1] <= max(self.max_gap_s, STILL_GAP_S) + _EPS]
        dets = [r for r in regions if r.box.w > 0 and r.box.h > 0]
        pairs = self._match(t, dets)
        for tr, r in pairs:
            tr.add(index, t, r.box, r.score)
        matched = {id(r) for _, r in pairs}
        for r in dets:
            if id(r) not in matched:
                tr = _Track(id=len(self.tracks))
                tr.add(index, t, r.box, r.score)
                self.tracks.append(tr)
                self._active.append(tr)

    def _match(self, t: float, dets: list[Region]) -> list[tuple[_Track, Region]]:
        """Greedy one-to-one assignment by affinity (overlap first, then distance).

        Affinities of every (track, detection) pair at once with numpy: a crowd
        has dozens of each on every analysed frame (Python pairs: 1.7 s a clip)."""
        if not self._active or not dets:
            return []
        preds = _corners([tr.predict(t) for tr in self._active])
        found = _corners([r.box for r in dets])
        aff = self._affinities(preds, found)
        # Past max_gap_s only a region at the same place as last seen links.
        stale = [k for k, tr in enumerate(self._active)
                 if t - tr.times[-1] > self.max_gap_s + _EPS]
        if stale:
            last = _corners([self._active[k].box(len(self._active[k].frames) - 1)
                             for k in stale])
            aff[stale] = np.where(_iou_matrix(last, found) < STILL_IOU, np.nan, aff[stale])
        pairs = [(float(aff[k, j]), self._active[k].id, self._active[k], dets[j])
                 for k, j in zip(*np.nonzero(~np.isnan(aff)), strict=True)]
        pairs.sort(key=lambda p: (p[0], -p[1]), reverse=True)
        used_t: set[int] = set()
        used_r: set[int] = set()
        out: list[tuple[_Track, Region]] = []
        for _, _, tr, r in pairs:
            if tr.id in used_t or id(r) in used_r:
                continue
            used_t.add(tr.id)
            used_r.add(id(r))
            out.append((tr, r))
        return out

    def _affinities(self, pred: np.ndarray, det: np.ndarray) -> np.ndarray:
        """(tracks x detections) affinity, NaN where a pair may not link: a much
        bigger or smaller face is someone else; otherwise it must overlap by
        iou_min or lie within dist_max face heights."""
        ph = np.maximum(pred[:, 3] - pred[:, 1], 0.0)[:, None]
        dh = np.maximum(det[:, 3] - det[:, 1], 0.0)[None, :]
        ratio = dh / np.maximum(ph, _EPS)
        iou = _iou_matrix(pred, det)
        dx = (pred[:, 0, None] + pred[:, 2, None]) / 2 - (det[None, :, 0] + det[None, :, 2]) / 2
        dy = (pred[:, 1, None] + pred[:, 3, None]) / 2 - (det[None, :, 1] + det[None, :, 3]) / 2
        dist = np.sqrt(dx ** 2 + dy ** 2) / np.maximum(np.maximum(ph, dh), 1.0)
        ok = (ratio >= 0.5) & (ratio <= 2.0) & ~((iou < self.iou_min) & (dist > self.dist_max))
        out: np.ndarray = np.where(ok, iou - 0.25 * dist, np.nan)
        return out

    def finish(self) -> MaskPlan:
        every = len(self.analysed) == len(self.times)
        return MaskPlan(self.width, self.height, self.times, self.tracks, self.extend_s,
                        None if every else self.analysed, self.min_span_s)



def _summary(tr: _Track) -> Region:
    best = max(range(len(tr.scores)), key=lambda i: tr.scores[i])
    return Region(
        kind="face", box=tr.box(best), score=round(float(tr.scores[best]), 4), detector="faces",
        label="face", frame=int(tr.frames[0]), t_start=round(tr.times[0], 3),
        t_end=round(tr.times[-1], 3), track_id=tr.id,
    )


def _corners(boxes: list[Box]) -> np.ndarray:
    return np.array([(b.x1, b.y1, b.x2, b.y2) for b in boxes], np.float64).reshape(-1, 4)


def _iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every row of `a` with every row of `b` (geometry.iou, as arrays)."""
    iw = np.maximum(0.0, np.minimum(a[:, None, 2], b[None, :, 2])
                    - np.maximum(a[:, None, 0], b[None, :, 0]))
    ih = np.maximum(0.0, np.minimum(a[:, None, 3], b[None, :, 3])
                    - np.maximum(a[:, None, 1], b[None, :, 1]))
    inter = iw * ih
    area_a = np.maximum(0.0, a[:, 2] - a[:, 0]) * np.maximum(0.0, a[:, 3] - a[:, 1])
    area_b = np.maximum(0.0, b[:, 2] - b[:, 0]) * np.maximum(0.0, b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    out: np.ndarray = np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)
    return out


def _grow(box: Box, vx: float, vy: float, away_s: float) -> Box:
    """Grow by the distance the face can move in the time since it was seen,
    plus a tenth of its size (pose and size change between sightings).  The tenth
    applies on the sighting frames too: grown only between them, every mask
    pulsed with the detection stride (a visible flicker, and x264 re-coded every
    masked area each frame: 23 % larger files, ~0.6 s more CPU on the 10 s bench
    clip, bench/results/video_issue11.txt)."""
    mx = vx * away_s + 0.1 * box.w
    my = vy * away_s + 0.1 * box.h
    return Box(box.x1 - mx, box.y1 - my, box.x2 + mx, box.y2 + my)
