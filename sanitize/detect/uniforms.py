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
* a uniform is worn head to toe, so a person whose legs show must have trousers
  alike (khaki/olive share >= 0.4 below the face's thighs-to-knees box, or
  camouflage), unless the torso colour alone is strong (score >= 0.75); a person
  whose legs are out of the picture (portraits, close-ups) needs a torso score
  >= 0.65, so camouflage alone (0.6) is not enough there;
* a torso or legs box holding a bigger face (someone nearer the camera) belongs
  to that person, who is judged through their own face: the smaller face's owner
  is skipped;
* a whole-picture fallback for pictures without faces (backs turned), off by
  default: uniform photos' whole-picture share is 0.30-1.0 (foliage counts as
  olive), and at 0.6 it adds a false flag on a gun photo; the corpus has no
  faceless uniform photo to measure what it would gain.

Measured (faces from FaceDetector, 2026-12-01, score >= the policy's 0.5):
uniform photos 7/7 flagged, 33/50 torsos; people in ordinary clothes 0/16 photos,
0/258 torsos.  Before the trousers and nearer-face rules: 7/7 (36/50 torsos) and
4/16 (9 torsos: a beige coat over jeans, grey-olive sweaters seen through small
faces behind nearer people, a grey shirt over a brown table taken for
camouflage).  Holdout (measure only, bench/bench_holdout.py): uniform photos
13/20 -> 11/20, street photos flagged 4/16 -> 3/16 (bench/results/
precision_issue12.txt).  Still cannot tell police khaki from a beige/brown
civilian shirt worn with matching trousers or a strong khaki/olive top, nor a
uniform from army-print fashion; a seated officer whose legs box shows a desk
needs a strong torso colour; misses navy, white and black uniforms (traffic
police, Navy), and torsos hidden behind vests or guns.

The cue is the person, not the face: besides the people found through their
faces, OpenCV's HOG people detector (shipped in opencv-python, no model file)
finds standing people by body shape, so a picture whose faces are masked (the
tool's own review copy, a third party's blurred photo) still gets its uniforms
checked by `sanitize check`.  HOG finds upright, mostly whole people of at least
~100 px height (the picture is scaled to 800 px on its long side first: 960 px
cost 1.5x for the same finds on the masked corpus uniform photos); it misses
sitting, cropped and crowded people, which the face path covers when faces show.
Each uniform Region's box is the whole person (face to knees, or the HOG box),
so `faces_in_uniform` can tell which faces belong to a uniformed person (the
review page's "officer?" suggestion).
"""

from __future__ import annotations

from dataclasses import dataclass

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


def legs_box(face: Box, width: int, height: int) -> Box:
    """Thighs to knees of a face's owner, under the torso box (2 face-widths wide)."""
    return Box(face.cx - face.w, face.y2 + 3.8 * face.h, face.cx + face.w,
               face.y2 + 6.0 * face.h).clipped(width, height)


def person_box(face: Box, width: int, height: int) -> Box:
    """The whole person under a face, as far as a reviewer needs it: head to about the
    knees (the torso box's width)."""
    half = 1.5 * face.w
    return Box(face.cx - half, face.y1 - 0.3 * face.h, face.cx + half,
               face.y2 + 6.0 * face.h).clipped(width, height)


@dataclass(frozen=True)
class Person:
    """One person to look at: the whole-person box, where the torso is, and the face
    it was found by (None when found by body shape alone)."""

    box: Box
    torso: Box
    face: Box | None
    source: str  # "face" | "body"
    # A bigger face (someone nearer the camera) inside this person's torso or legs:
    # those pixels are the other person's clothes, judged through that face.
    occluded: bool = False


def _hog() -> cv2.HOGDescriptor:
    global _HOG
    if _HOG is None:
        _HOG = cv2.HOGDescriptor()
        _HOG.setSVMDetector(np.asarray(cv2.HOGDescriptor.getDefaultPeopleDetector(), np.float32))
    return _HOG


_HOG: cv2.HOGDescriptor | None = None


def hog_model() -> ModelInfo:
    """Provenance of the people detector: the SVM weights compiled into OpenCV (no
    file), identified by the sha256 of the coefficient vector."""
    import hashlib

    coef = np.ascontiguousarray(cv2.HOGDescriptor.getDefaultPeopleDetector(), np.float32)
    return ModelInfo("opencv-hog-default-people", cv2.__version__, "Apache-2.0 (OpenCV)",
                     hashlib.sha256(coef.tobytes()).hexdigest(),
                     "PyPI opencv-python (cv2.HOGDescriptor_getDefaultPeopleDetector, "
                     "compiled in; Dalal-Triggs INRIA person model)")


def body_people(rgb: np.ndarray, long_side: int = 800, min_weight: float = 0.3,
                step: float = 1.05) -> list[Box]:
    """Standing people found by body shape (HOG + linear SVM, Dalal-Triggs), no face needed.

    The picture is scaled to `long_side` (small pictures up, so that people of
    ~85 px height reach HOG's 128 px window); overlapping hits are merged."""
    h, w = rgb.shape[:2]
    s = long_side / max(h, w)
    if min(h, w) * s < 128:  # HOG's window does not fit (it raises on tiny pictures)
        return []
    small = cv2.resize(rgb, (round(w * s), round(h * s)),
                       interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    rects, weights = _hog().detectMultiScale(small, winStride=(8, 8), padding=(8, 8),
                                             scale=step)
    boxes = [(Box(x / s, y / s, (x + bw) / s, (y + bh) / s), float(wt))
             for (x, y, bw, bh), wt in zip(np.asarray(rects).reshape(-1, 4),
                                           np.ravel(weights), strict=True)
             if float(wt) >= min_weight]
    kept: list[Box] = []
    for b, _ in sorted(boxes, key=lambda t: -t[1]):
        if all(b.iou(k) < 0.4 for k in kept):
            kept.append(b.clipped(w, h))
    return kept


def body_torso(person: Box) -> Box:
    """The torso inside a HOG person box: the window pads the person by ~1/4 of its
    width on each side and ~1/8 of its height at the top."""
    return Box(person.x1 + 0.3 * person.w, person.y1 + 0.22 * person.h,
               person.x2 - 0.3 * person.w, person.y1 + 0.5 * person.h)


def body_legs(person: Box) -> Box:
    """Thighs to knees inside a HOG person box."""
    return Box(person.x1 + 0.3 * person.w, person.y1 + 0.55 * person.h,
               person.x2 - 0.3 * person.w, person.y1 + 0.85 * person.h)


def _occluded(face: Box, faces: list[Box], width: int, height: int,
              bigger: float = 1.2) -> bool:
    body = (torso_box(face, width, height), legs_box(face, width, height))
    return any(o.w >= bigger * face.w and any(b.x1 <= o.cx <= b.x2 and b.y1 <= o.cy <= b.y2
                                               for b in body) for o in faces)


def faces_in_uniform(faces: list[Box], uniforms: list[Region]) -> list[bool]:
    """For each face, whether it lies in a uniformed person's box (the review page's
    "officer?" suggestion): its centre inside the box, in the top third."""
    out = []
    for f in faces:
        hit = False
        for u in uniforms:
            b = u.box
            if u.kind == "uniform" and b.x1 <= f.cx <= b.x2 and b.y1 <= f.cy <= b.y1 + b.h / 3:
                hit = True
                break
        out.append(hit)
    return out


def _skin_mask(lab: np.ndarray, face_lab: np.ndarray, tol: float) -> np.ndarray:
    d: np.ndarray = np.linalg.norm(lab.astype(np.float32) - face_lab[None, None, :], axis=2)
    return d < tol


def _face_colour(rgb: np.ndarray, face: Box) -> np.ndarray | None:
    """Median Lab colour of the face's centre (cheeks, nose): that person's skin."""
    x1, x2 = int(face.x1 + 0.3 * face.w), int(face.x2 - 0.3 * face.w)
    y1, y2 = int(face.y1 + 0.35 * face.h), int(face.y2 - 0.25 * face.h)
    patch = rgb[max(0, y1):max(0, y2), max(0, x1):max(0, x2)]
    if patch.shape[0] * patch.shape[1] < 4:
        return None
    lab = cv2.cvtColor(np.ascontiguousarray(patch), cv2.COLOR_RGB2LAB).reshape(-1, 3)
    colour: np.ndarray = np.median(lab, axis=0).astype(np.float32)
    return colour


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
                 scene_fallback: bool = False, scene_min_share: float = 0.6,
                 body: bool = True, body_side: int = 800, body_step: float = 1.05,
                 legs_min_share: float = 0.4, legs_min_h: float = 1.0,
                 torso_only_score: float = 0.65, torso_strong_score: float = 0.75) -> None:
        self.min_share = min_share
        self.olive_weight = olive_weight
        self.camo = (camo_colours, camo_share, camo_blotch)
        self.min_face_px = min_face_px
        self.skin_tol = skin_tol
        self.scene_fallback = scene_fallback
        self.scene_min_share = scene_min_share
        self.body = body  # also look for people by body shape (HOG), not only by face
        self.body_side, self.body_step = body_side, body_step
        self.legs_min_share, self.legs_min_h = legs_min_share, legs_min_h
        self.torso_only_score = torso_only_score
        self.torso_strong_score = torso_strong_score

    def models(self) -> list[ModelInfo]:
        return [hog_model()] if self.body else []  # otherwise colour rules only

    def detect(self, rgb: np.ndarray, faces: list[Region] | None = None) -> list[Region]:
        h, w = rgb.shape[:2]
        people = self.people(rgb, faces)
        out = [r for p in people if (r := self._person(rgb, p, w, h)) is not None]
        if not people and self.scene_fallback:
            out += self._scene(rgb)
        return out

    def people(self, rgb: np.ndarray, faces: list[Region] | None = None) -> list[Person]:
        """Everyone to look at: people under a face, then standing people found by body
        shape whose head is not one of those faces (masked, turned away, too small)."""
        h, w = rgb.shape[:2]
        face_boxes = [f.box for f in (faces or [])
                      if f.kind == "face" and f.box.w >= self.min_face_px]
        out = [Person(person_box(f, w, h), torso_box(f, w, h), f, "face",
                      _occluded(f, face_boxes, w, h)) for f in face_boxes]
        if not self.body:
            return out
        for b in body_people(rgb, self.body_side, step=self.body_step):
            # A face anywhere in the box: that person is looked at through the face,
            # or the box is HOG firing on a close-up face (seen on a speaker photo).
            if any(b.x1 <= f.cx <= b.x2 and b.y1 <= f.cy <= b.y2 for f in face_boxes):
                continue
            out.append(Person(b, body_torso(b).clipped(w, h), None, "body"))
        return out

    def _share(self, khaki: float, olive: float) -> float:
        # Olive is weighted up: ordinary clothes in the corpus almost never show it
        # (90th percentile 0.01 of torso pixels), camouflage always does.
        return min(1.0, khaki + self.olive_weight * olive)

    def _score(self, share: float) -> float:
        if share < self.min_share:
            return 0.0
        return min(0.9, 0.4 + (share - self.min_share))

    def _person(self, rgb: np.ndarray, p: Person, w: int, h: int) -> Region | None:
        if p.face is not None:
            t, f = p.torso, p.face
            if t.h < f.h or t.w < f.w or p.occluded:
                return None  # torso mostly outside the picture, or someone else's
            skin = _face_colour(rgb, f)
            score, label = self._crop_score(rgb, t, skin)
            if score <= 0:
                return None
            lb = legs_box(f, w, h)
            if lb.h >= self.legs_min_h * f.h:
                # A uniform is one colour (or print) head to toe: a khaki-ish top over
                # jeans (the beige coat), over a table or a crowd is not one.
                if self._legs_match(rgb, lb, skin):
                    how = "face, trousers alike"
                elif score >= self.torso_strong_score:
                    how = "face, strong torso colour"
                else:
                    return None
            elif score < self.torso_only_score:
                return None  # no legs in the picture: only a strong torso colour counts
            else:
                how = "face, legs out of the picture"
        else:
            # No face to take the skin colour from and a coarser box: ask for the whole
            # uniform, shirt and trousers alike (a civilian's top and trousers rarely
            # share a khaki/olive/camouflage colour; a brown table behind a torso and
            # a beige coat over jeans did in the corpus).
            score, label = self._crop_score(rgb, p.torso.clipped(w, h), None)
            legs_score, _ = self._crop_score(rgb, body_legs(p.box).clipped(w, h), None)
            score = min(score, legs_score)
            how = "body shape, no face seen"
        if score <= 0:
            return None
        return Region("uniform", p.box, round(score, 3), self.name,
                      label=f"{label}; person found by {how}")

    def _legs_match(self, rgb: np.ndarray, legs: Box, skin: np.ndarray | None) -> bool:
        if legs.w < 8 or legs.h < 8:
            return False
        crop = rgb[int(legs.y1):int(legs.y2), int(legs.x1):int(legs.x2)]
        share = self._share(*colour_shares(crop, skin, self.skin_tol))
        return share >= self.legs_min_share or self._is_camouflage(crop)

    def _crop_score(self, rgb: np.ndarray, t: Box, skin: np.ndarray | None
                    ) -> tuple[float, str]:
        if t.w < 8 or t.h < 8:
            return 0.0, ""
        crop = rgb[int(t.y1):int(t.y2), int(t.x1):int(t.x2)]
        share = self._share(*colour_shares(crop, skin, self.skin_tol))
        score, label = self._score(share), f"uniform-colour share {share:.2f}"
        if score < 0.6 and self._is_camouflage(crop):
            score, label = 0.6, "camouflage pattern"
        return score, label

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
