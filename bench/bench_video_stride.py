"""Video face analysis: every-frame detection against detection on every k-th frame.

    .venv/bin/python bench/bench_video_stride.py [--workdir DIR] [--every 1,2,3,4]
        [--clips NAME,...] [--quick]

For each clip (built from real face photos by tests/videoclips.py, with the true
face boxes of every frame) and each detect_every value, runs analyse_video with
the same detector in this one process, variants back to back per clip (the
machine is shared: compare within a clip), and prints one row:

- coverage: (face, frame) pairs, faces >= 16 px tall, whose box lies >= 90 %
  inside the frame's masks: the box check of tests/test_video.py
  (test_every_face_masked_on_every_frame), which requires >= 99.5 %;
- missed: the uncovered pairs; frames with one: frames where a face shows;
- analysed: frames the detector ran on;
- fps: frames / analyse_video's wall time;
- mask %: mean share of the frame's area under a mask (over-blurring).

Clips: the three test clips (landscape, rotated portrait, VFR), the 10 s 1080p
clip of bench/bench_video.py, two fast-motion clips (1.5 s pans over other
photos, 720p) and a clip with a hard cut between two photos.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

MIN_FACE_PX = 16  # as tests/test_video.py
INSIDE = 0.9


def _clips() -> dict[str, Callable[[Path], Any]]:
    from videoclips import make_clip

    def cut(path: Path) -> Any:
        a = make_clip(path.with_name("cut_a.mp4"), seconds=2.0, audio=False)
        b = make_clip(path.with_name("cut_b.mp4"), image="friends_table.jpg", seconds=2.0,
                      audio=False, zoom=(0.7, 0.5))
        listing = path.with_name("cut.txt")
        listing.write_text(f"file '{a.path}'\nfile '{b.path}'\n")
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "concat", "-safe", "0", "-i",
                        str(listing), "-c", "copy", str(path)], check=True)
        a.path, a.faces = path, a.faces + b.faces
        a.times = a.times + [a.times[-1] + 1 / 30 + t for t in b.times]
        return a

    return {
        "landscape": lambda p: make_clip(p),
        "portrait_rotated": lambda p: make_clip(p, rotation=-90, size=(360, 640)),
        "vfr": lambda p: make_clip(p, vfr=True),
        "1080p_10s": lambda p: make_clip(p, size=(1920, 1080), seconds=10.0, zoom=(0.95, 0.6)),
        "fast_kids": lambda p: make_clip(p, image="kids_group.jpg", size=(1280, 720),
                                         seconds=1.5, zoom=(0.9, 0.35)),
        "fast_friends": lambda p: make_clip(p, image="friends_table.jpg", size=(1280, 720),
                                            seconds=1.5, zoom=(0.5, 0.25)),
        "cut": cut,
    }


class _Counting:
    """The detector, counting the frames it runs on."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.calls = inner, 0

    def detect(self, rgb: Any) -> list:
        self.calls += 1
        return self.inner.detect(rgb)


def measure(clip: Any, detector: Any, every: int) -> dict:
    from videoclips import inside_fraction

    from sanitize.config import Settings
    from sanitize.media.video import probe_video
    from sanitize.video_stages import analyse_video

    settings = Settings()
    info = probe_video(clip.path, settings)
    counting = _Counting(detector)
    t = time.monotonic()
    analysis = analyse_video(clip.path, info, counting, settings, detect_every=every)
    seconds = time.monotonic() - t
    assert analysis.frames == len(clip.faces), (analysis.frames, len(clip.faces))
    pairs = covered = 0
    bad_frames = set()
    area = 0.0
    for i, truth in enumerate(clip.faces):
        masks = analysis.boxes_for_frame(i)
        area += _union_area(masks, clip.width, clip.height) / (clip.width * clip.height)
        for box in truth:
            if box[3] - box[1] < MIN_FACE_PX:
                continue
            pairs += 1
            if inside_fraction(box, masks, clip.width, clip.height) >= INSIDE:
                covered += 1
            else:
                bad_frames.add(i)
    return {"frames": analysis.frames, "analysed": counting.calls, "pairs": pairs,
            "covered": covered, "bad_frames": len(bad_frames),
            "fps": analysis.frames / seconds, "mask": 100 * area / max(1, analysis.frames)}


def _union_area(masks: list, width: int, height: int) -> float:
    import numpy as np

    grid = np.zeros((height // 4 + 1, width // 4 + 1), bool)
    for m in masks:
        grid[max(0, int(m.y1) // 4):int(m.y2) // 4 + 1, max(0, int(m.x1) // 4):int(m.x2) // 4 + 1] = True
    return float(grid.sum()) * 16


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--workdir", type=Path, default=None, help="where clips are built (kept)")
    ap.add_argument("--every", default="1,2,3,4", help="detect_every values to compare")
    ap.add_argument("--clips", default=None, help="comma-separated clip names (default: all)")
    ap.add_argument("--quick", action="store_true", help="skip the 10 s 1080p clip")
    a = ap.parse_args()

    from sanitize.detect.faces import FaceDetector

    builders = _clips()
    names = a.clips.split(",") if a.clips else list(builders)
    if a.quick:
        names = [n for n in names if n != "1080p_10s"]
    everies = [int(k) for k in a.every.split(",")]
    workdir = a.workdir or Path(tempfile.mkdtemp(prefix="bench_stride_"))
    workdir.mkdir(parents=True, exist_ok=True)
    detector = FaceDetector(fast=True)
    header = (f"{'clip':<17} {'every':>5} {'coverage':>9} {'missed':>7} {'frames w/ miss':>14} "
              f"{'analysed':>10} {'fps':>6} {'mask %':>7}")
    print(header)
    print("-" * len(header))
    for name in names:
        clip = builders[name](workdir / f"{name}.mp4")
        for every in everies:
            r = measure(clip, detector, every)
            cov = r["covered"] / max(1, r["pairs"])
            print(f"{name:<17} {every:>5} {100 * cov:>8.2f}% {r['pairs'] - r['covered']:>7} "
                  f"{r['bad_frames']:>14} {r['analysed']:>4}/{r['frames']:<5} {r['fps']:>6.2f} "
                  f"{r['mask']:>7.1f}", flush=True)
    print(f"clips: {workdir}")


if __name__ == "__main__":
    main()
