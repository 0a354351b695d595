"""Where a picture's time goes: `process_file` under cProfile, cumulative seconds
of the pipeline's stages, for a before/after table (issue 11).

    PYTHONPATH=CHECKOUT .venv/bin/python bench/stages_image.py [--flags] FILE ...

Runs against any checkout (stage functions missing there are left blank); one
warm-up run first (sessions are built once per process), then one profiled run.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import tempfile
import time
from pathlib import Path

from sanitize.config import Settings
from sanitize.media.probe import sniff
from sanitize.pipeline import process_file

# (label, file suffix, function name) as cProfile names them.
STAGES = [
    ("decode (input)", "media/images.py", "decode"),
    ("as written (encode + decode for the analysis)", "media/images.py", "as_written"),
    ("analysis: faces + flags", "detect/registry.py", "analyse_with_near"),
    ("  of which flags", "detect/registry.py", "flags"),
    ("masks", "sanitize/redact.py", "mask_boxes"),
    ("encode (output)", "media/images.py", "encode"),
    ("faces: re-check (all rounds)", "sanitize/render.py", "recheck_faces"),
    ("render total (mask, encode, re-check)", "sanitize/render.py", "_render_image"),
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--flags", action="store_true")
    ap.add_argument("files", nargs="+", type=Path)
    args = ap.parse_args()
    settings = Settings(flags=args.flags)
    tmp = Path(tempfile.mkdtemp())
    for src in args.files:
        sniff(src)
        process_file(src, Path("warm" + src.suffix), tmp / "w", settings)
        prof = cProfile.Profile()
        t = time.perf_counter()
        prof.enable()
        res = process_file(src, Path("m" + src.suffix), tmp / "o", settings)
        prof.disable()
        wall = time.perf_counter() - t
        stats = pstats.Stats(prof).stats  # type: ignore[attr-defined]
        print(f"\n{src.name}: {wall:.2f} s end to end, {res.status.value}, flags={args.flags}")
        print("| stage | seconds | calls |")
        print("|---|---|---|")
        for label, where, name in STAGES:
            hits = [(v[1], v[3]) for (f, _, n), v in stats.items()
                    if n == name and f.endswith(where)]
            if hits:
                calls, cum = max(hits, key=lambda h: h[1])
                print(f"| {label} | {cum:.2f} | {calls} |")
            else:
                print(f"| {label} | – | – |")


if __name__ == "__main__":
    main()
