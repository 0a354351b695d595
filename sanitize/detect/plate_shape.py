"""Is a text line printed on a plate?  A cue from the picture, not from the text.

Showroom and vanity plates ("KITUP", "nano", "Passat CC", a dealer's name in
Chinese) carry no registration number, so their text says nothing a sign, a
badge, an engraving or a document line would not say too.  What sets a plate
apart is its shape: a small board of one colour just larger than its text.  So,
in the text line's own frame (perspective-rectified, which straightens angled
plates):

  1. the line's background colour (the majority of its pixels, split from the
     characters by Otsu on lightness) continues just outside the line on most of
     its outline: the plate's margin (ring >= MIN_RING);
  2. that colour stops soon: the connected area of it around the line stays clear
     of a window 1.2 line heights above and below and >= 1.5 heights (or 35 % of
     the width) to the sides (border share <= MAX_BORDER), and reaches at most
     MAX_ABOVE_BELOW line heights above or below the line (plates hug their text
     vertically; a sign, a wall, a document page, a gun's receiver do not end there);
  3. characters and background differ clearly (contrast >= MIN_CONTRAST, CIE L*).

Measured on the corpus (the 149 word-shaped text lines of 89 pictures): it accepts
16 lines, all on the car photos (plates, the four digit-free showroom plates among
them, and a Ford badge); none on guns (engravings, dealer watermarks), documents,
people or uniforms (ablations: bench/results/plates_issue12.txt).  It rejects
most real plates too (a plate as wide as its text, a plate the colour of the car):
it is a gate for lines nothing else accepts, not a plate finder.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from sanitize.types import Box

LINE_PX = 24  # the line is rectified to this height
ABOVE = 1.2  # window above and below the line, in line heights
SIDE = 1.5  # window to each side, in line heights (at least SIDE_FRAC of the width)
SIDE_FRAC = 0.35
MIN_RING = 0.3
MAX_BORDER = 0.1
MAX_ABOVE_BELOW = 0.4
MIN_CONTRAST = 30.0


@dataclass(frozen=True)
class Frame:
    """What `measure` found around one text line (see the module docstring)."""

    contrast: float  # |L*| between background and characters
    ring: float  # share of a thin ring round the line in the background colour
    border: float  # share of the window's edge reached by the background area
    left: float  # how far the background area reaches beyond the line, in line heights
    right: float
    above: float
    below: float
    box: Box  # the background area (the plate) in picture coordinates, with the line

    @property
    def is_plate(self) -> bool:
        return (self.contrast >= MIN_CONTRAST and self.ring >= MIN_RING
                and self.border <= MAX_BORDER
                and max(self.above, self.below) <= MAX_ABOVE_BELOW)


def _size(q: np.ndarray) -> tuple[float, float]:
    w = float(max(np.linalg.norm(q[0] - q[1]), np.linalg.norm(q[3] - q[2])))
    h = float(max(np.linalg.norm(q[0] - q[3]), np.linalg.norm(q[1] - q[2])))
    return w, h


def measure(rgb: np.ndarray, quad: tuple[tuple[float, float], ...]) -> Frame | None:
    """The plate cues around one text quad (clockwise from top-left); None when the
    quad is degenerate."""
    q = np.asarray(quad, np.float32)
    w, h = _size(q)
    if w < 2 or h < 2:
        return None
    tw, th = max(4, round(w * LINE_PX / h)), LINE_PX
    ex, ey = round(max(SIDE_FRAC * tw, SIDE * th)), round(ABOVE * th)
    size = (tw + 2 * ex, th + 2 * ey)
    dst = np.array([[ex, ey], [ex + tw, ey], [ex + tw, ey + th], [ex, ey + th]], np.float32)
    m = cv2.getPerspectiveTransform(q, dst)
    win = cv2.warpPerspective(rgb, m, size, flags=cv2.INTER_AREA)
    # Where the window falls outside the picture, nothing is known: not background.
    inside = cv2.warpPerspective(np.full(rgb.shape[:2], 255, np.uint8), m, size,
                                 flags=cv2.INTER_NEAREST) > 0
    lab = cv2.cvtColor(win, cv2.COLOR_RGB2LAB).astype(np.float32)

    line = lab[ey:ey + th, ex:ex + tw].reshape(-1, 3)
    light = line[:, 0].astype(np.uint8)
    t, _ = cv2.threshold(light, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    hi = light > t
    bg_px = hi if hi.mean() >= 0.5 else ~hi
    if bg_px.all() or not bg_px.any():
        return None
    bg = np.median(line[bg_px], axis=0)
    fg = np.median(line[~bg_px], axis=0)
    contrast = abs(float(bg[0] - fg[0]))
    spread = float(np.median(np.linalg.norm(line[bg_px] - bg, axis=1)))
    # Loose enough for lighting across a plate, never so loose the characters match.
    tol = min(max(10.0, 2.5 * spread), 0.5 * contrast)
    near = (np.linalg.norm(lab - bg, axis=2) < tol) & inside

    grown = near.astype(np.uint8)
    grown[ey:ey + th, ex:ex + tw] = 1  # the characters belong to the plate too
    _, labels = cv2.connectedComponents(grown, connectivity=4)
    area = labels == labels[ey + th // 2, ex + tw // 2]
    edge = np.concatenate([area[0], area[-1], area[:, 0], area[:, -1]])
    edge_in = np.concatenate([inside[0], inside[-1], inside[:, 0], inside[:, -1]])
    border = float(edge[edge_in].mean()) if edge_in.any() else 1.0

    r = max(2, th // 4)
    ring = np.zeros_like(area)
    ring[ey - r:ey + th + r, ex - r:ex + tw + r] = True
    ring[ey:ey + th, ex:ex + tw] = False
    ring &= inside
    ring_share = float(near[ring].mean()) if ring.any() else 0.0

    ys, xs = np.nonzero(area)
    x1, x2, y1, y2 = int(xs.min()), int(xs.max()) + 1, int(ys.min()), int(ys.max()) + 1
    corners = np.array([[[x1, y1], [x2, y1], [x2, y2], [x1, y2]]], np.float32)
    back = cv2.perspectiveTransform(corners, np.linalg.inv(m))[0]
    pts = np.vstack([back, q])
    hgt, wid = rgb.shape[:2]
    box = Box(max(0.0, float(pts[:, 0].min())), max(0.0, float(pts[:, 1].min())),
              min(float(wid), float(pts[:, 0].max())), min(float(hgt), float(pts[:, 1].max())))
    return Frame(contrast, ring_share, border, (ex - x1) / th, (x2 - ex - tw) / th,
                 (ey - y1) / th, (y2 - ey - th) / th, box)


def framed_plate(rgb: np.ndarray, quad: tuple[tuple[float, float], ...]) -> Box | None:
    """The plate round a text line (its box, line included), or None when the line
    does not sit on a plate-shaped board."""
    f = measure(rgb, quad)
    return f.box if f is not None and f.is_plate else None
