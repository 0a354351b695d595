"""`sanitize check` on a 12 MP photo versus a bare Pillow decode, side by side in
one run, as a ratio (issue 11: ≤ 10x a decode when the file is not in a ledger).

    .venv/bin/python bench/bench_check.py [--repeat 2] [FILE]

Times `check_file` in-process after one warm-up (sessions are built once per
process; a cold `sanitize check` adds their start-up), with the policy flags
(the default) and with --no-flags.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bench_image import CORPUS, timed  # same folder: the one median-of-runs timer
from PIL import Image

from sanitize.check import check_file
from sanitize.config import Settings

DEFAULT = CORPUS / "faces" / "hires" / "mosaic_4000x3000.jpg"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("file", nargs="?", type=Path, default=DEFAULT)
    args = ap.parse_args()

    def decode() -> None:
        with Image.open(args.file) as im:
            im.convert("RGB").load()

    rows = []
    base = timed(decode, args.repeat)
    for label, settings in (("check (flags)", Settings()),
                            ("check --no-flags", Settings(flags=False))):
        check_file(args.file, settings)  # warm-up
        rows.append((label, timed(lambda s=settings: check_file(args.file, s), args.repeat)))
    with Image.open(args.file) as im:
        size = im.size
    print(f"input: {args.file.name} ({size[0]}x{size[1]}), median of {args.repeat}")
    print("| step | seconds | × decode |")
    print("|---|---|---|")
    print(f"| Pillow decode | {base:.2f} | 1.0 |")
    for label, t in rows:
        print(f"| {label} | {t:.2f} | {t / base:.1f} |")


if __name__ == "__main__":
    main()
