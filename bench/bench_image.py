"""Time per 12 MP JPEG: `process_file` end to end versus decode + encode alone with
the same libraries, measured side by side in one run, reported as ratios.

    .venv/bin/python bench/bench_image.py [--repeat 3] [--flags] [--no-stages] [FILE ...]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from sanitize.config import Settings
from sanitize.detect.registry import get_detectors
from sanitize.media import images
from sanitize.media.metadata import inventory
from sanitize.media.probe import sniff
from sanitize.pipeline import process_file
from sanitize.render import recheck_faces

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
SRC = CORPUS / "faces" / "hires" / "mosaic_4000x3000.jpg"


def bare_decode(path: Path) -> Any:
    """The reference decode: Pillow (pillow-heif registered) to an RGB array, nothing
    else.  Not the tool's own images.decode/encode: those got faster in the third
    session, and a ratio to them made each of their speed-ups look like a slow-down."""
    with Image.open(path) as im:
        return np.asarray(im if im.mode == "RGB" else im.convert("RGB"))


def bare_decode_encode(path: Path, dst: Path, quality: int) -> None:
    """The reference decode + encode: bare_decode, then Pillow's JPEG writer."""
    Image.fromarray(bare_decode(path)).save(dst, "JPEG", quality=quality)


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
    ap.add_argument("--no-stages", action="store_true",
                    help="end to end only (also runs against older checkouts' API)")
    ap.add_argument("files", nargs="*", type=Path, default=[SRC])
    args = ap.parse_args()
    for f in args.files:
        bench_one(f, args)


def bench_one(src: Path, args: argparse.Namespace) -> None:
    settings = Settings(flags=args.flags)
    detectors = get_detectors(settings)
    tmp = Path(tempfile.mkdtemp())
    fmt = sniff(src)[1]

    def decode_encode() -> None:
        bare_decode_encode(src, tmp / "plain.jpg", settings.jpeg_quality)

    pic = images.decode(src, fmt, settings.max_pixels)
    process_file(src, Path("warm" + src.suffix), tmp / "out", settings)  # sessions, once
    base = timed(decode_encode, args.repeat)
    rows = []
    if not args.no_stages:
        rows += [("detectors (analyse)",
                  timed(lambda: detectors.analyse_with_near(pic.rgb), args.repeat)),
                 # One round of the re-check without a memo: the whole picture searched.
                 ("face re-check of output, one round",
                  timed(lambda: recheck_faces(detectors.faces, pic.rgb), args.repeat)),
                 ("metadata inventory", timed(lambda: inventory(src), args.repeat))]
    full = timed(lambda: process_file(src, Path("m" + src.suffix), tmp / "out", settings),
                 args.repeat)
    print(f"input: {src.name} ({pic.info.width}x{pic.info.height}), flags={args.flags}, "
          f"median of {args.repeat}")
    print("| step | seconds | × decode+encode |")
    print("|---|---|---|")
    for name, t in [("bare decode + encode (Pillow)", base), *rows,
                    ("sanitize end to end", full)]:
        print(f"| {name} | {t:.2f} | {t / base:.1f} |")


if __name__ == "__main__":
    main()
