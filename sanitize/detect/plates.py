"""Vehicle number plates (policy clause 30: bystanders' identity) → regions to blur.

Three sources, because no single one finds enough plates offline:
  1. text lines whose recognised string reads as an Indian registration number
     (state code, district, series, number; BH series), also across two stacked
     or side-by-side lines, with the usual OCR confusions (O/0, I/1, B/8 …);
  2. plate-shaped text lines (width/height 2–6, 2-12 characters with a digit);
     digit-free ones (showroom and vanity plates: "KITUP", "nano", a dealer's
     name) only when the picture shows a plate round them (`plate_shape`);
  3. OpenCV's Haar "russian plate" cascade, which fires on the plate's frame even
     when the characters are too small or blurred to be detected as text;
  4. a closer look (1 and 2 again, LOOK_CLOSER x magnified) at the text detector's
     faint spots (`TextLines.faint`): the plate of a car far behind, a few pixels
     high, shows as nothing more.
Recall wins over precision: a blurred badge or sign costs little, an unblurred
plate identifies a bystander.
"""

from __future__ import annotations

import re
from dataclasses import replace
from itertools import permutations
from pathlib import Path

import cv2
import numpy as np

from sanitize.detect.base import ModelInfo
from sanitize.detect.plate_shape import framed_plate
from sanitize.detect.text import TextBox, TextLines, detect_text, read_text, text_models
from sanitize.errors import ModelMissing
from sanitize.geometry import nms
from sanitize.hashing import sha256_file
from sanitize.types import Box, Region

# Registration state/UT codes (MoRTH); old codes kept because old plates stay on the road.
_STATES = frozenset({
    "AN", "AP", "AR", "AS", "BR", "CG", "CH", "DD", "DL", "DN", "GA", "GJ", "HP", "HR",
    "JH", "JK", "KA", "KL", "LA", "LD", "MH", "ML", "MN", "MP", "MZ", "NL", "OD", "OR",
    "PB", "PY", "RJ", "SK", "TN", "TR", "TS", "UA", "UK", "UP", "WB",
})
# OCR confusions: what a misread character was most likely meant to be.
_AS_LETTER = str.maketrans("0123568", "OIZESGB")
_AS_DIGIT = str.maketrans("OQDUILZSBGT", "00001125867")
_CASCADE = "haarcascade_russian_plate_number.xml"
MERGE_IOU = 0.3  # two plate hits this much overlapping are one plate
# Faint spots are read again magnified LOOK_CLOSER x (text ~10 detector pixels high
# becomes ~40) in a window of LOOK_WINDOW detector pixels round the spot; at most
# MAX_FAINT spots per picture (the corpus has 0-1 per picture) bound the time.
LOOK_CLOSER = 4.0
LOOK_WINDOW = (144, 96)
MAX_FAINT = 4


def _cascade_path() -> Path:
    # opencv-python >= 5 wheels ship no cascades: fail loudly rather than lose recall.
    folder = getattr(getattr(cv2, "data", None), "haarcascades", "")
    path = Path(folder) / _CASCADE
    if not path.is_file():
        raise ModelMissing(f"OpenCV Haar cascade {_CASCADE} is missing; install opencv-python<5")
    return path


def cascade_model() -> ModelInfo:
    return ModelInfo("opencv-haarcascade-russian-plate-number", cv2.__version__,
                     "Apache-2.0 (OpenCV)", sha256_file(_cascade_path()),
                     "PyPI opencv-python (cv2.data.haarcascades)")


def _alnum(s: str) -> str:
    return re.sub(r"[^0-9A-Za-z]", "", s).upper()


def _is_letters(s: str) -> bool:
    return s.translate(_AS_LETTER).isalpha() or s == ""


def _is_digits(s: str) -> bool:
    return s.translate(_AS_DIGIT).isdigit()


def _state_district(s: str) -> bool:
    return s[:2].translate(_AS_LETTER) in _STATES and _is_digits(s[2:])


def _standard(s: str) -> float:
    """SS DD [LLL] NNNN, e.g. UP32AB1234; 0.7 for SS DD [LLL] alone (number hidden,
    blurred, or on the second line of a two-line plate)."""
    best = 0.0
    for dl in (1, 2):
        head, rest = s[: 2 + dl], s[2 + dl:]
        if len(head) < 2 + dl or not _state_district(head):
            continue
        if dl == 2 and len(rest) <= 3 and _is_letters(rest):
            best = max(best, 0.7)
        for nl in (3, 4):
            series, number = rest[:-nl], rest[-nl:]
            if len(rest) > nl and len(series) <= 3 and _is_letters(series) and _is_digits(number):
                return 1.0
            if len(rest) == nl and _is_digits(number):
                best = max(best, 1.0)
    return best


