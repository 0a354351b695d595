"""Build short test videos from real face photos, with the true face boxes of every frame.

A virtual camera pans and zooms over a face photo (tests/data/faces, or the
full corpus for the bench's other photos); each frame's face boxes are the
photo's hand-checked boxes pushed through the same crop/scale, so coverage can
be checked on every frame.  Variants: landscape, portrait stored sideways with a
display-rotation flag (like a phone), and variable frame rate.  A sine tone is
the audio track.  `make_street_clip` puts a real car photo (with its plate box)
next to a face photo, for the whole pipeline's video path.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import shared_paths

FACES = shared_paths.FACES  # the full corpus (the bench's photos)
Boxes = list[tuple[float, float, float, float]]


@dataclass
class Clip:
    path: Path
    width: int  # displayed (upright) size
    height: int
    times: list[float]  # presentation time of every frame, seconds
    # Per frame: true face boxes in upright pixels.
    faces: list[list[tuple[float, float, float, float]]] = field(default_factory=list)
    audio_seconds: float = 0.0


def _faces_root(image: str) -> Path:
    """tests/data/faces holds the photos the tests use; the bench's others are in the corpus."""
    data = shared_paths.DATA / "faces"
    return data if (data / "images" / image).is_file() else FACES


def photo(image: str) -> np.ndarray:
    """A face photo as RGB."""
    path = _faces_root(image) / "images" / image
    bgr = cv2.imread(str(path))
    if bgr is None:
        raise FileNotFoundError(path)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def ground_truth(image: str) -> Boxes:
    """The photo's hand-checked face boxes (ignored ones left out)."""
    gt = json.loads((_faces_root(image) / "ground_truth.json").read_text())[image]
    return [tuple(f["box"]) for f in gt["faces"] if not f["ignore"]]


_ground_truth = ground_truth  # the bench's name for it


def _frame_times(seconds: float, fps: float, vfr: bool) -> list[float]:
    """CFR: k/fps.  VFR: a phone-like mix of 1/fps steps, slow stretches at half
    rate and a few dropped frames, so that timing errors would show."""
    if not vfr:
        return [k / fps for k in range(round(seconds * fps))]
    rng = np.random.default_rng(7)
    times, t = [], 0.0
    while t < seconds - 1e-9:
        times.append(round(t, 3))
        step = rng.choice([1.0, 1.0, 1.0, 2.0, 1.5]) / fps
        t += step
    return times


def _camera(u: float, img_w: int, img_h: int, out_w: int, out_h: int,
            zoom: tuple[float, float]) -> tuple[float, float, float]:
    """Crop window (x0, y0, crop width) at progress u in [0, 1]: zoom in while
    panning from left to right, crop keeping the output's aspect ratio."""
    aspect = out_w / out_h
    cw = img_w * (zoom[0] + (zoom[1] - zoom[0]) * u)
    cw = min(cw, img_h * aspect, img_w)
    ch = cw / aspect
    x0 = (img_w - cw) * (0.15 + 0.7 * u)
    y0 = (img_h - ch) * (0.5 + 0.3 * math.sin(2 * math.pi * u))
    return x0, y0, cw


def _render(img: np.ndarray, gt: list[tuple[float, float, float, float]], u: float,
            out_w: int, out_h: int, zoom: tuple[float, float]
            ) -> tuple[np.ndarray, list[tuple[float, float, float, float]]]:
    x0, y0, cw = _camera(u, img.shape[1], img.shape[0], out_w, out_h, zoom)
    s = out_w / cw
    m = np.array([[s, 0, -x0 * s], [0, s, -y0 * s]], dtype=np.float64)
    frame = cv2.warpAffine(img, m, (out_w, out_h), flags=cv2.INTER_AREA)
    boxes = []
    for x1, y1, x2, y2 in gt:
        b = ((x1 - x0) * s, (y1 - y0) * s, (x2 - x0) * s, (y2 - y0) * s)
        # Keep faces that are at least 3/4 inside the frame.
        vis_w = min(b[2], out_w) - max(b[0], 0)
        vis_h = min(b[3], out_h) - max(b[1], 0)
        if vis_w > 0.75 * (b[2] - b[0]) and vis_h > 0.75 * (b[3] - b[1]):
            boxes.append(b)
    return frame, boxes


