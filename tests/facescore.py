"""The face-recall scoring rule the tests and the bench measure the detector by
(measurement only: nothing at run time uses it).

How the corpus measurements (tests, bench) decide that a face was found.  A
detection finds a ground-truth face when IoU ≥ 0.3 (the detectors frame faces
differently: CenterFace's boxes are taller than yuface's and than the hand
boxes), or when it covers ≥ 50 % of the face while being at most 9x its area
(a merged or generous box still blurs the face; a picture-sized box must not
count).  A detection is a false positive when it neither finds nor lies ≥ 50 %
inside any ground-truth face, ignored ones included.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sanitize.geometry import intersection
from sanitize.types import Box

MATCH_IOU = 0.3
MATCH_COVER = 0.5
MATCH_MAX_AREA_RATIO = 9.0
MIN_SCORED_FACE_PX = 16  # the target covers faces at least this tall


def finds(det: Box, gt: Box) -> bool:
    """Does detection `det` find ground-truth face `gt` (the rule above)?"""
    if gt.area <= 0:
        return False
    if det.iou(gt) >= MATCH_IOU:
        return True
    inter = intersection(det, gt)
    return inter >= MATCH_COVER * gt.area and det.area <= MATCH_MAX_AREA_RATIO * gt.area


def is_false_positive(det: Box, gts: Sequence[Box]) -> bool:
    return not any(
        finds(det, g) or intersection(det, g) >= MATCH_COVER * max(det.area, 1e-6) for g in gts
    )


@dataclass
class FaceScore:
    """Recall and false positives of one or more pictures against ground truth."""

    faces: int = 0
    found: int = 0
    false_pos: int = 0
    misses: list[str] = field(default_factory=list)

    @property
    def recall(self) -> float:
        return self.found / self.faces if self.faces else 1.0

    def add(self, other: FaceScore) -> None:
        self.faces += other.faces
        self.found += other.found
        self.false_pos += other.false_pos
        self.misses += other.misses


def score_faces(name: str, boxes: Sequence[Box], truth: Sequence[dict[str, Any]],
                min_px: float = MIN_SCORED_FACE_PX) -> FaceScore:
    """Score detections against ground-truth entries {"box": [x1,y1,x2,y2], "ignore"?}.

    Recall counts non-ignored faces at least `min_px` tall; smaller or ignored
    faces are neither misses nor false positives.
    """
    every = [Box(*f["box"]) for f in truth]
    counted = [Box(*f["box"]) for f in truth
               if not f.get("ignore") and f["box"][3] - f["box"][1] >= min_px]
    out = FaceScore(faces=len(counted))
    for g in counted:
        if any(finds(b, g) for b in boxes):
            out.found += 1
        else:
            out.misses.append(f"{name} {g.as_list()} h={g.h:.0f}")
    out.false_pos = sum(is_false_positive(b, every) for b in boxes)
    return out
