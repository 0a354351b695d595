"""Track a reviewer's box forward and backward from one frame (OpenCV's MIL tracker,
in the pinned opencv-python wheel without contrib).

Tracking is a help, not a guarantee: boxes are padded, a frame where the tracker
loses the object keeps the last good box (fail closed: it stays masked), and the
range tracked is capped; beyond the cap the last box is held over the rest of the
range.  The reviewer checks the result in the preview view.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from sanitize.media.video import decode_frames
from sanitize.plan import RenderPlan
from sanitize.types import Box

TRACK_SIDE = 480  # frames are tracked at this longest side
MAX_FRAMES = 150  # each way from the anchor frame
PAD = 0.1  # of the box size, each side


def track_box(svc: object, plan: RenderPlan, anchor: int, box: Box, first: int,
              last: int) -> dict[int, Box]:
    """Boxes (frame index → box) from `first` to `last` following `box` at `anchor`."""
    first = max(first, anchor - MAX_FRAMES)
    last = min(last, anchor + MAX_FRAMES)
    frames: dict[int, np.ndarray] = {}
    scale = 1.0
    for f in decode_frames(Path(plan.source), TRACK_SIDE):
        if f.index > last:
            break
        if f.index >= first:
            frames[f.index] = cv2.cvtColor(f.rgb, cv2.COLOR_RGB2BGR)
            scale = f.scale
    out = {anchor: box}
    if anchor not in frames:
        return out
    for step, stop in ((1, last + 1), (-1, first - 1)):
        tracker = cv2.TrackerMIL.create()
        x, y = box.x1 * scale, box.y1 * scale
        tracker.init(frames[anchor], (int(x), int(y), max(2, int(box.w * scale)),
                                      max(2, int(box.h * scale))))
        prev = box
        for i in range(anchor + step, stop, step):
            if i not in frames:
                break
            ok, (rx, ry, rw, rh) = tracker.update(frames[i])
            if ok and rw > 1 and rh > 1:
                found = Box(rx / scale, ry / scale, (rx + rw) / scale, (ry + rh) / scale)
                prev = Box(found.x1 - PAD * found.w, found.y1 - PAD * found.h,
                           found.x2 + PAD * found.w, found.y2 + PAD * found.h).clipped(
                    plan.media.width, plan.media.height)
            out[i] = prev
    return out
