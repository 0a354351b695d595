"""Video face analysis: every-frame detection against detection on every k-th frame.

    .venv/bin/python bench/bench_video_stride.py [--workdir DIR] [--variants 1,2,3]
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
clip of bench/bench_video.py, fast-motion clips (1.5-2 s pans over other
photos at 720p: few large faces, crowds of small faces, profiles) and a clip
with a hard cut between two photos.
"""

from __future__ import annotations

import argparse
import pickle
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
        return _concat(path, [
            make_clip(path.with_name("cut_a.mp4"), seconds=2.0, audio=False),
            make_clip(path.with_name("cut_b.mp4"), image="friends_table.jpg", seconds=2.0,
                      audio=False, zoom=(0.7, 0.5)),
        ])

    def shaky(path: Path, image: str, seed: int, shake: float = 0.02) -> Any:
        """A hand-held camera: the smooth pan plus a random jolt on every frame
        (up to `shake` of the pan's length), so motion between frames is erratic."""
        import av
        import numpy as np
        from videoclips import Clip, _render, ground_truth, photo

        img = photo(image)
        gt, rng, w, h = ground_truth(image), np.random.default_rng(seed), 1280, 720
        times = [k / 30 for k in range(75)]
        clip = Clip(path, w, h, times)
        with av.open(str(path), "w") as out:
            vs = out.add_stream("libx264", rate=30, options={"preset": "ultrafast", "crf": "20"})
            vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
            for k, t in enumerate(times):
                u = min(1.0, max(0.0, t / times[-1] + rng.uniform(-shake, shake)))
                rgb, boxes = _render(img, gt, u, w, h, (0.8, 0.45))
                clip.faces.append(boxes)
                f = av.VideoFrame.from_ndarray(rgb, format="rgb24")
                f.pts = k
                out.mux(vs.encode(f))
            out.mux(vs.encode(None))
        return clip

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
        "large_group": lambda p: make_clip(p, image="large_group.jpg", size=(1280, 720),
                                           seconds=2.0, zoom=(0.7, 0.4)),
        "fans_crowd": lambda p: make_clip(p, image="fans_crowd.jpg", size=(1280, 720),
                                          seconds=2.0, zoom=(0.8, 0.4)),
        "audience": lambda p: make_clip(p, image="audience_profiles.jpg", size=(1280, 720),
                                        seconds=2.0, zoom=(0.9, 0.5)),
        "city_street": lambda p: make_clip(p, image="city_street.jpg", size=(1280, 720),
                                           seconds=2.0, zoom=(0.8, 0.5)),
        "shaky_graduation": lambda p: shaky(p, "graduation_group.jpg", 1),
        "shaky_fans": lambda p: shaky(p, "fans_crowd.jpg", 2),
        "shaky_kids": lambda p: shaky(p, "kids_group.jpg", 3, shake=0.04),
        "shaky_obama": lambda p: shaky(p, "obama_biden_stage.jpg", 4, shake=0.04),
        "cut2": lambda p: _concat(p, [
            make_clip(p.with_name("cut2_a.mp4"), image="kids_group.jpg", size=(1280, 720),
                      seconds=1.0, audio=False),
            make_clip(p.with_name("cut2_b.mp4"), image="large_group.jpg", size=(1280, 720),
                      seconds=1.0, audio=False, zoom=(0.6, 0.5)),
            make_clip(p.with_name("cut2_c.mp4"), image="fans_crowd.jpg", size=(1280, 720),
                      seconds=1.0, audio=False, zoom=(0.7, 0.6)),
        ]),
    }


def _concat(path: Path, parts: list) -> Any:
    """Clips joined end to end (hard cuts), with their face boxes."""
    listing = path.with_suffix(".txt")
    listing.write_text("".join(f"file '{c.path}'\n" for c in parts))
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "concat", "-safe", "0", "-i",
                    str(listing), "-c", "copy", str(path)], check=True)
    out = parts[0]
    for c in parts[1:]:
        out.times = out.times + [out.times[-1] + 1 / 30 + t for t in c.times]
        out.faces = out.faces + c.faces
    out.path = path
    return out


