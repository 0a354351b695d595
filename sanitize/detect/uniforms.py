"""Police/armed-force uniforms (policy clauses 2, 3, 31: no reels or videos in uniform)
→ 'uniform' regions to FLAG for review.  No offline uniform model exists, so this is
a colour heuristic and only a "possible uniform" hint:

* for each face, the torso box under it (about 3 face-widths wide, 3.5 face-heights
  tall, starting at the chin) is scored by its khaki share + 2 x its olive share
  (HSV), after removing pixels coloured like that face's own skin (arms and neck
  are skin, and skin shares khaki's hue);
* a torso below that threshold is still flagged when it looks like camouflage:
  reduced to 4 colours, >= 3 of them earthy (sand, olive, brown, dark grey) with
  >= 90 % of the pixels, in small blotches (digital/BSF/CRPF prints are grey-brown
  and escape the khaki/olive ranges);
* a whole-picture fallback for pictures without faces (backs turned), off by
  default: uniform photos' whole-picture share is 0.30-1.0 (foliage counts as
  olive), and at 0.6 it adds a false flag on a gun photo; the corpus has no
  faceless uniform photo to measure what it would gain.

Measured (faces from FaceDetector, 2026-11-28): uniform photos 7/7 flagged, 38/50
torsos; people in ordinary clothes 4/16 photos, 11/258 torsos (beige coat, brown
and tan tops in crowds).  Cannot tell police khaki from a beige/brown civilian
shirt, kurta or coat, nor a uniform from army-print fashion; misses navy, white
and black uniforms (traffic police, Navy), and torsos hidden behind vests or guns.
"""

from __future__ import annotations

import cv2
import numpy as np

from sanitize.detect.base import ModelInfo
from sanitize.types import Box, Region

_Range = tuple[tuple[int, int, int], tuple[int, int, int]]
# OpenCV HSV (H 0-179, S and V 0-255), inclusive bounds.
_KHAKI: _Range = ((8, 40, 70), (30, 160, 235))  # police khaki, tan, BSF sand
_OLIVE: _Range = ((25, 25, 35), (50, 170, 190))  # olive drab, camouflage greens


def _in_range(hsv: np.ndarray, rng: _Range) -> np.ndarray:
    return cv2.inRange(hsv, np.array(rng[0], np.uint8), np.array(rng[1], np.uint8)) > 0


def torso_box(face: Box, width: int, height: int, widths: float = 3.0,
              heights: float = 3.5) -> Box:
    """Where the torso of a face's owner is, in an upright picture."""
    top = face.y2 + 0.15 * face.h  # just under the chin
    half = widths * face.w / 2
    return Box(face.cx - half, top, face.cx + half, top + heights * face.h).clipped(width, height)


def _skin_mask(lab: np.ndarray, face_lab: np.ndarray, tol: float) -> np.ndarray:
    d = np.linalg.norm(lab.astype(np.float32) - face_lab[None, None, :], axis=2)
    return d < tol


def _face_colour(rgb: np.ndarray, face: Box) -> np.ndarray | None:
    """Median Lab colour of the face's centre (cheeks, nose): that person's skin."""
    x1, x2 = int(face.x1 + 0.3 * face.w), int(face.x2 - 0.3 * face.w)
    y1, y2 = int(face.y1 + 0.35 * face.h), int(face.y2 - 0.25 * face.h)
    patch = rgb[max(0, y1):max(0, y2), max(0, x1):max(0, x2)]
    if patch.shape[0] * patch.shape[1] < 4:
        return None
    lab = cv2.cvtColor(np.ascontiguousarray(patch), cv2.COLOR_RGB2LAB).reshape(-1, 3)
    return np.median(lab, axis=0).astype(np.float32)


def colour_shares(rgb: np.ndarray, skin_lab: np.ndarray | None = None,
                  skin_tol: float = 12.0) -> tuple[float, float]:
    """(khaki share, olive share) of the non-skin pixels of a crop."""
    if rgb.size == 0:
        return 0.0, 0.0
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    keep = np.ones(hsv.shape[:2], bool)
    if skin_lab is not None:
        keep = ~_skin_mask(cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB), skin_lab, skin_tol)
    n = int(keep.sum())
    if n < 0.3 * keep.size:  # almost all skin (bare torso, close-up): no evidence
        return 0.0, 0.0
    khaki = float((_in_range(hsv, _KHAKI) & keep).sum()) / n
    olive = float((_in_range(hsv, _OLIVE) & keep).sum()) / n
    return khaki, olive


def _is_earthy(h: int, s: int, v: int) -> bool:
    """Sand/khaki/olive/brown, or a dark grey-black: the colours of issued camouflage."""
    sand_to_olive = 10 <= h <= 50 and 20 <= s <= 200 and 25 <= v <= 215
    return bool(sand_to_olive or (s < 60 and 20 <= v <= 120))


