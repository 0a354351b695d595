"""Exact frames by index, upright, for the review page (and the box tracker).

Frames are decoded with the pipeline's own path (`decode_frames`: every frame in
order, display rotation applied), so frame i here is frame i of the render plan;
seeking by time could land a frame off.  A reader keeps its position, so stepping
forward costs one frame; decoded frames sit in a small LRU cache.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from sanitize.media import images
from sanitize.media.probe import sniff
from sanitize.media.video import DecodedFrame, decode_frames
from sanitize.types import MediaKind

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
        self._lock = threading.Lock()

    def frame(self, path: Path, index: int) -> np.ndarray:
        try:
            key = (str(path), path.stat().st_mtime, index)
        except OSError as e:
            raise FrameError(f"cannot read {path.name}") from e
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
            rgb = self._decode(path, index)
            self._cache[key] = rgb
            while len(self._cache) > self._size:
                self._cache.popitem(last=False)
            return rgb

    def _decode(self, path: Path, index: int) -> np.ndarray:
        kind, fmt = sniff(path)
        if kind is MediaKind.IMAGE:
            if index != 0:
                raise FrameError("a picture has only frame 0")
            return images.decode(path, fmt, self.max_pixels).rgb
        if index < 0:
            raise FrameError("frame index must be >= 0")
        cur = self._cursors.get(str(path))
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

    def frames(self, path: Path, start: int, stop: int, step: int = 1) -> Iterator[np.ndarray]:
        """Frames start, start+step, … below stop (for the tracker), each decoded once."""
        for i in range(start, stop, step):
            yield self.frame(path, i)


def jpeg(rgb: np.ndarray, quality: int = JPEG_QUALITY) -> bytes:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise FrameError("cannot encode the frame as JPEG")
    return buf.tobytes()
