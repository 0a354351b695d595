"""Policy flags on the holdout photos (and, for comparison, the tuning corpus).

    SANITIZE_MODEL_DIR=models nice .venv/bin/python bench/bench_holdout.py            # holdout
    SANITIZE_MODEL_DIR=models nice .venv/bin/python bench/bench_holdout.py --corpus  # tuning set

`../shared/corpus/holdout/` is for MEASURING ONLY: no threshold, rule or special
case may be chosen from what this prints there (see its README).  Tune on the
corpus (`--corpus`), then run this once to see whether the change carries over.

Each picture runs through the same detectors as `sanitize run` (faces, then
`Detectors.flags`), and a picture counts as flagged for a kind when the policy
would act on a region of that kind (score >= the policy threshold):

* uniforms x/20 (holdout uniform/) and false uniform x/16 (street/);
* guns x/20 (guns/) and false weapon x/38 (street/ + plates/);
* plates x/22 (plates/): a plate finding on the picture (no boxes are marked
  there, so this is "a plate was found", not "the right plate"); plate findings
  x/56 on the other folders (uniform/, street/, guns/): mostly false, but a street
  photo may show a real vehicle, so an upper bound on false plates.

With --corpus the same figures on the tuning folders: uniform/ 7, ordinary
clothes 16 (faces/images + person/), gun/ 20 vs 48 no-gun photos (doc/,
person/, plate/ and the letterhead, as tests/test_weapons.py), plate/ 39 vs the
49 others (plates on a gun the weapon model flags are its markings, not plate
findings, as in `sanitize run`).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sanitize.config import Settings
from sanitize.detect.registry import get_detectors
from sanitize.policy import load_policy
from sanitize.types import Region

SHARED = Path(__file__).resolve().parents[2] / "shared" / "corpus"
HOLDOUT = SHARED / "holdout"
# As tests/test_weapons.py: a letterhead in gun/ counts as a no-gun photo; a close-up
# of slide engravings with no gun shape counts neither way.
LETTERHEAD = "basegun_noWeapon.JPG"
CLOSE_UP_ONLY = "basegun_bad_quality.JPG"


def images(folder: Path) -> list[Path]:
    exts = {".jpg", ".jpeg", ".png"}
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in exts)


def load(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(ImageOps.exif_transpose(im).convert("RGB"))


@dataclass
class Tally:
    name: str
    kind: str
    want: bool  # True: the kind should be found; False: it is a false flag
    hits: list[str] = field(default_factory=list)
    total: int = 0

    def line(self) -> str:
        goal = "found" if self.want else "FALSE"
        names = ", ".join(self.hits) if not self.want else ""
        n = f"{len(self.hits):>3}/{self.total:<3}"
        return f"{self.name:<24} {self.kind:<8} {goal:<5} {n} {names}"


def kinds_flagged(regions: list[Region], thresholds: dict[str, float]) -> dict[str, float]:
    """Best score per kind among the regions the policy acts on."""
    best: dict[str, float] = {}
    for r in regions:
        if r.score >= thresholds.get(r.kind, 0.0):
            best[r.kind] = max(best.get(r.kind, 0.0), float(r.score))
    return best


def sets(corpus: bool) -> dict[str, list[Path]]:
    if not corpus:
        return {k: images(HOLDOUT / k) for k in ("uniform", "street", "guns", "plates")}
    obj = SHARED / "objects"
    gun = images(obj / "gun")
    return {
        "uniform": images(obj / "uniform"),
        "street": images(SHARED / "faces" / "images"),
        "person": images(obj / "person"),
        "guns": [p for p in gun if p.name not in (LETTERHEAD, CLOSE_UP_ONLY)],
        "plates": images(obj / "plate"),
        "docs": images(obj / "doc"),
        "letterhead": [p for p in gun if p.name == LETTERHEAD],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", action="store_true", help="the tuning corpus instead of holdout")
    ap.add_argument("--json", type=Path, help="write per-picture kinds and scores here")
    args = ap.parse_args()

    det = get_detectors(Settings())
    pol = load_policy()
    th = {k: r.threshold for k, r in pol.rules.items()}
    groups = sets(args.corpus)
    seen: dict[str, dict[str, float]] = {}
    t0 = time.perf_counter()
    for group, paths in groups.items():
        for p in paths:
            regions = det.analyse(load(p))
            seen[f"{group}/{p.name}"] = kinds_flagged(regions, th)
    secs = time.perf_counter() - t0

    def tally(name: str, kind: str, want: bool, group_names: list[str]) -> Tally:
        t = Tally(name, kind, want)
        for key, kinds in seen.items():
            if key.split("/")[0] in group_names:
                t.total += 1
                if kind in kinds:
                    t.hits.append(f"{key.split('/', 1)[1]}:{kinds[kind]:.2f}")
        return t

    no_gun = ["person", "plates", "docs", "letterhead"] if args.corpus else ["street", "plates"]
    no_plate = [g for g in groups if g != "plates"]
    rows = [
        tally("uniform photos", "uniform", True, ["uniform"]),
        tally("ordinary clothes/street", "uniform", False, ["street", "person"]),
        tally("guns", "weapon", True, ["guns"]),
        tally("no-gun photos", "weapon", False, no_gun),
        tally("plate photos", "plate", True, ["plates"]),
        tally("other photos", "plate", False, no_plate),
    ]
    where = "corpus (tuning)" if args.corpus else "HOLDOUT (measure only)"
    print(f"{where}: {sum(len(v) for v in groups.values())} pictures in {secs:.0f} s")
    for r in rows:
        print(r.line())
    # The misses, by name, for the "found" rows.
    for r in rows:
        if r.want:
            hit = {h.split(":")[0] for h in r.hits}
            miss = [k.split("/", 1)[1] for k in seen if k.split("/")[0] in
                    {"uniform": ["uniform"], "weapon": ["guns"], "plate": ["plates"]}[r.kind]
                    and k.split("/", 1)[1] not in hit]
            print(f"  missed {r.kind}: {', '.join(miss) or '-'}")
    if args.json:
        args.json.write_text(json.dumps(seen, indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
