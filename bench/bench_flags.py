"""Policy-flag detectors: ms per picture on the shared corpus, per detector and folder.

    nice .venv/bin/python bench/bench_flags.py              # all objects/ folders + faces
    nice .venv/bin/python bench/bench_flags.py --limit 5    # first 5 pictures per folder

Each stage is timed on its own, given the previous stages' output, exactly as the
pipeline calls them: text detection once per picture, then plates (recognition of
candidate lines + Haar cascade) and documents on that text; uniforms on the face
detector's regions ("uniforms_face": faces only; "uniforms": plus HOG body shapes,
as the pipeline runs it); the weapon model alone ("weapon_model") and with its
second look ("weapons", as the pipeline runs it); seized items on the weapon
detector's regions.  Faces belong to another benchmark; they are run (untimed)
only to feed uniforms and seized items.  CPU ms (one thread) with wall ms in
brackets; the machine is shared, so wall time varies with its load.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sanitize.detect.documents import DocumentDetector
from sanitize.detect.plates import PlateDetector
from sanitize.detect.seized import SeizedItemsDetector
from sanitize.detect.text import detect_text
from sanitize.detect.uniforms import UniformDetector

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
FOLDERS = ["objects/plate", "objects/doc", "objects/uniform", "objects/person",
           "objects/gun", "faces/images"]
STAGES = ["text", "plates", "documents", "uniforms_face", "uniforms", "weapon_model",
          "weapons", "seized"]


def load_rgb(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise FileNotFoundError(path)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """(result, cpu ms, wall ms) of one call."""
    c0, w0 = time.process_time(), time.perf_counter()
    out = fn()
    return out, (time.process_time() - c0) * 1000, (time.perf_counter() - w0) * 1000


def optional_detector(module: str, cls: str) -> Any | None:
    """Another helper's detector, if it is there and its model is installed."""
    try:
        mod = __import__(f"sanitize.detect.{module}", fromlist=[cls])
        return getattr(mod, cls)()
    except Exception as e:  # noqa: BLE001 - a missing feeder only skips one stage
        print(f"({module}: {e}; stage fed with no regions)")
        return None


def bench_picture(rgb: np.ndarray, dets: dict[str, Any]) -> dict[str, tuple[float, float]]:
    times: dict[str, tuple[float, float]] = {}

    def stage(name: str, fn: Callable[[], Any]) -> Any:
        out, cpu, wall = timed(fn)
        times[name] = (cpu, wall)
        return out

    text = stage("text", lambda: detect_text(rgb))
    stage("plates", lambda: dets["plates"].detect(rgb, text))
    stage("documents", lambda: dets["documents"].detect(rgb, text))
    faces = dets["faces"].detect(rgb) if dets["faces"] else []
    # Side by side: the face-only uniform path and the full one (plus HOG body shapes);
    # the weapon model alone and with its second look (keypoints, flipped crops).
    stage("uniforms_face", lambda: dets["uniforms_face"].detect(rgb, faces))
    stage("uniforms", lambda: dets["uniforms"].detect(rgb, faces))
    weapons: list = []
    if dets["weapons"]:
        stage("weapon_model", lambda: dets["weapons"]._yolo.detect(rgb))
        weapons = stage("weapons", lambda: dets["weapons"].detect(rgb))
    else:
        times["weapon_model"] = times["weapons"] = (0.0, 0.0)
    stage("seized", lambda: dets["seized"].detect(rgb, weapons + faces))
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--limit", type=int, default=0, help="pictures per folder (0: all)")
    args = ap.parse_args()
    cv2.setNumThreads(1)
    dets = {
        "plates": PlateDetector(), "documents": DocumentDetector(),
        "uniforms": UniformDetector(), "uniforms_face": UniformDetector(body=False),
        "seized": SeizedItemsDetector(),
        "faces": optional_detector("faces", "FaceDetector"),
        "weapons": optional_detector("weapons", "WeaponDetector"),
    }
    warm = np.full((480, 640, 3), 128, np.uint8)
    bench_picture(warm, dets)  # loads the ONNX sessions outside the timings
    print(f"{'folder':16s} {'n':>3s} " + " ".join(f"{s:>15s}" for s in STAGES))
    for folder in FOLDERS:
        paths = sorted(p for p in (CORPUS / folder).iterdir()
                       if p.suffix.lower() in {".jpg", ".jpeg", ".png"})
        paths = paths[: args.limit] if args.limit else paths
        rows = [bench_picture(load_rgb(p), dets) for p in paths]
        cells = []
        for s in STAGES:
            cpu = statistics.mean(r[s][0] for r in rows)
            wall = statistics.mean(r[s][1] for r in rows)
            cells.append(f"{cpu:7.0f} ({wall:5.0f})")
        print(f"{folder:16s} {len(rows):3d} " + " ".join(cells), flush=True)


if __name__ == "__main__":
    main()
