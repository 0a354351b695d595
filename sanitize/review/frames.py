"""Exact frames by index, upright, for the review page (and the box tracker).

Frames are decoded with the pipeline's own path (`decode_frames`: every frame in
order, display rotation applied), so frame i here is frame i of the render plan;
seeking by time could land a frame off.  A reader keeps its position, so stepping
forward costs one frame; a far jump seeks to the keyframe before the frame (when
the file has one packet per frame, so that frame i is the i-th timestamp) and turns
it upright with the decode path's own helpers; decoded frames sit in a small LRU cache.
"""

from __future__ import annotations

import threading
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path

import av
import cv2
import numpy as np

from sanitize.media import images
from sanitize.media.probe import sniff
from sanitize.media.video import DecodedFrame, _orientation, _upright, decode_frames
from sanitize.types import MediaKind

STEP_AHEAD = 30  # a frame this close ahead of the reader is decoded on, not sought
CACHE_FRAMES = 16  # full-size RGB: 6 MB each at 1080p
JPEG_QUALITY = 88


class FrameError(ValueError):
    """No such frame (index out of range, file unreadable)."""


class _Cursor:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.it: Iterator[DecodedFrame] = iter(decode_frames(path))
        self.next = 0

    def close(self) -> None:
        close = getattr(self.it, "close", None)
        if close is not None:
            close()


class FrameStore:
    """Upright RGB frames of pictures and videos by (path, index); thread-safe."""

    def __init__(self, max_pixels: int = 200_000_000, cache: int = CACHE_FRAMES) -> None:
        self.max_pixels = max_pixels
        self._cache: OrderedDict[tuple[str, float, int], np.ndarray] = OrderedDict()
        self._size = cache
        self._cursors: dict[str, _Cursor] = {}
        self._indices: dict[str, tuple[list[int], list[int]] | None] = {}
        self._lock = threading.Lock()

    def frame(self, path: Path, index: int, frames: int | None = None) -> np.ndarray:
        """Frame `index` of `path`.  `frames`: how many frames the file decodes to (from
        its render plan); with it, a far jump seeks instead of decoding from the start."""
        try:
            key = (str(path), path.stat().st_mtime, index)
        except OSError as e:
            raise FrameError(f"cannot read {path.name}") from e
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
            rgb = self._decode(path, index, frames)
            self._cache[key] = rgb
            while len(self._cache) > self._size:
                self._cache.popitem(last=False)
            return rgb

    def _decode(self, path: Path, index: int, frames: int | None) -> np.ndarray:
        kind, fmt = sniff(path)
        if kind is MediaKind.IMAGE:
            if index != 0:
                raise FrameError("a picture has only frame 0")
            return images.decode(path, fmt, self.max_pixels).rgb
        if index < 0:
            raise FrameError("frame index must be >= 0")
        cur = self._cursors.get(str(path))
        near = cur is not None and cur.next <= index <= cur.next + STEP_AHEAD
        if not near and frames is not None:
            rgb = self._seek(path, index, frames)
            if rgb is not None:
                return rgb
        if cur is None or cur.next > index:
            if cur is not None:
                cur.close()
            cur = self._cursors[str(path)] = _Cursor(path)
        for f in cur.it:
            cur.next = f.index + 1
            if f.index == index:
                return f.rgb
        del self._cursors[str(path)]
        raise FrameError(f"frame {index} is past the end of the video")

    def _seek(self, path: Path, index: int, frames: int) -> np.ndarray | None:
        """Frame `index` by seeking to the keyframe before it, or None (then the
        caller decodes from the start).  Frame i is the frame with the i-th smallest
        timestamp, which holds when the file has exactly one packet per decoded frame
        (checked against `frames`); the frame found must carry exactly that timestamp."""
        idx = self._indices.get(str(path))
        if idx is None:
            idx = self._indices[str(path)] = _index(path)
        if not idx or len(idx[0]) != frames or index >= frames:
            return None
        pts, keys = idx
        target = pts[index]
        k = bisect_right(keys, target) - 1
        if k < 0:
            return None
        try:
            with av.open(str(path)) as c:
                vs = c.streams.video[0]
                c.seek(keys[k], stream=vs, backward=True, any_frame=False)
                for frame in c.decode(vs):
                    if frame.pts is None or frame.pts > target:
                        return None
                    if frame.pts == target:
                        k_turn, mirror = _orientation(frame)
                        rgb = frame.to_ndarray(format="rgb24")
                        return np.ascontiguousarray(_upright(rgb, k_turn, mirror))
        except av.error.FFmpegError:
            return None
        return None

    def frames(self, path: Path, start: int, stop: int, step: int = 1) -> Iterator[np.ndarray]:
        """Frames start, start+step, … below stop (for the tracker), each decoded once."""
        for i in range(start, stop, step):
            yield self.frame(path, i)


def _index(path: Path) -> tuple[list[int], list[int]] | None:
    """(every video packet's pts sorted, keyframe pts sorted), from demuxing only."""
    try:
        with av.open(str(path)) as c:
            vs = c.streams.video[0]
            pts, keys = [], []
            for p in c.demux(vs):
                if not p.size:
                    continue
                if p.pts is None:
                    return None
                pts.append(int(p.pts))
                if p.is_keyframe:
                    keys.append(int(p.pts))
    except (av.error.FFmpegError, IndexError):
        return None
    pts.sort()
    keys.sort()
    return (pts, keys) if len(set(pts)) == len(pts) else None


def jpeg(rgb: np.ndarray, quality: int = JPEG_QUALITY) -> bytes:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise FrameError("cannot encode the frame as JPEG")
    return buf.tobytes()
