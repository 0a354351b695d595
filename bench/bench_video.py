"""Video speed and memory benchmark.

    .venv/bin/python bench/bench_video.py [--workdir DIR] [--reuse]

1. Builds a 10 s 1080p30 clip (pan/zoom over a real group photo, tone audio) and
   a 60 s clip (the 10 s one concatenated six times, stream copy).
2. Speed: the redact pass (decode, mask, encode, mux) against a bare
   `ffmpeg -c:v libx264 -preset veryfast -crf 23 -c:a aac` of the same clip, run
   back to back so that machine load affects both alike; prints fps and ratio.
3. Memory: peak RSS of a child process running analyse + redact.  The real face
   detector runs once on the 10 s clip (its detections are recorded); then the
   10 s and the 60 s clip run with a replay of those detections standing in for
   the detector (same boxes per frame, without 6x the detector time), which
   exercises the tracker and both passes at full length, like for like.

Each measurement runs in its own child process, and its peak RSS comes from
os.wait4, so one run's memory never hides another's.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))


def _run_child(args: list[str]) -> tuple[dict, float, float, float]:
    """Run a child; returns (its JSON result or {}, wall s, CPU s, peak RSS MiB)."""
    t = time.monotonic()
    p = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    out = p.stdout.read() if p.stdout else ""
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.monotonic() - t
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"child failed: {' '.join(args)}")
    lines = out.strip().splitlines()
    res = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else {}
    return res, wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def build_clips(workdir: Path) -> tuple[Path, Path]:
    from videoclips import make_clip

    c10 = workdir / "clip10.mp4"
    if not c10.exists():
        make_clip(c10, size=(1920, 1080), seconds=10.0, zoom=(0.95, 0.6))
    c60 = workdir / "clip60.mp4"
    if not c60.exists():
        listing = workdir / "concat.txt"
        listing.write_text("".join(f"file '{c10}'\n" for _ in range(6)))
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "concat", "-safe", "0", "-i",
                        str(listing), "-c", "copy", str(c60)], check=True)
    return c10, c60


def bench_speed(clip: Path, plan: Path, workdir: Path, rounds: int = 2) -> dict:
    """Bare ffmpeg vs the redact pass on the same clip, alternated `rounds` times;
    best wall time of each (the machine is shared) and CPU time per frame."""
    ffmpeg = ["ffmpeg", "-v", "error", "-y", "-i", str(clip), "-c:v", "libx264", "-preset",
              "veryfast", "-crf", "23", "-c:a", "aac", str(workdir / "ffmpeg_out.mp4")]
    redact = [sys.executable, __file__, "--child", "redact", str(clip), str(plan),
              str(workdir / "redact_out.mp4")]
    # The same pass with no boxes: separates the pipeline's own overhead from
    # the cost of masking (and of encoding the masked areas).
    no_masks = [*redact[:5], "-", redact[6]]
    ff, ours, bare = [], [], []
    frames = 0
    for _ in range(rounds):
        _, wall, cpu, _ = _run_child(ffmpeg)
        ff.append((wall, cpu))
        for runs, cmd in ((ours, redact), (bare, no_masks)):
            res, _, cpu, rss = _run_child(cmd)
            frames = res["frames"]
            # The child's own timing excludes interpreter start-up and imports.
            runs.append((res["seconds"], cpu, rss))
    ff_wall, ff_cpu = min(ff)
    our_wall, our_cpu, rss = min(ours)
    bare_wall, bare_cpu, _ = min(bare)
    return {
        "frames": frames,
        "boxes_per_frame": _boxes_per_frame(plan),
        "ffmpeg_fps": round(frames / ff_wall, 2),
        "redact_fps": round(frames / our_wall, 2),
        "ratio_fps": round(ff_wall / our_wall, 3),
        "redact_no_masks_fps": round(frames / bare_wall, 2),
        "ratio_fps_no_masks": round(ff_wall / bare_wall, 3),
        "ffmpeg_cpu_ms_per_frame": round(1000 * ff_cpu / frames, 1),
        "redact_cpu_ms_per_frame": round(1000 * our_cpu / frames, 1),
        "redact_no_masks_cpu_ms_per_frame": round(1000 * bare_cpu / frames, 1),
        "ratio_cpu": round(ff_cpu / our_cpu, 3),
        "redact_peak_rss_mib": round(rss, 1),
    }


def _boxes_per_frame(plan: Path) -> float:
    per_frame = pickle.loads(plan.read_bytes())
    return round(sum(len(b) for b in per_frame) / max(1, len(per_frame)), 1)


def bench_memory(clip: Path, boxes: Path | None, workdir: Path) -> dict:
    args = [sys.executable, __file__, "--child", "full", str(clip),
            str(boxes) if boxes else "-", str(workdir / f"full_{clip.stem}.mp4")]
    res, wall, _, rss = _run_child(args)
    return {"clip": clip.name, "frames": res["frames"], "analyse_s": res["analyse_s"],
            "redact_s": res["redact_s"], "wall_s": round(wall, 1), "peak_rss_mib": round(rss, 1)}


# ------------------------------------------------------------------ children


class _Replay:
    """Stand-in detector returning recorded detections, frame i gets recording i % n."""

    def __init__(self, recorded: list) -> None:
        self.recorded, self.i = recorded, 0

    def detect(self, rgb: object) -> list:
        out = self.recorded[self.i % len(self.recorded)]
        self.i += 1
        return out


class _Recorder:
    def __init__(self, inner: object) -> None:
        self.inner, self.recorded = inner, []

    def detect(self, rgb: object) -> list:
        out = self.inner.detect(rgb)  # type: ignore[attr-defined]
        self.recorded.append(out)
        return out


def child_full(clip: Path, boxes: str, out: Path) -> dict:
    """analyse + redact in this process; records detections when run for real."""
    from sanitize.config import Settings
    from sanitize.media.video import probe_video
    from sanitize.video_stages import analyse_video, redact_video

    settings = Settings()
    info = probe_video(clip, settings)
    if boxes == "-":
        from sanitize.detect.faces import FaceDetector

        detector: object = _Recorder(FaceDetector(fast=True, int8=True))
    else:
        detector = _Replay(pickle.loads(Path(boxes).read_bytes()))
    t = time.monotonic()
    analysis = analyse_video(clip, info, detector, settings)
    t_an = time.monotonic() - t
    if isinstance(detector, _Recorder):
        (clip.parent / "detections.pkl").write_bytes(pickle.dumps(detector.recorded))
        per_frame = [[b.as_list() for b in analysis.boxes_for_frame(i)]
                     for i in range(analysis.frames)]
        (clip.parent / "plan.pkl").write_bytes(pickle.dumps(per_frame))
    t = time.monotonic()
    redact_video(clip, out, analysis, settings)
    return {"frames": analysis.frames, "analyse_s": round(t_an, 1),
            "redact_s": round(time.monotonic() - t, 1)}


def child_redact(clip: Path, plan: Path, out: Path) -> dict:
    """The redact pass alone, masking the boxes the real analysis found."""
    from sanitize.config import Settings
    from sanitize.media.video import transcode
    from sanitize.redact import frame_masker
    from sanitize.types import Box

    per_frame = pickle.loads(plan.read_bytes()) if plan.name != "-" else [[]]

    def boxes(i: int) -> list[Box]:
        return [Box(*map(float, b)) for b in per_frame[i % len(per_frame)]]

    t = time.monotonic()
    stats = transcode(clip, out, frame_masker(boxes, Settings().mask), Settings())
    return {"frames": stats.frames, "seconds": time.monotonic() - t}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--reuse", action="store_true",
                    help="reuse detections of an earlier run in --workdir (skip the real analysis)")
    ap.add_argument("--child", nargs=4, metavar=("KIND", "CLIP", "BOXES", "OUT"),
                    help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        kind, clip, boxes, out = a.child
        fn = child_full if kind == "full" else child_redact
        print(json.dumps(fn(Path(clip), boxes if kind == "full" else Path(boxes), Path(out))))
        return
    workdir = a.workdir or Path(tempfile.mkdtemp(prefix="bench_video_"))
    workdir.mkdir(parents=True, exist_ok=True)
    c10, c60 = build_clips(workdir)
    results = {}
    if not (workdir / "plan.pkl").exists() or not a.reuse:
        results["mem_10s"] = bench_memory(c10, None, workdir)
        print(json.dumps(results["mem_10s"]), flush=True)
    results["speed_10s_1080p"] = bench_speed(c10, workdir / "plan.pkl", workdir)
    print(json.dumps(results["speed_10s_1080p"]), flush=True)
    # Same stand-in detector on both lengths, so the two peaks compare like for like.
    for name, clip in (("mem_10s_replay", c10), ("mem_60s_replay", c60)):
        results[name] = bench_memory(clip, workdir / "detections.pkl", workdir)
        print(json.dumps(results[name]), flush=True)
    (workdir / "results.json").write_text(json.dumps(results, indent=1))
    print(f"results: {workdir / 'results.json'}")


if __name__ == "__main__":
    main()
