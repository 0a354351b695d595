"""yuface's network called through its C library, with the GIL released.

The yuface wheel's Python binding holds the GIL for a whole detection, so two
threads running it take turns: measured on the 25 windows of a masked 12 MP
crowd, 0.30 s in one thread and 0.30-0.32 s in two.  The wheel also ships the
library the binding wraps, libfacedetection, whose entry point `facedetect_cnn`
is a plain C++ function; ctypes releases the GIL around a foreign call, so
windows run side by side on two cores (0.34 -> 0.18 s for 12 crops).  The rows
are the binding's, row for row (tests/test_faces.py compares them on real faces).

When the library or its entry point cannot be loaded the binding is used.
"""

from __future__ import annotations

import ctypes
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np

# facedetect_cnn(unsigned char* result_buffer, unsigned char* rgb_image_data,
#                int width, int height, int step), as g++ names it, then plain.
_SYMBOLS = ("_Z14facedetect_cnnPhS_iii", "facedetect_cnn")
# The result buffer size the library's header asks for.  It writes an int count,
# then one row of 16 shorts per face: score 0-100, x, y, w, h, 5 landmarks (x, y).
_BUFFER = 0x20000
_ROW = 16
_LIBRARIES = ("libfacedetection.so.v0.0.3", "libfacedetection.so")
_lock = threading.Lock()
_loaded: list[Any] = []  # [entry point or None] once loaded


def detect(bgr: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """(scores 0-100, boxes x, y, w, h) of the faces scored above `threshold`
    (0-1) on a BGR uint8 picture, as `yuface.detect` gives them."""
    rows = _rows(np.ascontiguousarray(bgr, dtype=np.uint8))
    rows = rows[rows[:, 0] > threshold * 100]
    return rows[:, 0], rows[:, 1:5]


def releases_gil() -> bool:
    """True when detections run through the C library (threads then help)."""
    return _entry() is not None


def _rows(bgr: np.ndarray) -> np.ndarray:
    fn = _entry()
    if fn is None:
        return np.asarray(_binding().yuface.detect(bgr))[:, :15]
    h, w = bgr.shape[:2]
    buf = np.zeros(_BUFFER // 4, np.int32)  # one per call: calls may run side by side
    fn(buf.ctypes.data, bgr.ctypes.data, w, h, int(bgr.strides[0]))
    n = int(buf[0])
    if not 0 <= n <= (_BUFFER - 4) // (2 * _ROW):
        raise RuntimeError(f"libfacedetection returned {n} faces")
    return buf.view(np.int16)[2:2 + _ROW * n].reshape(n, _ROW)[:, :15].copy()


def _binding() -> Any:
    # The bundled OpenMP reads this when the library loads: one thread per
    # process (two threads under load ran up to 7x slower, docs/measurements.md).
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import yuface

    return yuface


def _entry() -> Any:
    """facedetect_cnn from the library the binding loaded, initialised, or None."""
    if not _loaded:
        with _lock:
            if not _loaded:
                _loaded.append(_load())
    return _loaded[0]


def _load() -> Any:
    folder = Path(_binding().__file__).parent
    for name in _LIBRARIES:
        try:
            lib = ctypes.CDLL(str(folder / name))
        except OSError:
            continue
        for symbol in _SYMBOLS:
            fn = getattr(lib, symbol, None)
            if fn is None:
                continue
            fn.restype = ctypes.POINTER(ctypes.c_int)
            fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_int,
                           ctypes.c_int]
            # The library fills its filter tables on the first call without a lock:
            # that call is made here, once (under _lock), before threads can race it.
            probe = np.zeros((64, 64, 3), np.uint8)
            buf = np.zeros(_BUFFER // 4, np.int32)
            fn(buf.ctypes.data, probe.ctypes.data, 64, 64, 64 * 3)
            return fn
    return None
