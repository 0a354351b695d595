"""Time per 12 MP JPEG: `process_file` end to end versus decode + encode alone with
the same libraries, measured side by side in one run, reported as ratios.

    .venv/bin/python bench/bench_image.py [--repeat 3] [--flags]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from sanitize.config import Settings
from sanitize.detect.registry import get_detectors
from sanitize.media import images
from sanitize.media.metadata import inventory
from sanitize.pipeline import process_file
from sanitize.render import recheck_faces

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
SRC = CORPUS / "faces" / "hires" / "mosaic_4000x3000.jpg"


def timed(fn, repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t)
    return statistics.median(runs)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--flags", action="store_true", help="also run the policy-flag detectors")
    args = ap.parse_args()
    settings = Settings(flags=args.flags)
    detectors = get_detectors(settings)
    tmp = Path(tempfile.mkdtemp())

    def decode_encode() -> None:
        pic = images.decode(SRC, "jpeg", settings.max_pixels)
        images.encode(pic.rgb, None, "jpeg", tmp / "plain.jpg", settings.jpeg_quality)

    pic = images.decode(SRC, "jpeg", settings.max_pixels)
    detectors.analyse_with_near(pic.rgb)  # warm-up: sessions are not per-file
    base = timed(decode_encode, args.repeat)
    detect = timed(lambda: detectors.analyse_with_near(pic.rgb), args.repeat)
    # One round of the re-check as the pipeline runs it: the whole picture.
    verify = timed(lambda: recheck_faces(detectors.faces, pic.rgb), args.repeat)
    meta = timed(lambda: inventory(SRC), args.repeat)
    full = timed(lambda: process_file(SRC, Path("m.jpg"), tmp / "out", settings), args.repeat)
    print(f"input: {SRC.name} ({pic.info.width}x{pic.info.height}), flags={args.flags}, "
          f"median of {args.repeat}")
    print("| step | seconds | × decode+encode |")
    print("|---|---|---|")
    for name, t in [("decode + encode (Pillow)", base), ("detectors (analyse)", detect),
                    ("face re-check of output", verify), ("metadata inventory", meta),
                    ("sanitize end to end", full)]:
        print(f"| {name} | {t:.2f} | {t / base:.1f} |")
    print(f"detector share of end to end: {(detect + verify) / full:.0%}")


if __name__ == "__main__":
    main()