def camouflage(rgb: np.ndarray, k: int = 4) -> tuple[int, float, float]:
    """(earthy colours covering >= 10 % each, their total share, blotchiness) of a crop.

    The crop is reduced to k colours; camouflage is several earthy colours in small
    blotches (a high share of neighbouring pixels of different colour), where a
    plain shirt is one or two colours in large areas."""
    small = cv2.GaussianBlur(cv2.resize(rgb, (48, 64), interpolation=cv2.INTER_AREA), (3, 3), 0)
    pixels = small.reshape(-1, 3).astype(np.float32)
    # Deterministic start (brightness quartiles), so a re-run gives the same result.
    luma = pixels.mean(axis=1)
    init = np.searchsorted(np.quantile(luma, [0.25, 0.5, 0.75]), luma).astype(np.int32)
    crit = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 10, 1.0)
    _, labels, centres = cv2.kmeans(pixels, k, init.reshape(-1, 1), crit, 1,
                                    cv2.KMEANS_USE_INITIAL_LABELS)
    labels = labels.reshape(64, 48)
    hsv = cv2.cvtColor(centres.reshape(1, k, 3).clip(0, 255).astype(np.uint8),
                       cv2.COLOR_RGB2HSV)[0]
    frac = np.bincount(labels.ravel(), minlength=k) / labels.size
    earthy = [_is_earthy(*map(int, c)) for c in hsv]
    blotch = (np.mean(labels[1:] != labels[:-1]) + np.mean(labels[:, 1:] != labels[:, :-1])) / 2
    n = sum(1 for e, f in zip(earthy, frac, strict=True) if e and f >= 0.1)
    share = float(sum(f for e, f in zip(earthy, frac, strict=True) if e))
    return n, share, float(blotch)


class UniformDetector:
    """`detect(rgb, faces)`: faces are the face detector's regions for the same picture."""

    name = "uniforms"

    def __init__(self, min_share: float = 0.5, olive_weight: float = 2.0,
                 camo_colours: int = 3, camo_share: float = 0.9, camo_blotch: float = 0.2,
                 min_face_px: int = 12, skin_tol: float = 12.0,
                 scene_fallback: bool = False, scene_min_share: float = 0.6) -> None:
        self.min_share = min_share
        self.olive_weight = olive_weight
        self.camo = (camo_colours, camo_share, camo_blotch)
        self.min_face_px = min_face_px
        self.skin_tol = skin_tol
        self.scene_fallback = scene_fallback
        self.scene_min_share = scene_min_share

    def models(self) -> list[ModelInfo]:
        return []  # colour rules only

    def detect(self, rgb: np.ndarray, faces: list[Region] | None = None) -> list[Region]:
        h, w = rgb.shape[:2]
        faces = [f for f in (faces or []) if f.kind == "face" and f.box.w >= self.min_face_px]
        out = [r for f in faces if (r := self._torso(rgb, f.box, w, h)) is not None]
        if not faces and self.scene_fallback:
            out += self._scene(rgb)
        return out

    def _share(self, khaki: float, olive: float) -> float:
        # Olive is weighted up: ordinary clothes in the corpus almost never show it
        # (90th percentile 0.01 of torso pixels), camouflage always does.
        return min(1.0, khaki + self.olive_weight * olive)

    def _score(self, share: float) -> float:
        if share < self.min_share:
            return 0.0
        return min(0.9, 0.4 + (share - self.min_share))

    def _torso(self, rgb: np.ndarray, face: Box, w: int, h: int) -> Region | None:
        t = torso_box(face, w, h)
        if t.h < face.h or t.w < face.w:  # torso mostly outside the picture
            return None
        crop = rgb[int(t.y1):int(t.y2), int(t.x1):int(t.x2)]
        skin = _face_colour(rgb, face)
        share = self._share(*colour_shares(crop, skin, self.skin_tol))
        score, label = self._score(share), f"uniform-colour share {share:.2f}"
        if score < 0.6 and self._is_camouflage(crop):
            score, label = 0.6, "camouflage pattern"
        if score <= 0:
            return None
        return Region("uniform", t, round(score, 3), self.name, label=label)

    def _is_camouflage(self, crop: np.ndarray) -> bool:
        n, share, blotch = camouflage(crop)
        return n >= self.camo[0] and share >= self.camo[1] and blotch >= self.camo[2]

    def _scene(self, rgb: np.ndarray) -> list[Region]:
        h, w = rgb.shape[:2]
        s = min(1.0, 256 / max(h, w))
        small = cv2.resize(rgb, (max(1, round(w * s)), max(1, round(h * s))),
                           interpolation=cv2.INTER_AREA)
        share = self._share(*colour_shares(small))
        if share < self.scene_min_share:
            return []
        return [Region("uniform", Box(0, 0, w, h), 0.3, self.name,
                       label=f"scene uniform-colour share {share:.2f}")]
