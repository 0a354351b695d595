"""Batch throughput: files per second with 1 and 2 workers, side by side.

    .venv/bin/python bench/bench_batch.py [FOLDER ...] [--jobs 1,2] [--limit N]

Each setting gets a fresh OUT (no resume) and fresh worker processes, so the
figures include what a real run pays: spawning workers and loading models.
Runs alternate (1, 2, 1, 2, ...) with --repeat so background load on a shared
machine hits both settings alike.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from sanitize.batch import collect_inputs, run_batch
from sanitize.config import Settings
from sanitize.types import Status

CORPUS = Path("/work/shared/corpus")
DEFAULT_DIRS = [CORPUS / "faces" / "images", CORPUS / "metadata"]
PICTURE_EXT = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".heic", ".webp"}


def measure(folders: list[Path], jobs: int, limit: int) -> dict[str, float | int]:
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp:
        out = Path(tmp)
        inputs = [i for i in collect_inputs(folders, out) if i.rel.suffix.lower() in PICTURE_EXT]
        inputs = inputs[:limit]
        t0 = time.perf_counter()
        results = run_batch(inputs, out, Settings(), jobs=jobs, progress=False)
        seconds = time.perf_counter() - t0
    failed = sum(r.status is Status.ERROR for r in results)
    return {"jobs": jobs, "files": len(results), "failed": failed, "seconds": seconds,
            "files_per_s": len(results) / seconds}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folders", nargs="*", type=Path, default=DEFAULT_DIRS)
    ap.add_argument("--jobs", default="1,2", help="comma-separated worker counts")
    ap.add_argument("--limit", type=int, default=24, help="at most this many pictures")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--json", type=Path, help="also write the numbers here")
    args = ap.parse_args()

    counts = [int(j) for j in args.jobs.split(",")]
    runs: dict[int, list[dict[str, float | int]]] = {j: [] for j in counts}
    for _ in range(args.repeat):
        for j in counts:
            r = measure(args.folders, j, args.limit)
            runs[j].append(r)
            print(f"jobs={j}: {r['files']} files ({r['failed']} failed) in "
                  f"{r['seconds']:.1f} s = {r['files_per_s']:.2f} files/s", flush=True)
    best = {j: statistics.median(float(r["files_per_s"]) for r in rs) for j, rs in runs.items()}
    base = best[counts[0]]
    print(f"\n{'jobs':>5} {'files/s':>9} {'ratio':>6}")
    for j in counts:
        print(f"{j:>5} {best[j]:>9.2f} {best[j] / base:>6.2f}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"median_files_per_s": best, "runs": runs}, indent=1))


if __name__ == "__main__":
    main()