def _bharat(s: str) -> bool:
    """YY BH NNNN L[L]: the Bharat series for transferable jobs."""
    return (len(s) in (9, 10) and _is_digits(s[:2]) and s[2:4] == "BH"
            and _is_digits(s[4:8]) and _is_letters(s[8:]))


def plate_text_score(raw: str) -> float:
    """1.0 for a full registration number, 0.7 for its first half, else 0."""
    lower = sum(c.islower() for c in raw)
    if lower > 1:  # plates are upper case; prose is not
        return 0.0
    s = _alnum(raw)
    if _bharat(s):
        return 1.0
    score = _standard(s)
    # A bare "SS DD" is weak evidence: accept it only when nothing was read as lower case.
    return score if score == 1.0 or lower == 0 else 0.0


def _neighbours(a: TextBox, b: TextBox) -> bool:
    """Two lines that could be parts of one plate: stacked or side by side, similar size."""
    ha, hb = a.box.h, b.box.h
    if not 0.4 < ha / max(hb, 1e-6) < 2.5:
        return False
    h = max(ha, hb)
    x_overlap = min(a.box.x2, b.box.x2) - max(a.box.x1, b.box.x1)
    y_overlap = min(a.box.y2, b.box.y2) - max(a.box.y1, b.box.y1)
    stacked = x_overlap > 0.3 * min(a.box.w, b.box.w) and -y_overlap < 0.6 * h
    side = y_overlap > 0.3 * min(ha, hb) and -x_overlap < 1.2 * h
    return stacked or side


def _with_lines_below(tb: TextBox, others: list[TextBox]) -> Box:
    """Grow a plate-number line by the line stacked right under it (two-line plates
    put the number or a name below the state/district line)."""
    box = tb.box
    for o in others:
        below = 0 < o.box.y1 - tb.box.cy < 1.5 * tb.box.h
        aligned = abs(o.box.cx - tb.box.cx) < 0.5 * tb.box.w and 0.5 < o.box.w / tb.box.w < 2
        if o is not tb and below and aligned:
            box = box.union(o.box)
    return box


def _reading_order(a: TextBox, b: TextBox) -> bool:
    """True when a is read before b (above it, or left of it on the same line)."""
    if a.box.cy < b.box.cy - 0.3 * min(a.box.h, b.box.h) and a.box.y1 < b.box.y1:
        return True
    return a.box.cx < b.box.cx and abs(a.box.cy - b.box.cy) < max(a.box.h, b.box.h) * 0.7