def _add_audio(out: av.container.OutputContainer) -> av.AudioStream:
    a = out.add_stream("aac", rate=48000, layout="mono")
    a.time_base = Fraction(1, 48000)
    return a


def _tone_frames(seconds: float) -> list[av.AudioFrame]:
    frames, n, step = [], int(seconds * 48000), 1024
    for start in range(0, n, step):
        k = np.arange(start, min(n, start + step))
        samples = (0.3 * np.sin(2 * np.pi * 440 * k / 48000)).astype(np.float32)[None, :]
        f = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
        f.sample_rate, f.pts, f.time_base = 48000, start, Fraction(1, 48000)
        frames.append(f)
    return frames


def make_clip(path: Path, image: str = "graduation_group.jpg", size: tuple[int, int] = (640, 360),
              seconds: float = 3.5, fps: float = 30.0, rotation: int = 0, vfr: bool = False,
              audio: bool = True, zoom: tuple[float, float] = (0.6, 0.4),
              container: str = "mp4") -> Clip:
    """Write a clip; `size` is the displayed size.  `rotation` (CCW degrees, as
    PyAV's display matrix) stores the pixels turned the other way so that a
    player honouring the flag shows them upright."""
    img = photo(image)
    gt = ground_truth(image)
    times = _frame_times(seconds, fps, vfr)
    w, h = size
    stored_w, stored_h = (h, w) if rotation % 180 else (w, h)
    clip = Clip(path, w, h, times)
    with av.open(str(path), "w", format=container) as out:
        vs = out.add_stream("libx264", rate=int(fps), options={"preset": "ultrafast", "crf": "20"})
        vs.width, vs.height, vs.pix_fmt = stored_w, stored_h, "yuv420p"
        tb = Fraction(1, 1000)
        vs.time_base = tb
        vs.codec_context.time_base = tb
        if rotation:
            vs.set_display_rotation(rotation)
        a = _add_audio(out) if audio else None
        for t in times:
            u = t / max(times[-1], 1e-6)
            rgb, boxes = _render(img, gt, u, w, h, zoom)
            clip.faces.append(boxes)
            stored = np.ascontiguousarray(np.rot90(rgb, -rotation // 90)) if rotation else rgb
            f = av.VideoFrame.from_ndarray(stored, format="rgb24")
            f.pts, f.time_base = round(t * 1000), tb
            out.mux(vs.encode(f))
        _flush(out, vs, a, times[-1] + 1 / fps, clip)
    return clip


def _flush(out: Any, vs: Any, a: Any, end: float, clip: Any) -> None:
    """Drain the video encoder, then write a tone up to `end` when there is audio."""
    out.mux(vs.encode(None))
    if a is not None:
        for f in _tone_frames(end):
            out.mux(a.encode(f))
        out.mux(a.encode(None))
        clip.audio_seconds = end


def truncate(src: Path, dst: Path, keep: float = 0.5) -> Path:
    """A copy of `src` cut off part-way, like an interrupted download."""
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * keep)])
    return dst


def corrupt(src: Path, dst: Path, seed: int = 3) -> Path:
    """A copy of `src` with its media data overwritten by noise in the middle."""
    data = bytearray(src.read_bytes())
    rng = np.random.default_rng(seed)
    start, end = len(data) // 3, 2 * len(data) // 3
    data[start:end] = rng.integers(0, 256, end - start, dtype=np.uint8).tobytes()
    dst.write_bytes(bytes(data))
    return dst


