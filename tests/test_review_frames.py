"""Frames for the review page: a frame reached by seeking is the same frame, upright,
as the one the decode path yields at that index (variable frame rate, rotation)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from videoclips import make_clip

from sanitize.media.video import decode_frames
from sanitize.review.frames import FrameStore


@pytest.mark.parametrize("kw", [{"vfr": True}, {"rotation": 90}], ids=["vfr", "rotated"])
def test_sought_frames_match_decoded(kw: dict, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "c.mp4", seconds=2.5, audio=False, **kw)
    every = [f.rgb for f in decode_frames(clip.path)]
    n = len(every)
    store = FrameStore(cache=2)
    # Far jumps backwards and forwards: each is sought, not decoded from the start.
    for i in (n - 1, 3, n // 2, 0, n - 2, 40):
        got = store.frame(clip.path, i, frames=n)
        assert got.shape == every[i].shape
        assert np.abs(got.astype(int) - every[i].astype(int)).max() <= 2, i
    assert store._seek(clip.path, n // 2, n) is not None  # the seek path was taken
    # Without the frame count (or a wrong one) it still finds the frame, from the start.
    assert np.array_equal(FrameStore().frame(clip.path, 5), every[5])
    assert np.abs(FrameStore().frame(clip.path, 7, frames=n + 1).astype(int)
                  - every[7].astype(int)).max() <= 2
