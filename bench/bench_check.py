"""`sanitize check` on a 12 MP photo versus a bare Pillow decode, side by side in
one run, as a ratio (issue 11: ≤ 10x a decode when the file is not in a ledger,
≤ 0.5 s when its sha256 is).

    .venv/bin/python bench/bench_check.py [--repeat 2] [FILE ...]

For each file (default: the 12 MP crowd mosaic and a 12 MP iPhone HEIC):
- `check_file` in-process after one warm-up (sessions are built once per process;
  a cold `sanitize check` adds their start-up), with the policy flags (the
  default) and with --no-flags;
- the file is then run through `sanitize run` and its output checked where the run
  put it: the run's ledger knows it, so `sanitize check OUTPUT` is timed as the
  user runs it, a fresh process (start-up included), and in-process;
- the same output copied out of the run folder (no ledger): the full check of a
  clean written photo.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_image import CORPUS, bare_decode, timed  # same folder: one timer, one reference
from PIL import Image

from sanitize.check import check_file
from sanitize.config import Settings
from sanitize.media.probe import sniff

DEFAULTS = [CORPUS / "faces" / "hires" / "mosaic_4000x3000.jpg",
            CORPUS / "metadata" / "ian__iphone_13_pro_max.HEIC"]
SANITIZE = Path(sys.executable).with_name("sanitize")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("files", nargs="*", type=Path, default=DEFAULTS)
    args = ap.parse_args()
    for f in args.files:
        bench_one(f, args.repeat)


def bench_one(path: Path, repeat: int) -> None:
    rows = []
    base = timed(lambda: bare_decode(path), repeat)
    for label, settings, every in (("check (flags)", Settings(), False),
                                   ("check --no-flags", Settings(flags=False), False),
                                   ("check --all (pixels searched even when metadata "
                                    "already refuses)", Settings(), True)):
        check_file(path, settings, every_reason=every)  # warm-up
        rows.append((label, timed(lambda s=settings, e=every: check_file(path, s,
                                                                          every_reason=e),
                                  repeat)))
    out = Path(tempfile.mkdtemp())
    subprocess.run([str(SANITIZE), "run", str(path), "-o", str(out / "run"), "--no-progress",
                    "-j", "1"], check=False, capture_output=True)
    written = next(p for d in ("safe", "review") for p in (out / "run" / d).glob("*.*"))
    cli = [str(SANITIZE), "check", str(written)]
    rows.append((f"`sanitize check` in the ledger ({written.parent.name}/), fresh process",
                 timed(lambda: subprocess.run(cli, check=False, capture_output=True), repeat)))
    rows.append(("check_file in the ledger, in-process",
                 timed(lambda: check_file(written, Settings()), repeat)))
    loose = out / ("loose" + written.suffix)
    shutil.copy(written, loose)
    wfmt = sniff(loose)[1]
    base_out = timed(lambda: bare_decode(loose), repeat)
    check_file(loose, Settings())
    clean = timed(lambda: check_file(loose, Settings()), repeat)
    with Image.open(path) as im:
        size = im.size
    print(f"input: {path.name} ({size[0]}x{size[1]}), median of {repeat}")
    print("| step | seconds | × decode |")
    print("|---|---|---|")
    print(f"| decode (bare Pillow) | {base:.2f} | 1.0 |")
    for label, t in rows:
        print(f"| {label} | {t:.2f} | {t / base:.1f} |")
    print(f"| bare decode of the written output ({wfmt}) | {base_out:.2f} | 1.0 of its own |")
    print(f"| check (flags) of the written output, no ledger | {clean:.2f} | "
          f"{clean / base_out:.1f} of its own decode |")
    shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
