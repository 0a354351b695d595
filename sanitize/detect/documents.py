"""Document-like pictures (policy clause 12: confidential documents, signed reports,
complaint letters) → one 'document' region to flag for review.

Uses only the shared text DETECTION result (no recognition): the PP-OCRv4 detector
finds Devanagari and Latin lines alike, so Hindi letters count without reading them.
A picture is document-like when text lines are a large share of it, or when many
lines of regular height sit densely in one area (a letter held up in a scene).
Measured on the corpus (detector at 960 px, 2026-11-28):
  * whole-picture path: the 5 document crops (incl. Devanagari) have a text-line
    share of 0.175-0.48 with line-height regularity >= 0.75; car, people, uniform
    and gun photos stay <= 0.07, except a sticker-covered plate close-up (0.14,
    regularity 0.38: not flagged) and a ministry letterhead (0.33: flagged, it is one);
  * dense-block path: document crops pasted into people photos are flagged 9/9
    when the page is 40 % of the picture height, 4/9 at 25 %; on the corpus it
    adds one false flag (a gun with a printed 4-line price label).
Cannot read what the text says (confidential or not), and misses pages too small
or blurred for the text detector, and handwriting the detector does not see.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from sanitize.detect.base import ModelInfo
from sanitize.detect.text import TextBox, detect_text, text_models
from sanitize.types import Box, Region


@dataclass(frozen=True)
class TextLayout:
    """What the decision needs to know about a picture's text lines."""

    lines: list[TextBox]  # lines of the densest block
    share: float  # fraction of the whole picture covered by text lines
    regularity: float  # fraction of all lines whose height is near their median
    block_regularity: float  # the same within the densest block
    area: Box | None  # bounding box of the block
    density: float  # fraction of `area` covered by text lines


def _is_line(b: TextBox, height: int, width: int, min_aspect: float, max_frac: float) -> bool:
    # Wide and not huge: big square "text" boxes are the detector firing on textures.
    return b.aspect >= min_aspect and b.box.h <= max_frac * max(height, width)


def _rasterise(lines: list[TextBox], height: int, width: int, s: float) -> np.ndarray:
    mask = np.zeros((max(1, round(height * s)), max(1, round(width * s))), np.uint8)
    for b in lines:
        cv2.fillPoly(mask, [(np.asarray(b.quad) * s).astype(np.int32)], 1)
    return mask


def _regularity(lines: list[TextBox]) -> float:
    heights = np.array([b.box.h for b in lines])
    med = float(np.median(heights))
    return float(np.mean((heights > 0.6 * med) & (heights < 1.6 * med)))


def _densest_block(lines: list[TextBox], mask: np.ndarray, s: float) -> list[TextBox]:
    """Lines of the largest block of text.  Lines closer than 2.5 line heights are
    joined (Devanagari letters leave wide gaps between lines), so a letter held up
    in a scene is measured apart from the signs elsewhere in it."""
    gap = max(3, int(np.median([b.box.h for b in lines]) * s * 2.5))
    joined = cv2.dilate(mask, np.ones((gap, gap), np.uint8))
    _, labels = cv2.connectedComponents(joined)
    groups: dict[int, list[TextBox]] = {}
    for b in lines:
        y = min(labels.shape[0] - 1, int(b.box.cy * s))
        x = min(labels.shape[1] - 1, int(b.box.cx * s))
        groups.setdefault(int(labels[y, x]), []).append(b)
    return max(groups.values(), key=lambda g: sum(b.box.area for b in g))


def _union(lines: list[TextBox]) -> Box:
    area = lines[0].box
    for b in lines[1:]:
        area = area.union(b.box)
    return area


def measure_layout(text: list[TextBox], height: int, width: int,
                   min_aspect: float = 1.5, max_frac: float = 0.2) -> TextLayout:
    lines = [b for b in text if _is_line(b, height, width, min_aspect, max_frac)]
    if not lines:
        return TextLayout([], 0.0, 0.0, 0.0, None, 0.0)
    # Rasterise at most ~512 px: the share needs no more precision than that.
    s = min(1.0, 512 / max(height, width))
    mask = _rasterise(lines, height, width, s)
    block = _densest_block(lines, mask, s)
    area = _union(block)
    sub = mask[int(area.y1 * s): int(np.ceil(area.y2 * s)) + 1,
               int(area.x1 * s): int(np.ceil(area.x2 * s)) + 1]
    density = float(sub.mean()) if sub.size else 0.0
    return TextLayout(block, float(mask.mean()), _regularity(lines), _regularity(block),
                      area, density)


class DocumentDetector:
    """`detect(rgb, text=None)`: pass the picture's shared `detect_text` result."""

    name = "documents"

    def __init__(self, min_share: float = 0.12, min_regularity: float = 0.6,
                 dense_min_lines: int = 4, dense_min_density: float = 0.2,
                 dense_min_regularity: float = 0.7, dense_min_area: float = 0.03) -> None:
        self.min_share = min_share
        self.min_regularity = min_regularity
        self.dense_min_lines = dense_min_lines
        self.dense_min_density = dense_min_density
        self.dense_min_regularity = dense_min_regularity
        self.dense_min_area = dense_min_area

    def models(self) -> list[ModelInfo]:
        return text_models(with_rec=False)

    def detect(self, rgb: np.ndarray, text: list[TextBox] | None = None) -> list[Region]:
        h, w = rgb.shape[:2]
        boxes = detect_text(rgb) if text is None else text
        lay = measure_layout(boxes, h, w)
        score = self._score(lay, h * w)
        if score <= 0 or lay.area is None:
            return []
        label = f"text share {lay.share:.2f}, {len(lay.lines)} lines"
        return [Region("document", lay.area, round(score, 3), self.name, label=label)]

    def _score(self, lay: TextLayout, pixels: int) -> float:
        if lay.area is None:
            return 0.0
        if lay.share >= self.min_share and lay.regularity >= self.min_regularity:
            # 0.6 at the threshold, rising with the share; a page of text is ~0.4+.
            return min(0.99, 0.6 + (lay.share - self.min_share) * 1.5)
        dense = (len(lay.lines) >= self.dense_min_lines
                 and lay.density >= self.dense_min_density
                 and lay.block_regularity >= self.dense_min_regularity
                 and lay.area.area >= self.dense_min_area * pixels)
        return min(0.9, 0.5 + lay.density * 0.5) if dense else 0.0
