"""Seized items laid out for the camera (policy clause 28) → a 'seized_items' flag.

No model for "recovered goods on a table" exists, so this combines other detectors'
regions with a look at the background:
  * two or more weapons not carried by anyone, or
  * one weapon on a flat background (table top, sheet, floor cloth: one colour over
    a large share of the picture) together with other things: at least
    `min_objects` separate objects on that background, or text/labels (tags,
    seizure memos, placards: regions of kind 'text' or 'document').

What it catches: recovery photos of guns, and of a gun with cartridges, knives,
packets or cash spread on a cloth, provided the weapon detector finds the gun.
What it cannot: seized goods without a weapon (drugs, cash, liquor, phones alone:
no detector finds them), displays on cluttered or patterned backgrounds, and
whether the items are sealed (clause 28 allows sealed display).  Weapons held by
people (a face's torso overlaps the weapon) are not counted as laid out.
"""

from __future__ import annotations

import cv2
import numpy as np

from sanitize.detect.base import ModelInfo
from sanitize.types import Box, Region

_LABEL_KINDS = frozenset({"text", "document"})


def _labels(regions: list[Region]) -> list[Region]:
    """Text lines that can be tags or memos: wide boxes, and not number plates."""
    plates = [r.box for r in regions if r.kind == "plate"]
    return [r for r in regions if r.kind in _LABEL_KINDS and r.box.w >= 1.5 * r.box.h
            and not any(r.box.iou(p) > 0 for p in plates)]


def _carried(weapon: Box, faces: list[Box]) -> bool:
    """A weapon overlapping the torso area under a face is held or slung, not displayed."""
    for f in faces:
        torso = Box(f.cx - 1.5 * f.w, f.y1, f.cx + 1.5 * f.w, f.y2 + 4.5 * f.h)
        inter = Box(max(torso.x1, weapon.x1), max(torso.y1, weapon.y1),
                    min(torso.x2, weapon.x2), min(torso.y2, weapon.y2))
        if inter.area > 0.2 * min(weapon.area, torso.area):
            return True
    return False


def background_mask(rgb: np.ndarray, tol: float = 20.0) -> np.ndarray:
    """Pixels coloured like the picture's border (where a table or sheet shows)."""
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).astype(np.float32)
    h, w = lab.shape[:2]
    m = max(2, min(h, w) // 12)
    border = np.concatenate([lab[:m].reshape(-1, 3), lab[-m:].reshape(-1, 3),
                             lab[:, :m].reshape(-1, 3), lab[:, -m:].reshape(-1, 3)])
    ref = np.median(border, axis=0)
    dist: np.ndarray = np.linalg.norm(lab - ref, axis=2)
    return dist < tol


def count_objects(bg: np.ndarray, min_frac: float = 0.004) -> int:
    """Separate non-background blobs (items on the sheet) of a useful size."""
    fg = (~bg).astype(np.uint8)
    k = np.ones((3, 3), np.uint8)
    blobs = cv2.morphologyEx(cv2.morphologyEx(fg, cv2.MORPH_OPEN, k), cv2.MORPH_CLOSE, k)
    n, _, stats, _ = cv2.connectedComponentsWithStats(blobs)
    areas = stats[1:n, cv2.CC_STAT_AREA]
    return int((areas >= min_frac * bg.size).sum())


class SeizedItemsDetector:
    """`detect(rgb, regions)`: regions are the other detectors' output for the same
    picture (kinds 'weapon', 'face', 'text', 'document' are used)."""

    name = "seized_items"

    def __init__(self, min_weapons: int = 2, min_flat_share: float = 0.3,
                 min_objects: int = 3, min_single_score: float = 0.5,
                 flat_tol: float = 20.0, max_side: int = 320) -> None:
        self.min_weapons = min_weapons
        self.min_single_score = min_single_score
        self.min_flat_share = min_flat_share
        self.min_objects = min_objects
        self.flat_tol = flat_tol
        self.max_side = max_side

    def models(self) -> list[ModelInfo]:
        return []  # uses other detectors' regions and colour statistics only

    def detect(self, rgb: np.ndarray, regions: list[Region] | None = None) -> list[Region]:
        regions = regions or []
        faces = [r.box for r in regions if r.kind == "face"]
        weapons = [r for r in regions if r.kind == "weapon" and not _carried(r.box, faces)]
        if len(weapons) < self.min_weapons:
            # One weapon alone needs a confident detection: the weapon model's weak
            # hits (0.38-0.5) include car fronts, which also stand on flat floors.
            weapons = [r for r in weapons if r.score >= self.min_single_score]
        if not weapons:
            return []
        labels = _labels(regions)
        flat, objects = self._surface(rgb)
        score, why = self._score(len(weapons), flat, objects, len(labels))
        if score <= 0:
            return []
        area = weapons[0].box
        for r in weapons[1:] + labels:
            area = area.union(r.box)
        return [Region("seized_items", area, score, self.name, label=why)]

    def _surface(self, rgb: np.ndarray) -> tuple[bool, int]:
        h, w = rgb.shape[:2]
        s = min(1.0, self.max_side / max(h, w))
        small = cv2.resize(rgb, (max(8, round(w * s)), max(8, round(h * s))),
                           interpolation=cv2.INTER_AREA)
        small = cv2.GaussianBlur(small, (5, 5), 0)  # cloth weave and JPEG noise are not objects
        bg = background_mask(small, self.flat_tol)
        flat = float(bg.mean()) >= self.min_flat_share
        return flat, count_objects(bg) if flat else 0

    def _score(self, n_weapons: int, flat: bool, objects: int, labels: int) -> tuple[float, str]:
        if n_weapons >= self.min_weapons:
            return (0.8 if flat else 0.55), f"{n_weapons} weapons laid out"
        if flat and (objects >= self.min_objects or labels > 0):
            return 0.6, f"weapon on a flat surface with {objects} objects, {labels} labels"
        return 0.0, ""
