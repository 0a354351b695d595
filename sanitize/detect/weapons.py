"""Weapon flags (policy clause 28: recovered weapons may only be shown after sealing).

The model is basegun-ml's YOLOv8n-pose `keypoints.pt` (one class, 'weapon'),
exported to ONNX by models/export_weapon.py and shipped in the package as
sanitize/models/weapon_basegun_keypoints.onnx; sanitize/models/weapon.yaml maps
its class to the policy kind 'weapon' and sets the score threshold.  A copy of
either in the model folder (SANITIZE_MODEL_DIR) takes precedence.

It was made for basegun, the French Interior Ministry's tool that identifies
firearms from photos taken by police: one whole long gun or handgun laid out on
a table or the floor.  That is what it finds well.
Measured on the test corpus (tests/test_weapons.py, 2026-11-28): 18 of 20 such
photos (the misses are two handguns), false flags on 3 of 48 photos without a
gun (all car photos), and only 1 of 7 photos of armed personnel carrying rifles.
So it is a "seized weapon on display" flag, not a general gun detector.

Threshold 0.38, by measurement: the weakest whole-gun photo it finds scores 0.42
and the strongest photo without a gun below that 0.36.  0.45 loses a gun, 0.30
adds three false flags.  Within the gap the cut sits nearer the negatives: a
missed weapon is posted, a false flag only costs a review.
Tried and not used (same corpus, with an earlier fixed 640x640 export): a
horizontal-flip pass and a 90° rotation pass (the model is orientation-sensitive:
a revolver fell from 0.57 to 0.11 when flipped), a zoomed-out pass, and a 2x2
tiling of large pictures (found one more pistol but added three false flags, at
five times the cost).

Second look (issue 12), both measured on the corpus only:

* Keypoints.  The model is a pose model: four keypoints per box, two at the
  stock/grip end and one at the muzzle.  basegun photographs weapons side-on with
  the muzzle to the right, and the model follows that: every gun it flags in the
  corpus points right, up or down (muzzle angle -111..92 degrees), and flipping a
  right-pointing pistol drops it to ~0.  Its three false flags (cars, 0.46-0.49)
  all "point left" (173-175 degrees), and a flipped copy of the crop scores them
  lower, where a real left-pointing gun would score higher once it points right.
  So a candidate pointing left keeps its score only when its flipped crop scores
  at least as high; otherwise it drops to 0.75 x the lower of the two (below the
  threshold for every corpus car).
* Markings.  A gun-shaped object the model scores weakly (>= 0.2, below the
  threshold) that carries read text a plate detector took for a plate (engraved
  model names, calibre, serial numbers: the semi-automatic pistol's slide scored
  0.21 and its "MC20" became a "plate") is flagged as a weapon, and that text is
  part of the object, not a plate (`markings`).  An object with a registration
  number on it is a vehicle: its plates stay plates and it is not promoted.
  Tried and not used: re-scoring a crop around each candidate (lifts the pistol
  to 0.41, but five car photos to 0.43-0.54) and plain flip averaging (long guns
  are flip-insensitive, pistols are not).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from sanitize.detect.base import ModelInfo
from sanitize.detect.yolo import ClassSpec, YoloDetector, load_class_map
from sanitize.model_store import data_file, model_path
from sanitize.types import Box, Region

WEAPON_ONNX = "weapon_basegun_keypoints.onnx"
WEAPON_SHA256 = "6abd01079e78c31aae1fc25087ff90dc8124109fbe3e8a43154284fa9c4cc9c5"
WEAPON_CLASSES = "weapon.yaml"


@dataclass(frozen=True)
class Candidate:
    """One object the weapon model scores at least `look_from`, after the second look."""

    region: Region
    first_score: float
    muzzle_deg: float | None  # 0 = muzzle right, 90 = down (picture y), None: no keypoints


def muzzle_angle(kpts: np.ndarray) -> float | None:
    """Direction from the stock end (keypoints 1, 2) to the muzzle (keypoint 4), degrees."""
    if kpts.shape[0] < 4:
        return None
    v = kpts[3] - (kpts[0] + kpts[1]) / 2
    if not np.isfinite(v).all() or float(np.hypot(*v)) < 1e-3:
        return None
    return math.degrees(math.atan2(float(v[1]), float(v[0])))


class WeaponDetector:
    """Finds weapons (kind 'weapon', label 'weapon') with the shipped basegun model."""

    name = "weapons"

    def __init__(self, class_map: Path | None = None, look_from: float = 0.2,
                 left_deg: float = 150.0, demote: float = 0.75, crop_margin: float = 0.15,
                 second_look: bool = True) -> None:
        cmap = load_class_map(class_map or weapon_classes_path())
        path = weapon_onnx_path()
        self._yolo = YoloDetector(
            path, cmap.classes, self.name, cmap.model_info(WEAPON_SHA256), input_size=640
        )
        self.look_from = look_from
        self.left_deg = left_deg
        self.demote = demote
        self.crop_margin = crop_margin
        self.second_look = second_look

    @property
    def classes(self) -> dict[int, ClassSpec]:
        return dict(self._yolo.classes)

    @property
    def threshold(self) -> float:
        return min(c.threshold for c in self._yolo.classes.values())

    def models(self) -> list[ModelInfo]:
        return self._yolo.models()

    def detect(self, rgb: np.ndarray) -> list[Region]:
        """Weapons at or above the class threshold, after the second look."""
        return [c.region for c in self.candidates(rgb) if c.region.score >= self.threshold]

    def candidates(self, rgb: np.ndarray) -> list[Candidate]:
        """Every object scored >= look_from (weak ones feed `markings`)."""
        out = []
        for region, kpts in self._yolo.detect_keypoints(rgb, self.look_from):
            deg = muzzle_angle(kpts)
            score, label = region.score, region.label
            if (self.second_look and deg is not None and abs(deg) > self.left_deg
                    and score >= self.threshold):
                flipped = self._flipped_crop_score(rgb, region.box)
                if flipped >= score:
                    score = flipped
                    label = f"{label} (points left; flipped crop {flipped:.2f})"
                else:
                    score = self.demote * flipped
                    label = (f"{label} (points left, model {region.score:.2f}; flipped crop "
                             f"{flipped:.2f}: not gun-like)")
            out.append(Candidate(replace(region, score=float(score), label=label),
                                 region.score, deg))
        return out

    def _flipped_crop_score(self, rgb: np.ndarray, box: Box) -> float:
        h, w = rgb.shape[:2]
        m = self.crop_margin
        x0, y0 = int(max(0, box.x1 - m * box.w)), int(max(0, box.y1 - m * box.h))
        x1, y1 = int(min(w, box.x2 + m * box.w)), int(min(h, box.y2 + m * box.h))
        crop = np.ascontiguousarray(rgb[y0:y1, x0:x1, :][:, ::-1])
        hits = self._yolo.detect_keypoints(crop, self.look_from)
        return max((r.score for r, _ in hits), default=0.0)


def _inside(inner: Box, outer: Box, frac: float = 0.8) -> bool:
    ix = max(0.0, min(inner.x2, outer.x2) - max(inner.x1, outer.x1))
    iy = max(0.0, min(inner.y2, outer.y2) - max(inner.y1, outer.y1))
    return inner.area > 0 and ix * iy >= frac * inner.area


def markings(candidates: list[Candidate], plates: list[Region], threshold: float
             ) -> tuple[list[Region], list[Region]]:
    """(weapons promoted by their markings, plates left after removing markings).

    For each object the weapon model flags, or scores weakly and carries read text
    ('plate-shape': a weak candidate so marked becomes a weapon at the threshold's
    confidence, gun-shaped and engraved), the plate regions inside it are markings,
    not plates, unless one of them reads as a registration number (a vehicle).
    Plates inside other weak candidates stay plates: when unsure, blur."""
    promoted: list[Region] = []
    drop: set[int] = set()
    for c in candidates:
        if c.region.score < c.first_score:
            continue  # failed the second look: not gun-like, its plates stay plates
        inside = [i for i, p in enumerate(plates) if _inside(p.box, c.region.box)]
        if not inside or any(plates[i].label == "plate-text" for i in inside):
            continue
        read = [plates[i] for i in inside if plates[i].label == "plate-shape"]
        if c.region.score >= threshold:
            drop.update(inside)
        elif read:
            drop.update(inside)
            promoted.append(replace(
                c.region, score=round(threshold, 3),
                label=f"{c.region.label} (gun-shaped, model {c.region.score:.2f}, "
                      f"with {len(read)} marking(s) read as text)"))
    return promoted, [p for i, p in enumerate(plates) if i not in drop]


def weapon_onnx_path() -> Path:
    """The verified ONNX file: the model folder's copy, else the one in the package."""
    return model_path(WEAPON_ONNX, WEAPON_SHA256)


def weapon_classes_path() -> Path:
    """The class map: the model folder's copy, else the one in the package."""
    return data_file(WEAPON_CLASSES)
