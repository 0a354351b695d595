"""Box arithmetic, in one place: overlap (intersection, IoU), non-maximum
suppression, and the area a mask must cover.

Two forms of the same rules: on `Box`/`Region` objects (a handful per picture)
and on float arrays with columns x1, y1, x2, y2, score, … (the thousands of raw
candidates a detector emits).  This module imports nothing from the project at
run time, so `types.Box` can use it too.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Protocol, TypeVar

import numpy as np

if TYPE_CHECKING:
    from sanitize.types import Box, Region


class _Corners(Protocol):
    @property
    def x1(self) -> float: ...
    @property
    def y1(self) -> float: ...
    @property
    def x2(self) -> float: ...
    @property
    def y2(self) -> float: ...


def _area(b: _Corners) -> float:
    return max(0.0, b.x2 - b.x1) * max(0.0, b.y2 - b.y1)


def intersection(a: _Corners, b: _Corners) -> float:
    """Area two boxes share."""
    iw = max(0.0, min(a.x2, b.x2) - max(a.x1, b.x1))
    ih = max(0.0, min(a.y2, b.y2) - max(a.y1, b.y1))
    return iw * ih


def iou(a: _Corners, b: _Corners) -> float:
    """Intersection over union; 0 for two empty boxes."""
    inter = intersection(a, b)
    union = _area(a) + _area(b) - inter
    return inter / union if union > 0 else 0.0


def overlaps(box: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """IoU, intersection and areas of one array box against each row of `boxes`
    (columns x1, y1, x2, y2 first)."""
    iw = np.clip(np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]), 0, None)
    ih = np.clip(np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]), 0, None)
    inter = iw * ih
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    own = (box[2] - box[0]) * (box[3] - box[1])
    return inter / np.maximum(own + area - inter, 1e-6), inter, area


def nms_arrays(dets: np.ndarray, iou_max: float, class_column: int | None = None) -> np.ndarray:
    """Greedy NMS on an (N, ≥5) array (column 4 the score): highest score first, a
    box is dropped when its IoU with a kept one reaches `iou_max`.  With
    `class_column`, boxes of different classes never suppress each other.
    Returned sorted by score, best first."""
    if class_column is not None and len(dets):
        parts = [nms_arrays(dets[dets[:, class_column] == c], iou_max)
                 for c in np.unique(dets[:, class_column])]
        out = np.concatenate(parts)
        return out[np.argsort(-out[:, 4], kind="stable")]
    dets = dets[np.argsort(-dets[:, 4], kind="stable")]
    x1, y1, x2, y2 = dets[:, 0], dets[:, 1], dets[:, 2], dets[:, 3]
    area = (x2 - x1) * (y2 - y1)
    keep = np.ones(len(dets), bool)
    for i in range(len(dets)):
        if keep[i]:
            # As overlaps(), inlined: this loop runs once per kept box.
            iw = np.clip(np.minimum(x2[i], x2[i + 1:]) - np.maximum(x1[i], x1[i + 1:]), 0, None)
            ih = np.clip(np.minimum(y2[i], y2[i + 1:]) - np.maximum(y1[i], y1[i + 1:]), 0, None)
            inter = iw * ih
            keep[i + 1:] &= inter / np.maximum(area[i] + area[i + 1:] - inter, 1e-6) < iou_max
    return dets[keep]


R = TypeVar("R", bound="Region")


def nms(regions: list[R], iou_max: float = 0.4, merge: bool = False) -> list[R]:
    """Greedy NMS within each kind: highest score first.  A region whose IoU with a
    kept one of its kind reaches `iou_max` is dropped, or with `merge` folded into
    the kept one as the union of both boxes (for hits that cover different parts
    of one object, which the mask must cover whole)."""
    kept: list[R] = []
    for r in sorted(regions, key=lambda r: r.score, reverse=True):
        for i, k in enumerate(kept):
            if r.kind == k.kind and iou(r.box, k.box) >= iou_max:
                if merge:
                    kept[i] = replace(k, box=k.box.union(r.box))
                break
        else:
            kept.append(r)
    return kept


# How much each kind's detector box is grown before masking (left/right, up, down)
# as fractions of the box size.  Faces: the detector box stops at the hairline
# and cheeks; heads are ~1.5x wider and ~1.6x taller.  Every kind grows by at
# least 0.1 on each side, so that the `blur` shape inscribed in the grown box
# (redact.py) still covers the corners of the detector's box ((0.5/0.6)^4 * 2 < 1).
_GROW: dict[str, tuple[float, float, float]] = {
    "face": (0.35, 0.55, 0.25),
    "plate": (0.12, 0.25, 0.25),
}
_GROW_OTHER = (0.12, 0.12, 0.12)


def cover_box(kind: str, box: Box, width: int, height: int) -> Box:
    """The area to mask for a detection of `kind`: its box grown (see _GROW),
    clipped to the picture."""
    gx, up, down = _GROW.get(kind, _GROW_OTHER)
    grown = replace(box, x1=box.x1 - gx * box.w, y1=box.y1 - up * box.h,
                    x2=box.x2 + gx * box.w, y2=box.y2 + down * box.h)
    return grown.clipped(width, height)
