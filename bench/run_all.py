"""Run every benchmark in turn and keep what each printed in bench/results/.

    .venv/bin/python bench/run_all.py [--only image,faces] [--quick]

Each benchmark measures its ratios side by side within its own run, so the
machine's load at the time affects both sides alike; absolute times still vary
from run to run on a shared machine.  `--quick` passes each benchmark its
smallest sensible settings (for a smoke run, not for the README).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
WORK = BENCH / ".work"

# name -> (script, full arguments, quick arguments)
BENCHMARKS: dict[str, tuple[str, list[str], list[str]]] = {
    "image": ("bench_image.py", ["--repeat", "3"], ["--repeat", "1"]),
    "faces": ("bench_faces.py", [], ["--recall"]),
    "flags": ("bench_flags.py", [], ["--limit", "3"]),
    "video": ("bench_video.py", ["--workdir", str(WORK / "video")],
              ["--workdir", str(WORK / "video"), "--reuse"]),
    "video_compare": ("bench_video_compare.py", ["--workdir", str(WORK / "compare")],
                      ["--workdir", str(WORK / "compare"), "--rounds", "1"]),
    "video_stride": ("bench_video_stride.py", [], []),
    "batch": ("bench_batch.py", ["--repeat", "2"], ["--limit", "6"]),
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default="", help="comma-separated names: " + ",".join(BENCHMARKS))
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    names = [n for n in a.only.split(",") if n] or list(BENCHMARKS)
    unknown = set(names) - set(BENCHMARKS)
    if unknown:
        ap.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    RESULTS.mkdir(exist_ok=True)
    WORK.mkdir(exist_ok=True)
    failed = []
    for name in names:
        script, full, quick = BENCHMARKS[name]
        if not (BENCH / script).exists():
            print(f"== {name}: {script} missing, skipped")
            continue
        (WORK / "video").mkdir(exist_ok=True)
        (WORK / "compare").mkdir(exist_ok=True)
        cmd = [sys.executable, str(BENCH / script), *(quick if a.quick else full)]
        print(f"== {name}: {' '.join(cmd[1:])}", flush=True)
        t = time.monotonic()
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        took = time.monotonic() - t
        print(proc.stdout, end="")
        stamp = time.strftime("%Y-%m-%d %H:%M")
        header = f"# {' '.join(cmd[1:])}\n# {stamp}, {took:.0f} s, exit {proc.returncode}\n"
        (RESULTS / f"{name}.txt").write_text(header + proc.stdout)
        if proc.returncode != 0:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