class PlateDetector:
    """`detect(rgb, text=None)`: pass the picture's shared `detect_text` result as `text`
    so the text detector runs once per picture (documents use the same result)."""

    name = "plates"

    def __init__(self, regex_score: float = 0.9, shape_score: float = 0.5,
                 haar_score: float = 0.4, min_aspect: float = 2.0, max_aspect: float = 6.0,
                 max_height_frac: float = 0.35, max_candidates: int = 24,
                 use_haar: bool = True, haar_max_side: int = 960) -> None:
        self.regex_score = regex_score
        self.shape_score = shape_score
        self.haar_score = haar_score
        self.min_aspect, self.max_aspect = min_aspect, max_aspect
        self.max_height_frac = max_height_frac
        self.max_candidates = max_candidates
        self.use_haar = use_haar
        self.haar_max_side = haar_max_side
        self._cascade: cv2.CascadeClassifier | None = None

    def models(self) -> list[ModelInfo]:
        return text_models(with_rec=True) + ([cascade_model()] if self.use_haar else [])

    def detect(self, rgb: np.ndarray, text: list[TextBox] | None = None) -> list[Region]:
        h = rgb.shape[0]
        boxes = detect_text(rgb) if text is None else text
        cands = self._candidates(boxes, h)
        strings = read_text(rgb, cands)
        regions = self._from_text(rgb, cands, strings)
        if isinstance(boxes, TextLines):
            regions += self._from_faint(rgb, boxes.faint[: MAX_FAINT], boxes.scale)
        if self.use_haar:
            regions += self._from_haar(rgb)
        # One region per plate.  Overlapping hits are merged into their UNION (not
        # suppressed): the text line and the cascade's plate frame cover different
        # parts of the same plate, and the blur must cover both.
        return nms(regions, MERGE_IOU, merge=True)

    def _candidates(self, boxes: list[TextBox], height: int) -> list[TextBox]:
        # Wide bounds: parts of two-line plates are squarer (aspect ~1.5) than a plate.
        ok = [b for b in boxes if 1.2 <= b.aspect <= 9.0
              and b.box.h <= self.max_height_frac * height]
        return sorted(ok, key=lambda b: b.score, reverse=True)[: self.max_candidates]

    def _region(self, box: Box, score: float, label: str) -> Region:
        return Region("plate", box, round(score, 3), self.name, label=label)

    def _from_text(self, rgb: np.ndarray, cands: list[TextBox],
                   strings: list[str]) -> list[Region]:
        out: list[Region] = []
        for tb, s in zip(cands, strings, strict=True):
            if (ps := plate_text_score(s)) > 0:
                box = _with_lines_below(tb, cands)
                out.append(self._region(box, self.regex_score * ps, "plate-text"))
            elif self._plate_shaped(tb, s):
                out.append(self._region(tb.box, self.shape_score, "plate-shape"))
            elif self._word_shaped(tb, s) and (plate := framed_plate(rgb, tb.quad)):
                out.append(self._region(plate, self.shape_score, "plate-frame"))
        # Two-line and split plates: read neighbouring lines together.
        for (a, sa), (b, sb) in permutations(zip(cands, strings, strict=True), 2):
            ps = plate_text_score(sa + sb)
            if ps > 0 and _neighbours(a, b) and _reading_order(a, b):
                merged = a.box.union(b.box)
                out.append(self._region(merged, self.regex_score * ps + 0.01, "plate-text"))
        return out

    def _plate_shaped(self, tb: TextBox, s: str) -> bool:
        chars = _alnum(s)
        # Plates carry 2-12 characters, digits among them; long strings are slogans,
        # URLs, captions, and digit-free words are badges and signs.
        return (self.min_aspect <= tb.aspect <= self.max_aspect and 2 <= len(chars) <= 12
                and any(c.isdigit() for c in chars))

    def _from_faint(self, rgb: np.ndarray, spots: list[Box], scale: float) -> list[Region]:
        h, w = rgb.shape[:2]
        out: list[Region] = []
        for spot in spots:
            hw, hh = LOOK_WINDOW[0] / 2 / scale, LOOK_WINDOW[1] / 2 / scale
            x1, y1 = max(0, int(spot.cx - hw)), max(0, int(spot.cy - hh))
            x2, y2 = min(w, int(spot.cx + hw) + 1), min(h, int(spot.cy + hh) + 1)
            z = LOOK_CLOSER * scale
            size = (round((x2 - x1) * z), round((y2 - y1) * z))
            if min(size) < 32:
                continue
            big = cv2.resize(rgb[y1:y2, x1:x2], size, interpolation=cv2.INTER_CUBIC)
            cands = self._candidates(detect_text(big, max_side=max(size)), size[1])
            for r in self._from_text(big, cands, read_text(big, cands)):
                b = r.box
                out.append(replace(r, box=Box(x1 + b.x1 / z, y1 + b.y1 / z,
                                              x1 + b.x2 / z, y1 + b.y2 / z)))
        return out

    def _word_shaped(self, tb: TextBox, s: str) -> bool:
        # A name or a word, in any script (Chinese dealer plates read as 4 Han characters).
        n = len("".join(s.split()))
        return self.min_aspect <= tb.aspect <= self.max_aspect and 2 <= n <= 12

    def _from_haar(self, rgb: np.ndarray) -> list[Region]:
        if self._cascade is None:
            self._cascade = cv2.CascadeClassifier(str(_cascade_path()))
        h, w = rgb.shape[:2]
        s = min(1.0, self.haar_max_side / max(h, w))
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        gray = cv2.resize(gray, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
        # Equalised: the cascade was trained on contrasty plates; dim photos miss otherwise.
        hits = self._cascade.detectMultiScale(cv2.equalizeHist(gray), scaleFactor=1.1,
                                              minNeighbors=3, minSize=(24, 8))
        return [self._region(Box(x / s, y / s, (x + bw) / s, (y + bh) / s), self.haar_score,
                             "plate-haar") for x, y, bw, bh in (hits if len(hits) else [])]