class _Counting:
    """The detector, counting the frames it runs on."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.calls = inner, 0

    def detect(self, rgb: Any) -> list:
        self.calls += 1
        return self.inner.detect(rgb)


def measure(clip: Any, detector: Any, variant: str) -> dict:
    """One variant: "K" (detect_every=K, defaults otherwise), optionally followed by
    options, each after a ":": "gS" at most S s between analysed frames, "c" no cut
    detection.  E.g. "4:g0.134:c"."""

    from sanitize import video_stages as vs
    from sanitize.config import Settings
    from sanitize.media.video import probe_video

    every, *opts = variant.split(":")
    saved = vs.DETECT_MAX_GAP_S, vs.SCENE_CHANGE
    for opt in opts:
        if opt == "c":
            vs.SCENE_CHANGE = 2.0
        elif opt.startswith("g"):
            vs.DETECT_MAX_GAP_S = float(opt[1:]) + 1e-3
        else:
            raise SystemExit(f"unknown variant option {opt!r} in {variant!r}")
    settings = Settings()
    info = probe_video(clip.path, settings)
    counting = _Counting(detector)
    t = time.monotonic()
    try:
        analysis = vs.analyse_video(clip.path, info, counting, settings, detect_every=int(every))
        seconds = time.monotonic() - t
        # The plan computes boxes on demand: score while the variant's settings hold.
        return _score(clip, analysis, counting.calls, seconds)
    finally:
        vs.DETECT_MAX_GAP_S, vs.SCENE_CHANGE = saved


def _score(clip: Any, analysis: Any, calls: int, seconds: float) -> dict:
    from videoclips import inside_fraction

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
    return {"frames": analysis.frames, "analysed": calls, "pairs": pairs,
            "covered": covered, "bad_frames": len(bad_frames),
            "fps": analysis.frames / seconds, "mask": 100 * area / max(1, analysis.frames)}


def _union_area(masks: list, width: int, height: int) -> float:
    import numpy as np

    grid = np.zeros((height // 4 + 1, width // 4 + 1), bool)
    for m in masks:
        y1, x1 = max(0, int(m.y1) // 4), max(0, int(m.x1) // 4)
        grid[y1:int(m.y2) // 4 + 1, x1:int(m.x2) // 4 + 1] = True
    return float(grid.sum()) * 16


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--workdir", type=Path, default=None, help="where clips are built (kept)")
    ap.add_argument("--variants", default="1,2,3",
                    help="comma-separated detect_every variants, see measure()")
    ap.add_argument("--clips", default=None, help="comma-separated clip names (default: all)")
    ap.add_argument("--quick", action="store_true", help="skip the 10 s 1080p clip")
    ap.add_argument("--fp32", action="store_true",
                    help="CenterFace from the fp32 file (before the video int8 file)")
    a = ap.parse_args()

    from sanitize.detect.faces import FaceDetector

    builders = _clips()
    names = a.clips.split(",") if a.clips else list(builders)
    if a.quick:
        names = [n for n in names if n != "1080p_10s"]
    variants = a.variants.split(",")
    workdir = a.workdir or Path(tempfile.mkdtemp(prefix="bench_stride_"))
    workdir.mkdir(parents=True, exist_ok=True)
    detector = FaceDetector(fast=True, int8=not a.fp32)
    header = (f"{'clip':<17} {'variant':>7} {'coverage':>9} {'missed':>7} {'frames w/ miss':>14} "
              f"{'analysed':>10} {'fps':>6} {'mask %':>7}")
    print(header)
    print("-" * len(header))
    totals = {v: [0, 0, 0, 0, 0.0] for v in variants}  # pairs, covered, frames, analysed, s
    for name in names:
        path, saved = workdir / f"{name}.mp4", workdir / f"{name}.pkl"
        if path.exists() and saved.exists():  # built by an earlier run in this workdir
            clip = pickle.loads(saved.read_bytes())
        else:
            clip = builders[name](path)
            saved.write_bytes(pickle.dumps(clip))
        for variant in variants:
            r = measure(clip, detector, variant)
            cov = r["covered"] / max(1, r["pairs"])
            tot = totals[variant]
            tot[0] += r["pairs"]
            tot[1] += r["covered"]
            tot[2] += r["frames"]
            tot[3] += r["analysed"]
            tot[4] += r["frames"] / r["fps"]
            print(f"{name:<17} {variant:>7} {100 * cov:>8.2f}% {r['pairs'] - r['covered']:>7} "
                  f"{r['bad_frames']:>14} {r['analysed']:>4}/{r['frames']:<5} {r['fps']:>6.2f} "
                  f"{r['mask']:>7.1f}", flush=True)
    print("-" * len(header))
    for v, (pairs, covered, frames, analysed, secs) in totals.items():
        print(f"{'all':<17} {v:>7} {100 * covered / max(1, pairs):>8.2f}% {pairs - covered:>7} "
              f"{'':>14} {analysed:>5}/{frames:<6} {frames / max(secs, 1e-9):>5.2f}")
    print(f"clips: {workdir}")


if __name__ == "__main__":
    main()
