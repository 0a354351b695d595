"""Irreversible masks, on pictures and on video frames (I420 planes).

Three modes.  `blur` (the default) is what a press office would post: a soft
oval (a superellipse, see _oval_alpha) over each head, filled with a heavily
smoothed, contrast-cut, noised field, its edge feathered outward so that
neighbouring heads in a crowd merge into one smooth shape.  `pixelate` shows
the same kind of information (at most 4 cells across the head at 20 % contrast,
seeded noise) as blocks; `solid` paints the box black.

Irreversibility of `blur`: the fill is made like the pixelation cells
(downsampled to <= 4 cells across the shorter side, contrast cut to 8 %, seeded
noise per cell), then upsampled smoothly and blurred again; so a mask carries
no more about a face than 16 noised, flattened means.  The oval is inscribed
in the grown box; `geometry._GROW` is chosen so that the detector's own box lies wholly
inside the oval's opaque core (tests/test_redact.py checks the geometry and
the pixels).

A face box from a detector spans forehead to chin; the mask must cover the whole
head (hair, ears, chin, a margin), so `geometry.cover_box` grows it before masking.  The
pixelation cell is sized to the head so that at most 4 cells span it, and the
cells' contrast is cut to 20 %: too coarse to re-identify, and too flat for the
tool's own detector to fire on.  Measured on the face corpus and the 12 MP crowd
mosaic (2026-11-29): with 6 full-contrast cells the re-check found 58 "faces"
inside masks (yuface fires on a pixelated head's light/dark blocks); with 4 cells
at 30 % contrast one, at 20 % none (the others it found lie outside every mask:
borderline faces that JPEG re-compression tipped over the threshold, masked in the
next round).  tests/test_image_pipeline.py checks this on three crowds.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

import cv2
import numpy as np

from sanitize.media.video import MaskFrame, i420_planes
from sanitize.types import Box

MASKS = ("blur", "pixelate", "solid")
DEFAULT_MASK = "blur"

_MAX_CELLS = 4
_CONTRAST = 0.2  # of the cells' deviation from the patch mean
_NOISE = 10  # +- per channel, per cell
# The `blur` shape is a superellipse |x/a|^4 + |y/b|^4 = 1: an oval with fuller
# shoulders.  A true ellipse (power 2) is itself a face to the detector: on six
# corpus crowds (graduation, large group, fans, kids, audience, friends) it fired
# 6-10 times inside masks at any contrast tried (0.04-0.15); power 3 3 times;
# power 4 never.  Per-pixel grain on top of the fill also made it fire (2 hits at
# sigma 6), so the only noise is the pixelation's, per cell.
_BLUR_CONTRAST = 0.08

_FEATHER = 0.12  # feather width outside the oval, as a fraction of the box's shorter side


def _cells(w: int, h: int, most: int = _MAX_CELLS) -> tuple[int, int]:
    # At most `most` cells across the shorter side, never fewer than 2.
    n = max(2, min(most, min(w, h) // 4))
    return max(2, round(n * w / max(1, min(w, h)))), max(2, round(n * h / max(1, min(w, h))))


def _pixelate(patch: np.ndarray, seed: int, noise: int = _NOISE) -> np.ndarray:
    h, w = patch.shape[:2]
    cw, ch = _cells(w, h)
    small = cv2.resize(patch, (cw, ch), interpolation=cv2.INTER_AREA).astype(np.float32)
    mean = small.reshape(-1, small.shape[-1] if small.ndim == 3 else 1).mean(axis=0)
    small = mean + _CONTRAST * (small - mean)
    # Noise comparable to the flattened cells' contrast, so their exact means (the
    # only information left) cannot be inverted by a learned upsampler.
    # Seeded by position so that a re-run writes identical bytes (resume, ledger).
    rng = np.random.default_rng(seed)
    small += rng.integers(-noise, noise + 1, size=small.shape)
    small = np.clip(np.rint(small), 0, 255).astype(np.uint8)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)


def _smooth_fill(patch: np.ndarray, core_w: int, core_h: int, seed: int,
                 noise: int = _NOISE) -> np.ndarray:
    """The pixelation's flattened, noised cells (sized to the core box), upsampled
    smoothly and blurred once more."""
    h, w = patch.shape[:2]
    cw, ch = _cells(core_w, core_h)
    # Cells sized to the core, spread over the (larger, feathered) patch.
    cw = max(2, round(cw * w / max(1, core_w)))
    ch = max(2, round(ch * h / max(1, core_h)))
    small = cv2.resize(patch, (cw, ch), interpolation=cv2.INTER_AREA).astype(np.float32)
    mean = small.reshape(-1, small.shape[-1] if small.ndim == 3 else 1).mean(axis=0)
    small = mean + _BLUR_CONTRAST * (small - mean)
    rng = np.random.default_rng(seed)
    small += rng.integers(-noise, noise + 1, size=small.shape)
    # Smooth at 16 px per cell, then stretch: the same look as a blur at full
    # size for a fraction of the cost on a big face.
    mid = cv2.resize(small, (cw * 16, ch * 16), interpolation=cv2.INTER_LINEAR)
    mid = cv2.GaussianBlur(mid, (0, 0), 4.0)
    return cv2.resize(mid, (w, h), interpolation=cv2.INTER_LINEAR)


def _oval_alpha(h: int, w: int, core: tuple[float, float, float, float],
                feather: float, square: tuple[bool, bool, bool, bool] = (False,) * 4
                ) -> np.ndarray:
    """1.0 inside the oval inscribed in `core` (patch coordinates x1, y1, x2, y2),
    falling smoothly to 0 over `feather` pixels outside it.  `square` (left, top,
    right, bottom) keeps the box's own edge on those sides instead of rounding:
    a box cut by the picture's border (a head half out of frame) would otherwise
    get an oval squashed into what is left, too small for the head in it."""
    x1, y1, x2, y2 = core
    a, b = max(0.5, (x2 - x1) / 2), max(0.5, (y2 - y1) / 2)
    xs = (np.arange(w, dtype=np.float32) + 0.5 - (x1 + x2) / 2) / a
    ys = (np.arange(h, dtype=np.float32) + 0.5 - (y1 + y2) / 2) / b
    left, top, right, bottom = square
    if left or right:
        xs = np.where((xs < 0) & left | (xs > 0) & right, 0.0, xs).astype(np.float32)
    if top or bottom:
        ys = np.where((ys < 0) & top | (ys > 0) & bottom, 0.0, ys).astype(np.float32)
    xx, yy = xs * xs, ys * ys
    r = np.sqrt(np.sqrt(xx[None, :] * xx[None, :] + yy[:, None] * yy[:, None]))
    # Distance outside the oval, approximately, in pixels.
    out = (r - 1.0) * min(a, b)
    t = np.clip(1.0 - out / max(feather, 1e-3), 0.0, 1.0)
    return (t * t * (3.0 - 2.0 * t)).astype(np.float32)  # smoothstep


def mask_reach(b: Box) -> float:
    """How far outside its box a mask changes pixels (the blur's feather)."""
    return max(2.0, _FEATHER * min(b.w, b.h))


_Bounds = tuple[int, int, int, int, tuple[float, float, float, float], float,
                tuple[bool, bool, bool, bool]]


def _patch_bounds(bx1: float, by1: float, bx2: float, by2: float, w: int, h: int
                  ) -> _Bounds | None:
    """The feathered patch round a box in a w x h plane, as _oval_alpha wants it:
    (x1, y1, x2, y2, the box in patch coordinates, feather, the sides the picture's
    border cuts); None when nothing of it lies in the plane.  Pictures and video
    frames (each plane) alike."""
    feather = max(2.0, _FEATHER * min(bx2 - bx1, by2 - by1))  # mask_reach
    x1, y1 = math.floor(max(0.0, bx1 - feather)), math.floor(max(0.0, by1 - feather))
    x2, y2 = math.ceil(min(w, bx2 + feather)), math.ceil(min(h, by2 + feather))
    if x2 - x1 < 1 or y2 - y1 < 1:
        return None
    core = (bx1 - x1, by1 - y1, bx2 - x1, by2 - y1)
    return x1, y1, x2, y2, core, feather, (bx1 <= 0, by1 <= 0, bx2 >= w, by2 >= h)


def _oval_patch(b: Box, w: int, h: int) -> tuple[int, int, int, int, np.ndarray]:
    """The pixels one oval mask touches on a w x h picture (x1, y1, x2, y2) and
    its alpha there; the feather lies outside the core oval (alpha 1)."""
    bounds = _patch_bounds(b.x1, b.y1, b.x2, b.y2, w, h)
    if bounds is None:
        return 0, 0, 0, 0, np.zeros((0, 0), np.float32)
    x1, y1, x2, y2, core, feather, square = bounds
    return x1, y1, x2, y2, _oval_alpha(y2 - y1, x2 - x1, core, feather, square)


def _mask_oval(img: np.ndarray, b: Box, seed: int, noise: int = _NOISE) -> None:
    """Composite one feathered elliptical mask onto img in place.  The feather lies
    outside the core oval, so every pixel of the core is replaced entirely."""
    h, w = img.shape[:2]
    x1, y1, x2, y2, alpha = _oval_patch(b, w, h)
    if alpha.size == 0:
        return
    patch = img[y1:y2, x1:x2].astype(np.float32)
    fill = _smooth_fill(img[y1:y2, x1:x2], max(1, round(b.w)), max(1, round(b.h)), seed, noise)
    if patch.ndim == 3:
        alpha = alpha[:, :, None]
    mixed = patch * (1.0 - alpha) + fill * alpha
    img[y1:y2, x1:x2] = np.clip(np.rint(mixed), 0, 255).astype(np.uint8)


def core_share(box: Box, masks: Iterable[Box], mode: str, width: int, height: int) -> float:
    """Share of `box`'s pixels that one of `masks` (as `mask_boxes` paints them on a
    width x height picture) replaced entirely: the blur's opaque ovals, the other
    modes' rectangles.  A detection lying almost wholly in such pixels has found
    a mask, not a face: nothing of a face is left there to see."""
    x1, y1 = max(0, int(np.floor(box.x1))), max(0, int(np.floor(box.y1)))
    x2, y2 = min(width, int(np.ceil(box.x2))), min(height, int(np.ceil(box.y2)))
    if x2 <= x1 or y2 <= y1:
        return 0.0
    covered = np.zeros((y2 - y1, x2 - x1), bool)
    for m in masks:
        if m.x2 <= x1 or m.x1 >= x2 or m.y2 <= y1 or m.y1 >= y2:
            continue  # the replaced pixels (an oval's core, a rectangle) lie inside m
        if mode == "blur":
            px1, py1, px2, py2, alpha = _oval_patch(m, width, height)
        else:
            px1, py1 = int(np.floor(max(0, m.x1))), int(np.floor(max(0, m.y1)))
            px2, py2 = int(np.ceil(min(width, m.x2))), int(np.ceil(min(height, m.y2)))
        ix1, iy1, ix2, iy2 = max(x1, px1), max(y1, py1), min(x2, px2), min(y2, py2)
        if ix2 <= ix1 or iy2 <= iy1:
            continue
        part = (alpha[iy1 - py1:iy2 - py1, ix1 - px1:ix2 - px1] >= 1.0 if mode == "blur"
                else True)
        covered[iy1 - y1:iy2 - y1, ix1 - x1:ix2 - x1] |= part
    return float(covered.mean())


def _solid(patch: np.ndarray, seed: int, noise: int = 0) -> np.ndarray:
    return np.zeros_like(patch)


_MASK_FN = {"pixelate": _pixelate, "solid": _solid}


def mask_boxes(img: np.ndarray, boxes: Iterable[Box], mode: str = DEFAULT_MASK,
               noise: int = _NOISE) -> np.ndarray:
    """Mask each (already grown) box in place on an HxW or HxWxC uint8 array; returns img.

    `blur` paints the oval inscribed in each box (feathered outward); masks are
    composited in the order given, so overlapping heads blend into one shape and
    no earlier mask's core ever shows original pixels again.  `pixelate` and
    `solid` cover the full rectangle.  `noise`: the per-cell noise amplitude."""
    h, w = img.shape[:2]
    if mode == "blur":
        for b in boxes:
            _mask_oval(img, b, int(max(0, b.x1)) * 65599 + int(max(0, b.y1)), noise)
        return img
    fn = _MASK_FN[mode]
    for b in boxes:
        x1, y1 = int(np.floor(max(0, b.x1))), int(np.floor(max(0, b.y1)))
        x2, y2 = int(np.ceil(min(w, b.x2))), int(np.ceil(min(h, b.y2)))
        if x2 - x1 < 1 or y2 - y1 < 1:
            continue
        img[y1:y2, x1:x2] = fn(np.ascontiguousarray(img[y1:y2, x1:x2]), x1 * 65599 + y1, noise)
    return img


# ------------------------------------------------------------------ video frames


def _snap(b: Box, width: int, height: int) -> Box:
    """Grow a box outwards onto a grid of about one mosaic cell (even pixels).

    A box that shifts a pixel or two between frames re-places the mosaic (cells
    and noise are positioned by the box), so x264 re-encodes every masked area on
    every frame: a masked crowd costs 3x the bits and ~1.8x the encode CPU.  On a
    grid, a face that barely moves keeps a still mosaic; the mask only grows.
    (Measured on a clip that pans and zooms throughout: size 4.6 → 4.3 MB, so
    the gain is for still scenes.)  Even edges keep the half-size chroma aligned."""
    step = max(2, 2 * round(min(b.w, b.h) / 12))
    return Box(
        step * (b.x1 // step), step * (b.y1 // step),
        min(width, step * -(-b.x2 // step)), min(height, step * -(-b.y2 // step)),
    )


class FillMemo:
    """The `blur` fills of the previous frame's boxes, by snapped box.

    A box that has not moved since the previous frame (snapping keeps a barely
    moving face's box still: 39 % of the boxes on the 10 s bench crowd clip) gets
    the fill it had, not one made from this frame: its core is the same pixels
    again, so x264 has nothing to encode there, and a viewer has no change from
    frame to frame to average over.  The fill still comes from the masked area
    itself (the frame the box arrived on), and only one frame back is kept."""

    def __init__(self) -> None:
        self._prev: dict[tuple[Any, ...], np.ndarray] = {}
        self._cur: dict[tuple[Any, ...], np.ndarray] = {}

    def next_frame(self) -> None:
        self._prev, self._cur = self._cur, {}

    def fill(self, key: tuple[Any, ...], make: Callable[[], np.ndarray]) -> np.ndarray:
        got = self._prev.get(key)
        if got is None:
            got = make()
        self._cur[key] = got
        return got


def mask_i420(i420: np.ndarray, boxes: list[Box], mode: str,
              memo: FillMemo | None = None) -> None:
    """Mask boxes in place: Y at full size, U and V with the boxes halved.

    `blur` takes the video path (_video_oval): the picture path's shape and fill
    at a fraction of the cost, since it runs for every face on every frame.
    `memo` (one per video, frames in order): still boxes keep their fill."""
    if memo is not None:
        memo.next_frame()
    if not boxes:
        return
    h, w = i420.shape[0] * 2 // 3, i420.shape[1]
    y, u, v = i420_planes(i420, w, h)
    even = [_snap(b, w, h) for b in boxes]
    if mode == "blur":
        # Cell means come from planes shrunk 4x once per frame (an integer
        # factor: one fast area-average) instead of one odd-sized shrink per box.
        y4 = _shrunk(y)
        uv4 = cv2.merge((_shrunk(u), _shrunk(v)))
        for b in even:
            _video_oval(y, u, v, y4, uv4, b, memo)
        return
    half = [b.scaled(0.5) for b in even]
    mask_boxes(y, even, mode)
    if mode == "solid":
        # Solid luma 0 with chroma 0 is saturated green: neutral grey chroma instead.
        for b in half:
            u[int(b.y1):int(b.y2), int(b.x1):int(b.x2)] = 128
            v[int(b.y1):int(b.y2), int(b.x1):int(b.x2)] = 128
        return
    # No noise on chroma: U and V get the same seeds (same boxes), so their noise
    # moved together and tinted masks pink and green; luma's noise is what
    # hides the cells' means, and 4 flattened chroma cells identify no one.
    mask_boxes(u, half, mode, noise=0)
    mask_boxes(v, half, mode, noise=0)


_SHRINK = 4


def _shrunk(plane: np.ndarray) -> np.ndarray:
    """The plane averaged over 4x4 blocks (a ragged last row/column left out)."""
    h, w = plane.shape[0] // _SHRINK, plane.shape[1] // _SHRINK
    return cv2.resize(plane[:h * _SHRINK, :w * _SHRINK], (max(1, w), max(1, h)),
                      interpolation=cv2.INTER_AREA)


# Per-cell noise for video masks: a fixed table read from an offset given by the
# box's position, instead of a generator seeded per box (17 us each, x50 faces
# x every frame).  Same amplitude and the same role as _pixelate's noise.
_NOISE_TABLE = np.random.default_rng(20261201).integers(
    -_NOISE, _NOISE + 1, size=1 << 16).astype(np.float32)


def _table_noise(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    n = int(np.prod(shape))
    start = (seed * 2654435761) % (len(_NOISE_TABLE) - n)
    return _NOISE_TABLE[start:start + n].reshape(shape)


def _video_oval(y: np.ndarray, u: np.ndarray, v: np.ndarray, y4: np.ndarray,
                uv4: np.ndarray, b: Box, memo: FillMemo | None = None) -> None:
    """_mask_oval on one frame's I420 planes, with a snapped (even) box: Y with
    noised cells, U and V together (one two-channel patch, no noise).  y4 and
    uv4: the planes shrunk by _SHRINK, where the cells' means are taken.

    Cheaper than the picture path (it runs for every face on every frame): the
    alpha of a box size is computed once (snapped boxes repeat sizes from frame
    to frame), the fill is smoothed at 4 px per cell instead of 16 (the same blur
    relative to a cell) and stretched as uint8, and the blend is one OpenCV call.
    As there, the feather lies outside the core oval: every pixel of the core is
    the fill alone, made from at most 4 flattened, noised cell means across."""
    h, w = y.shape
    patch = _video_patch(b.x1, b.y1, b.x2, b.y2, w, h)
    if patch is None:
        return
    x1, y1, x2, y2, alpha, inv = patch
    seed = int(max(0, b.x1)) * 65599 + int(max(0, b.y1))
    region = y[y1:y2, x1:x2]

    def luma() -> np.ndarray:
        return _video_fill(_crop(y4, x1, y1, x2, y2), x2 - x1, y2 - y1,
                           max(1, round(b.w)), max(1, round(b.h)), seed, _NOISE)

    key = (b.x1, b.y1, b.x2, b.y2)
    fill = luma() if memo is None else memo.fill(("y", *key), luma)
    y[y1:y2, x1:x2] = cv2.blendLinear(fill, region, alpha, inv)
    patch = _video_patch(b.x1 / 2, b.y1 / 2, b.x2 / 2, b.y2 / 2, w // 2, h // 2)
    if patch is None:
        return
    x1, y1, x2, y2, alpha, inv = patch
    uv = cv2.merge((u[y1:y2, x1:x2], v[y1:y2, x1:x2]))

    def chroma() -> np.ndarray:
        return _video_fill(_crop(uv4, x1, y1, x2, y2), x2 - x1, y2 - y1,
                           max(1, round(b.w / 2)), max(1, round(b.h / 2)), seed, 0)

    fill = chroma() if memo is None else memo.fill(("uv", *key), chroma)
    mixed = cv2.blendLinear(fill, uv, alpha, inv)
    u[y1:y2, x1:x2], v[y1:y2, x1:x2] = cv2.split(mixed)


def _crop(small: np.ndarray, x1: int, y1: int, x2: int, y2: int) -> np.ndarray:
    """The part of a shrunk plane under full-size [x1, x2) x [y1, y2) (at least 1 px)."""
    sh, sw = small.shape[:2]
    a, c = min(x1 // _SHRINK, sw - 1), min(y1 // _SHRINK, sh - 1)
    return small[c:max(c + 1, min(sh, -(-y2 // _SHRINK))), a:max(a + 1, min(sw, -(-x2 // _SHRINK)))]


def _video_patch(bx1: float, by1: float, bx2: float, by2: float, w: int, h: int
                 ) -> tuple[int, int, int, int, np.ndarray, np.ndarray] | None:
    """The feathered patch round a box in a w x h plane, with its alpha and 1 - alpha."""
    bounds = _patch_bounds(bx1, by1, bx2, by2, w, h)
    if bounds is None:
        return None
    x1, y1, x2, y2, core, feather, square = bounds
    alpha, inv = _cached_alpha(y2 - y1, x2 - x1, core, feather, square)
    return x1, y1, x2, y2, alpha, inv


# Alphas of recent patch sizes, least recently used dropped past a memory budget:
# a crowd's snapped boxes repeat their sizes from frame to frame (97 % hits on
# the 10 s bench clip, ~950 sizes, ~100 MB unbounded), and a close-up's are large.
_ALPHA_BUDGET = 32 << 20  # bytes
_alphas: OrderedDict[tuple[Any, ...], tuple[np.ndarray, np.ndarray]] = OrderedDict()
_alpha_bytes = 0
_alpha_lock = threading.Lock()


def _cached_alpha(h: int, w: int, core: tuple[float, float, float, float], feather: float,
                  square: tuple[bool, bool, bool, bool]) -> tuple[np.ndarray, np.ndarray]:
    """_oval_alpha and 1 - alpha, remembered (read-only) for the next frames."""
    global _alpha_bytes
    key = (h, w, core, feather, square)
    with _alpha_lock:
        hit = _alphas.get(key)
        if hit is not None:
            _alphas.move_to_end(key)
            return hit
    alpha = _oval_alpha(h, w, core, feather, square)
    inv = 1.0 - alpha
    alpha.flags.writeable = inv.flags.writeable = False
    with _alpha_lock:
        if key not in _alphas:
            _alphas[key] = (alpha, inv)
            _alpha_bytes += 2 * alpha.nbytes
        while _alpha_bytes > _ALPHA_BUDGET and len(_alphas) > 1:
            _, (old, _) = _alphas.popitem(last=False)
            _alpha_bytes -= 2 * old.nbytes
    return alpha, inv


def _video_fill(small_patch: np.ndarray, w: int, h: int, core_w: int, core_h: int,
                seed: int, noise: int) -> np.ndarray:
    """_smooth_fill for video, uint8 w x h: the cells sized to the core (their
    means from `small_patch`, the patch shrunk), contrast cut to _BLUR_CONTRAST,
    noised, smoothed at 4 px per cell, stretched."""
    cw, ch = _cells(core_w, core_h)
    cw = max(2, round(cw * w / max(1, core_w)))
    ch = max(2, round(ch * h / max(1, core_h)))
    small = cv2.resize(small_patch, (cw, ch), interpolation=cv2.INTER_AREA).astype(np.float32)
    channels = small.shape[2] if small.ndim == 3 else 1
    mean = np.array(cv2.mean(small)[:channels], np.float32)
    small = (1.0 - _BLUR_CONTRAST) * mean + _BLUR_CONTRAST * small
    if noise:
        small += _table_noise(seed, small.shape)
    mid = cv2.resize(small, (cw * 4, ch * 4), interpolation=cv2.INTER_LINEAR)
    mid = cv2.GaussianBlur(mid, (0, 0), 1.0)
    mid8 = np.clip(np.rint(mid), 0, 255).astype(np.uint8)
    fill = cv2.resize(mid8, (w, h), interpolation=cv2.INTER_LINEAR)
    return fill if fill.ndim == small_patch.ndim else fill.reshape(h, w, channels)


def frame_masker(boxes_for_frame: Callable[[int], list[Box]], mode: str) -> MaskFrame:
    """What `media.video.transcode` calls on each frame, in order: mask that
    frame's boxes (a still box keeps its fill: FillMemo)."""
    memo = FillMemo()

    def mask(index: int, i420: np.ndarray) -> None:
        mask_i420(i420, boxes_for_frame(index), mode, memo)
    return mask
