"""Make the activation ranges the install step quantizes CenterFace with.

    SANITIZE_MODEL_DIR=... .venv/bin/python tools/calibrate_centerface.py

MinMax calibration (onnxruntime.quantization) on 40 crops of 640x640 from corpus
pictures that are NOT in the face ground truth (objects/person, uniform, plate,
metadata: people, street and camera scenes) and never from the holdout.  The
ranges are rounded outwards to 4 significant digits and written to
sanitize/detect/centerface_int8_ranges.json, which the install step reads: the
quantized model is then built without pictures and byte-for-byte the same on
every machine (calibration itself runs float kernels that differ by CPU).
"""

from __future__ import annotations

import json
import math
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
import onnx
from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, create_calibrator

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from sanitize.install_models import CENTERFACE_FILE, centerface_for_quantization  # noqa: E402
from sanitize.model_store import model_dir  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus"
PICTURES = sorted([
    *(CORPUS / "objects" / "person").glob("*.jpg"),
    *(CORPUS / "objects" / "uniform").glob("*.jpg"),
    *(CORPUS / "objects" / "plate").glob("keshav_*.jpg"),
    *(CORPUS / "metadata").glob("ian__*.jpg"),
])
OUT = ROOT / "sanitize" / "detect" / "centerface_int8_ranges.json"
CROP, N_CROPS = 640, 40


def crops() -> list[np.ndarray]:
    """Up to 3 crops a picture: the whole picture fitted into 640, then native crops."""
    out: list[np.ndarray] = []
    for path in PICTURES:
        rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        h, w = rgb.shape[:2]
        if min(h, w) < 64:
            continue
        s = min(1.0, CROP / max(h, w))
        out.append(cv2.resize(rgb, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA))
        if max(h, w) > CROP:
            for y, x in ((0, 0), ((h - CROP) // 2, (w - CROP) // 2)):
                out.append(rgb[max(0, y):y + CROP, max(0, x):x + CROP])
    return out[:N_CROPS]


class Reader(CalibrationDataReader):
    def __init__(self, pictures: list[np.ndarray]) -> None:
        self._it = iter(pictures)

    def get_next(self):
        rgb = next(self._it, None)
        if rgb is None:
            return None
        h, w = rgb.shape[:2]
        hp, wp = 32 * math.ceil(h / 32), 32 * math.ceil(w / 32)
        blob = np.zeros((1, 3, hp, wp), np.float32)
        blob[0, :, :h, :w] = rgb.transpose(2, 0, 1)
        return {"input.1": blob}


def _outwards(v: float, up: bool) -> float:
    if v == 0:
        return 0.0
    digits = 3 - math.floor(math.log10(abs(v)))
    f = 10.0 ** digits
    return (math.ceil(v * f) if up else math.floor(v * f)) / f


def main() -> None:
    pics = crops()
    fp32 = (model_dir() / CENTERFACE_FILE).read_bytes()
    model = centerface_for_quantization(fp32)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cf.onnx"
        onnx.save(model, path)
        cal = create_calibrator(path, None, augmented_model_path=str(Path(tmp) / "aug.onnx"),
                                calibrate_method=CalibrationMethod.MinMax)
        cal.collect_data(Reader(pics))
        data = cal.compute_data()
    ranges = {name: [_outwards(float(np.min(t.range_value[0])), False),
                     _outwards(float(np.max(t.range_value[1])), True)]
              for name, t in sorted(data.data.items())}
    meta = {"method": "MinMax", "crops": len(pics),
            "pictures": [p.relative_to(CORPUS).as_posix() for p in PICTURES]}
    OUT.write_text(json.dumps({"about": meta, "ranges": ranges}, indent=1) + "\n")
    print(f"{len(ranges)} tensor ranges from {len(pics)} crops -> {OUT}")


if __name__ == "__main__":
    main()
