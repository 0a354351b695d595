"""Face detector benchmark: recall and false positives on the corpus, ms per picture.

    nice .venv/bin/python bench/bench_faces.py            # recall + timings table
    nice .venv/bin/python bench/bench_faces.py --recall   # recall only
    nice .venv/bin/python bench/bench_faces.py --kw '{"cf_threshold": 0.3}'

The match rule is `sanitize.detect.faces.finds` (documented there).  Timings are
single-thread CPU, one warm-up call first; the machine is shared, so expect ±20 %.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sanitize.detect.faces import FaceDetector, finds, is_false_positive  # noqa: E402
from sanitize.types import Box  # noqa: E402

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "faces"
MIN_FACE_PX = 16  # faces shorter than this are neither misses nor hits


@dataclass
class Score:
    faces: int = 0
    found: int = 0
    false_pos: int = 0
    misses: list[str] = field(default_factory=list)

    @property
    def recall(self) -> float:
        return self.found / self.faces if self.faces else 1.0

    def add(self, other: Score) -> None:
        self.faces += other.faces
        self.found += other.found
        self.false_pos += other.false_pos
        self.misses += other.misses


def load_rgb(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise FileNotFoundError(path)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def score_image(det: FaceDetector, path: Path, truth: dict) -> Score:
    """Recall over non-ignored GT faces ≥ MIN_FACE_PX tall; FPs against all GT boxes."""
    boxes = [d.box for d in det.detect(load_rgb(path))]
    all_gt = [Box(*f["box"]) for f in truth["faces"]]
    counted = [
        Box(*f["box"]) for f in truth["faces"]
        if not f.get("ignore") and f["box"][3] - f["box"][1] >= MIN_FACE_PX
    ]
    s = Score(faces=len(counted))
    for g in counted:
        if any(finds(b, g) for b in boxes):
            s.found += 1
        else:
            s.misses.append(f"{path.name} {g.as_list()} h={g.h:.0f}")
    s.false_pos = sum(is_false_positive(b, all_gt) for b in boxes)
    return s


def score_set(det: FaceDetector, folder: Path, gt_file: Path, verbose: bool) -> Score:
    truth = json.loads(gt_file.read_text())
    total = Score()
    for name in sorted(truth):
        s = score_image(det, folder / name, truth[name])
        if verbose:
            print(f"  {name:28s} {s.found:3d}/{s.faces:3d}  FP {s.false_pos}")
        total.add(s)
    return total


def ms_per_image(det: FaceDetector, rgb: np.ndarray, repeat: int) -> float:
    det.detect(rgb)  # warm-up: session load, first-run allocations
    t = time.perf_counter()
    for _ in range(repeat):
        det.detect(rgb)
    return (time.perf_counter() - t) * 1000 / repeat


def timing_inputs() -> dict[str, np.ndarray]:
    return {
        "640x360": load_rgb(CORPUS / "timing" / "v360_graduation_group.jpg"),
        "1920x1080": load_rgb(CORPUS / "timing" / "frame_1920x1080.jpg"),
        "4000x3000": load_rgb(CORPUS / "hires" / "mosaic_4000x3000.jpg"),
    }


def report(kw: dict, recall_only: bool, verbose: bool) -> None:
    rows = []
    for label, fast in (("default", False), ("fast", True)):
        det = FaceDetector(fast=fast, **kw)
        s = score_set(det, CORPUS / "images", CORPUS / "ground_truth.json", verbose)
        hi = score_set(det, CORPUS / "hires", CORPUS / "hires" / "ground_truth_hires.json", verbose)
        for m in s.misses + hi.misses:
            print(f"  miss ({label}): {m}")
        row = [label, f"{s.recall:.1%} ({s.found}/{s.faces})", str(s.false_pos),
               f"{hi.recall:.1%} ({hi.found}/{hi.faces})", str(hi.false_pos)]
        if not recall_only:
            for name, rgb in timing_inputs().items():
                row.append(f"{ms_per_image(det, rgb, 1 if name == '4000x3000' else 3):.0f}")
        rows.append(row)
    head = ["mode", "recall 13 images", "FP", "recall 12 MP mosaic", "FP"]
    if not recall_only:
        head += ["ms 640x360", "ms 1920x1080", "ms 4000x3000"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for row in rows:
        print("| " + " | ".join(row) + " |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--recall", action="store_true", help="skip the timings")
    parser.add_argument("--kw", default="{}", help="FaceDetector keyword arguments, JSON")
    parser.add_argument("-v", action="store_true", help="per-image counts")
    args = parser.parse_args()
    report(json.loads(args.kw), args.recall, args.v)


if __name__ == "__main__":
    main()
