"""CPU time of the pictures' face detector, old against new, in one process.

    SANITIZE_MODEL_DIR=... .venv/bin/python bench/bench_face_backends.py

Variants alternate per round (order reversed each round), one intra-op thread,
best CPU time of 2 rounds; speedup = old ÷ variant.  "old" is the detector
before issue 11 (onnxruntime fp32 CenterFace, yuface tiled over the picture);
"V14" gates yuface to windows round CenterFace's unsure candidates; "int8" runs
the int8 QDQ CenterFace through OpenVINO (needs the openvino wheel and the
installed centerface_int8_qdq.onnx; else it falls back to fp32).  OpenVINO's
bf16 on the fp32 file, measured 1.3x (docs/measurements.md), is not offered: video
keeps onnxruntime fp32 (bench/results/video_stride_backend.txt).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench_faces import CORPUS, load_rgb

from sanitize.detect import sessions
from sanitize.detect.faces import FaceDetector

VARIANTS = {
    "old (onnxruntime fp32, yuface tiled)": {},
    "V14, onnxruntime fp32": {"gate_yuface": True},
    "V14, int8 (the pictures' detector)": {"gate_yuface": True, "int8": True},
}


def run(det: FaceDetector, rgb) -> float:
    c = time.process_time()
    det.detect(rgb)
    return time.process_time() - c


def main() -> None:
    sessions.set_threads(1)
    pictures = {"1920x1080": load_rgb(CORPUS / "timing" / "frame_1920x1080.jpg"),
                "4000x3000": load_rgb(CORPUS / "hires" / "mosaic_4000x3000.jpg")}
    dets = {k: FaceDetector(**kw) for k, kw in VARIANTS.items()}
    print("| variant | picture | CPU s | speedup |")
    print("|---|---|---|---|")
    for name, rgb in pictures.items():
        for det in dets.values():
            run(det, rgb)  # warm-up
        best: dict[str, float] = {}
        for rnd in range(2):
            order = list(dets.items())[:: 1 if rnd == 0 else -1]
            for k, det in order:
                t = run(det, rgb)
                best[k] = min(best.get(k, t), t)
        old = best[next(iter(VARIANTS))]
        for k, t in best.items():
            print(f"| {k} | {name} | {t:.2f} | {old / t:.2f}× |")


if __name__ == "__main__":
    main()
