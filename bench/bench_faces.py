"""Face detector benchmark: recall and false positives on the corpus, ms per picture.

    nice .venv/bin/python bench/bench_faces.py            # recall + timings table
    nice .venv/bin/python bench/bench_faces.py --recall   # recall only
    nice .venv/bin/python bench/bench_faces.py --kw '{"cf_threshold": 0.3}'

The match rule is `tests/facescore.finds` (documented there).  Timings are
CPU ms per picture (one thread) with wall ms in brackets, after one warm-up call;
the machine is shared, so wall time varies with its load.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from facescore import FaceScore, score_faces

from sanitize.detect.faces import FaceDetector

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "faces"


def load_rgb(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise FileNotFoundError(path)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def score_set(det: FaceDetector, folder: Path, gt_file: Path, verbose: bool) -> FaceScore:
    truth = json.loads(gt_file.read_text())
    total = FaceScore()
    for name in sorted(truth):
        boxes = [r.box for r in det.detect(load_rgb(folder / name))]
        s = score_faces(name, boxes, truth[name]["faces"])
        if verbose:
            print(f"  {name:28s} {s.found:3d}/{s.faces:3d}  FP {s.false_pos}")
        total.add(s)
    return total


def ms_per_image(det: FaceDetector, rgb: np.ndarray, repeat: int) -> str:
    """CPU ms (wall ms) per picture.  Everything runs on one thread, so CPU time is
    what the picture costs on an idle core; wall time shows the machine's load."""
    det.detect(rgb)  # warm-up: session load, first-run allocations
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(repeat):
        det.detect(rgb)
    wall = (time.perf_counter() - wall) * 1000 / repeat
    cpu = (time.process_time() - cpu) * 1000 / repeat
    return f"{cpu:.0f} ({wall:.0f})"


def timing_inputs() -> dict[str, np.ndarray]:
    return {
        "640x360": load_rgb(CORPUS / "timing" / "v360_graduation_group.jpg"),
        "1920x1080": load_rgb(CORPUS / "timing" / "frame_1920x1080.jpg"),
        "4000x3000": load_rgb(CORPUS / "hires" / "mosaic_4000x3000.jpg"),
    }


def bench_row(label: str, det: FaceDetector, recall_only: bool, verbose: bool) -> list[str]:
    s = score_set(det, CORPUS / "images", CORPUS / "ground_truth.json", verbose)
    hi = score_set(det, CORPUS / "hires", CORPUS / "hires" / "ground_truth_hires.json", verbose)
    for m in s.misses + hi.misses:
        print(f"  miss ({label}): {m}")
    row = [label, f"{s.recall:.1%} ({s.found}/{s.faces})", str(s.false_pos),
           f"{hi.recall:.1%} ({hi.found}/{hi.faces})", str(hi.false_pos)]
    if not recall_only:
        for name, rgb in timing_inputs().items():
            row.append(ms_per_image(det, rgb, 1 if name == "4000x3000" else 5))
    return row


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--recall", action="store_true", help="skip the timings")
    parser.add_argument("--kw", default="{}", help="FaceDetector keyword arguments, JSON")
    parser.add_argument("-v", action="store_true", help="per-image counts")
    args = parser.parse_args()
    kw = json.loads(args.kw)
    # "stills" is what the pipeline runs on pictures (registry: int8 CenterFace,
    # yuface gated round its unsure candidates); "fp32 ungated" the pictures'
    # detector before issue 11 (yuface tiled everywhere); "fast" video frames.
    modes = (("stills", {"gate_yuface": True, "int8": True}), ("fp32 ungated", {}),
             ("fast", {"fast": True}))
    rows = [bench_row(label, FaceDetector(**(mode | kw)), args.recall, args.v)
            for label, mode in modes]
    head = ["mode", "recall 13 images", "FP", "recall 12 MP mosaic", "FP"]
    if not args.recall:
        head += ["CPU (wall) ms 640x360", "1920x1080", "4000x3000"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