def detail_kept(src: np.ndarray, out: np.ndarray, box: tuple[float, float, float, float]) -> float:
    """How much of the source's fine detail inside `box` survives in the output:
    correlation of the two high-pass images (about 0.6-1 for a re-encoded face,
    about 0 once it is pixelated or blurred)."""
    h, w = src.shape[:2]
    x1, y1 = max(0, int(box[0])), max(0, int(box[1]))
    x2, y2 = min(w, math.ceil(box[2])), min(h, math.ceil(box[3]))
    if x2 - x1 < 4 or y2 - y1 < 4:
        return 0.0

    def high_pass(img: np.ndarray) -> np.ndarray:
        g = cv2.cvtColor(img[y1:y2, x1:x2], cv2.COLOR_RGB2GRAY).astype(np.float32)
        return (g - cv2.GaussianBlur(g, (0, 0), 1.5)).ravel()

    a, b = high_pass(src), high_pass(out)
    a, b = a - a.mean(), b - b.mean()
    denom = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(a @ b / denom) if denom > 1e-6 else 0.0


def inside_fraction(box: tuple[float, float, float, float], masks: list,
                    width: int, height: int) -> float:
    """Fraction of the visible part of `box` covered by the union of mask boxes."""
    x1, y1 = max(0, math.floor(box[0])), max(0, math.floor(box[1]))
    x2, y2 = min(width, math.ceil(box[2])), min(height, math.ceil(box[3]))
    if x2 <= x1 or y2 <= y1:
        return 1.0
    grid = np.zeros((y2 - y1, x2 - x1), bool)
    for m in masks:
        mx1, my1 = max(int(m.x1) - x1, 0), max(int(m.y1) - y1, 0)
        mx2, my2 = min(math.ceil(m.x2) - x1, x2 - x1), min(math.ceil(m.y2) - y1, y2 - y1)
        if mx2 > mx1 and my2 > my1:
            grid[my1:my2, mx1:mx2] = True
    return float(grid.mean())


@dataclass
class StreetClip(Clip):
    """A clip with a car's number plate as well as faces; `plates` per frame."""

    plates: list[Boxes] = field(default_factory=list)


CAR = ("objects/plate/keshav_1.jpg", (248, 375, 398, 432))  # the photo and its plate box
LOCATION = "+26.8467+080.9462/"  # ISO 6709, as a phone writes it into the container


def make_street_clip(path: Path, faces: str = "kids_group.jpg", seconds: float = 1.5,
                     fps: int = 20, size: tuple[int, int] = (1280, 720)) -> StreetClip:
    """A car (real photo, known plate box) beside a group of people (real photo,
    known face boxes), side by side on one 1400x720 canvas; the camera pans
    across it.  The container carries a GPS location, as a phone's would."""
    w, h = size
    canvas = np.zeros((h, 1400, 3), np.uint8)
    placed: dict[str, Boxes] = {}
    for name, pic, boxes, x0 in (
        ("plates", cv2.cvtColor(cv2.imread(str(shared_paths.DATA / CAR[0])), cv2.COLOR_BGR2RGB),
         [CAR[1]], 0),
        ("faces", photo(faces), ground_truth(faces), 700),
    ):
        s = 700 / pic.shape[1]
        ph = round(pic.shape[0] * s)
        y0 = (h - ph) // 2
        canvas[y0:y0 + ph, x0:x0 + 700] = cv2.resize(pic, (700, ph), interpolation=cv2.INTER_AREA)
        placed[name] = [(x1 * s + x0, y1 * s + y0, x2 * s + x0, y2 * s + y0)
                        for x1, y1, x2, y2 in boxes]
    times = [k / fps for k in range(round(seconds * fps))]
    clip = StreetClip(path, w, h, times)
    with av.open(str(path), "w", format="mp4") as out:
        out.metadata["location"] = LOCATION
        vs = out.add_stream("libx264", rate=fps, options={"preset": "ultrafast", "crf": "18"})
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        a = _add_audio(out)
        for k, t in enumerate(times):
            dx = round((1400 - w) * t / max(times[-1], 1e-6))
            clip.faces.append([(x1 - dx, y1, x2 - dx, y2) for x1, y1, x2, y2 in placed["faces"]])
            clip.plates.append([(x1 - dx, y1, x2 - dx, y2) for x1, y1, x2, y2 in placed["plates"]])
            f = av.VideoFrame.from_ndarray(np.ascontiguousarray(canvas[:, dx:dx + w]),
                                           format="rgb24")
            f.pts = k
            out.mux(vs.encode(f))
        _flush(out, vs, a, times[-1] + 1 / fps, clip)
    return clip
