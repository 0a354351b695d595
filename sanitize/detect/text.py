"""Shared text detection and recognition (RapidOCR's bundled PP-OCRv4 ONNX models).

Text detection is run ONCE per picture (`detect_text`) and its result is passed to
every consumer (plates, documents), because detection is the expensive step that
looks at the whole picture.  Recognition (`read_text`) is run only on the few
candidate boxes a consumer asks about.

Pipeline use, per picture (or sampled video frame):

    text = detect_text(rgb)                        # once
    plates = PlateDetector().detect(rgb, text)     # blur
    docs = DocumentDetector().detect(rgb, text)    # flag
    uniforms = UniformDetector().detect(rgb, faces)
    seized = SeizedItemsDetector().detect(
        rgb, weapons + faces + plates + docs + text_regions(text))

The ONNX sessions are created lazily on first use and kept for the process: one
session each, one thread each, because the tool runs on shared 2-core PCs and the
pipeline parallelises across files, not inside a model.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from sanitize.detect import sessions
from sanitize.detect.base import ModelInfo
from sanitize.errors import ModelMissing
from sanitize.hashing import sha256_file
from sanitize.types import Box, Region

RAPIDOCR_VERSION = "1.4.4"
_SOURCE = "PyPI rapidocr-onnxruntime==1.4.4 (wheel-bundled PP-OCRv4, RapidAI/RapidOCR)"
# Pinned so that a different wheel (other weights) is caught, not silently used.
_DET_FILE = ("ch_PP-OCRv4_det_infer.onnx",
             "d2a7720d45a54257208b1e13e36a8479894cb74155a5efe29462512d42f49da9")
_REC_FILE = ("ch_PP-OCRv4_rec_infer.onnx",
             "48fc40f24f6d2a207a2b1091d3437eb3cc3eb6b676dc3ef9c37384005483683b")

DET_MODEL = ModelInfo("rapidocr-ppocrv4-det", RAPIDOCR_VERSION, "Apache-2.0", _DET_FILE[1], _SOURCE)
REC_MODEL = ModelInfo("rapidocr-ppocrv4-rec", RAPIDOCR_VERSION, "Apache-2.0", _REC_FILE[1], _SOURCE)

# Default longest side the detector sees.  Plates in car photos are ~3-8 % of the
# picture width; at 960 px they are still 30+ px wide, which the DB detector finds.
DEFAULT_MAX_SIDE = 960
# Small pictures are upscaled at most this much: more only adds time, not text.
_MAX_UPSCALE = 2.0


@dataclass(frozen=True)
class TextBox:
    """One detected text line: its quadrilateral (clockwise from top-left, picture
    pixels), the enclosing axis-aligned box, and the detector's mean probability."""

    quad: tuple[tuple[float, float], ...]
    box: Box
    score: float

    @property
    def aspect(self) -> float:
        """Width / height of the quad's own (possibly rotated) rectangle."""
        w, h = _quad_size(self.quad)
        return w / h if h > 0 else 0.0


class TextLines(list[TextBox]):
    """`detect_text`'s result: the text lines, plus `faint`: spots where the
    detector's text probability rose above FAINT but not to its threshold (0.3),
    as boxes in picture pixels.  Text only a few pixels high (a number plate of a
    car far behind) shows only as such a spot; plates look there again, closer.
    `scale`: detector pixels per picture pixel."""

    def __init__(self, lines: list[TextBox] | None = None,
                 faint: list[Box] | None = None, scale: float = 1.0) -> None:
        super().__init__(lines or [])
        self.faint: list[Box] = faint or []
        self.scale = scale


# Probability that marks a faint spot, and its least width in detector pixels.  On
# the corpus (90 pictures) 7 spots, 4 of them on car photos; the half-hidden plate
# of the background car in samples/vehicle_check.jpg peaks at 0.23.
FAINT = 0.1
_FAINT_MIN_W = 4
_DET_THRESH = 0.3


_lock = threading.Lock()
_sessions: dict[str, Any] = {}


def _model_file(entry: tuple[str, str]) -> Path:
    import rapidocr_onnxruntime

    path = Path(rapidocr_onnxruntime.__file__).resolve().parent / "models" / entry[0]
    if not path.is_file():
        raise ModelMissing(f"RapidOCR model {path} is missing; reinstall rapidocr-onnxruntime")
    if sha256_file(path) != entry[1]:
        installed = metadata.version("rapidocr-onnxruntime")
        raise ModelMissing(
            f"RapidOCR model {path.name} differs from the pinned {RAPIDOCR_VERSION} weights "
            f"(installed {installed}); install rapidocr-onnxruntime=={RAPIDOCR_VERSION}"
        )
    return path


def _session_config(entry: tuple[str, str]) -> dict[str, Any]:
    return {
        "model_path": str(_model_file(entry)),
        # RapidOCR opens its own sessions; the thread budget and CUDA choice are
        # the same as every other session's (sanitize.detect.sessions).
        "intra_op_num_threads": sessions.threads(),
        "inter_op_num_threads": 1,
        "use_cuda": sessions.uses_cuda(),
        "use_dml": False,
    }


def _with_our_options(cls: Any, cfg: dict[str, Any]) -> Any:
    """`cls(cfg)` with its onnxruntime session opened with `sessions.ort_options`
    (threads, no spinning) instead of RapidOCR's own.  RapidOCR takes no session
    options, so its option builder is swapped for the construction, under `_lock`
    (the only place sessions of it are made); its memory arena stays off, as
    RapidOCR has it (input sizes vary from picture to picture)."""
    from rapidocr_onnxruntime.utils import infer_engine

    def ours(config: dict[str, Any]) -> Any:
        opts = sessions.ort_options(config.get("intra_op_num_threads"))
        opts.enable_cpu_mem_arena = False
        return opts

    engine = infer_engine.OrtInferSession
    saved = engine.__dict__["_init_sess_opts"]
    engine._init_sess_opts = staticmethod(ours)
    try:
        return cls(cfg)
    finally:
        engine._init_sess_opts = saved


def _detector() -> Any:
    with _lock:
        if "det" not in _sessions:
            from rapidocr_onnxruntime.ch_ppocr_det import TextDetector

            cfg = _session_config(_DET_FILE) | {
                # The picture is resized by us; "max" only rounds to multiples of 32.
                "limit_side_len": 10_000, "limit_type": "max",
                "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5],
                "thresh": _DET_THRESH, "box_thresh": 0.5, "max_candidates": 1000,
                "unclip_ratio": 1.6, "use_dilation": True, "score_mode": "fast",
            }
            _sessions["det"] = _with_our_options(TextDetector, cfg)
        return _sessions["det"]


def _recogniser() -> Any:
    with _lock:
        if "rec" not in _sessions:
            from rapidocr_onnxruntime.ch_ppocr_rec import TextRecognizer

            cfg = _session_config(_REC_FILE) | {"rec_img_shape": [3, 48, 320], "rec_batch_num": 6}
            _sessions["rec"] = _with_our_options(TextRecognizer, cfg)
        return _sessions["rec"]


def _quad_size(quad: tuple[tuple[float, float], ...]) -> tuple[float, float]:
    p = np.asarray(quad, dtype=np.float32)
    w = float(max(np.linalg.norm(p[0] - p[1]), np.linalg.norm(p[3] - p[2])))
    h = float(max(np.linalg.norm(p[0] - p[3]), np.linalg.norm(p[1] - p[2])))
    return w, h


def _to_textbox(quad: np.ndarray, score: float, scale: float) -> TextBox:
    q = quad.astype(np.float64) / scale
    pts = tuple((float(x), float(y)) for x, y in q)
    xs, ys = q[:, 0], q[:, 1]
    box = Box(float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max()))
    return TextBox(pts, box, float(score))


def _faint_spots(pred: np.ndarray, shape: tuple[int, int], scale: float) -> list[Box]:
    prob = pred.reshape(pred.shape[-2:])[: shape[0], : shape[1]]
    n, labels, stats, _ = cv2.connectedComponentsWithStats((prob > FAINT).astype(np.uint8),
                                                           connectivity=8)
    detected = set(np.unique(labels[prob > _DET_THRESH]).tolist())
    out = []
    for i in range(1, n):
        x, y, bw, bh, _area = (int(v) for v in stats[i])
        if bw >= _FAINT_MIN_W and i not in detected:
            out.append(Box(x / scale, y / scale, (x + bw) / scale, (y + bh) / scale))
    return out


def detect_text(rgb: np.ndarray, max_side: int = DEFAULT_MAX_SIDE,
                box_thresh: float = 0.5) -> TextLines:
    """Text lines in an upright RGB uint8 picture, in its own pixel coordinates."""
    h, w = rgb.shape[:2]
    if h < 8 or w < 8:
        return TextLines()
    scale = min(max_side / max(h, w), _MAX_UPSCALE)
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)  # PP-OCR was trained on BGR input
    if scale != 1.0:
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        bgr = cv2.resize(bgr, (max(8, round(w * scale)), max(8, round(h * scale))),
                         interpolation=interp)
    det = _detector()
    # Call the pieces rather than TextDetector.__call__, which drops the scores.
    with _lock:  # onnxruntime sessions are thread-safe, the shared post-processor is not
        det.postprocess_op.box_thresh = box_thresh
        det.preprocess_op = det.get_preprocess(max(bgr.shape[:2]))
        tensor = det.preprocess_op(bgr)
        if tensor is None:
            return TextLines()
        pred = det.infer(tensor)[0]
        quads, scores = det.postprocess_op(pred, bgr.shape[:2])
    out = TextLines(faint=_faint_spots(pred, bgr.shape[:2], scale), scale=scale)
    for quad, score in zip(quads, scores, strict=True):
        q = det.order_points_clockwise(np.asarray(quad, dtype=np.float32))
        q = det.clip_det_res(q, bgr.shape[0], bgr.shape[1])
        tb = _to_textbox(q, score, scale)
        if tb.box.w > 3 and tb.box.h > 3:
            out.append(tb)
    return out


def _crop(bgr: np.ndarray, quad: tuple[tuple[float, float], ...]) -> np.ndarray:
    """Rectify one text quad to an upright strip (what the recogniser expects)."""
    src = np.asarray(quad, dtype=np.float32)
    w, h = _quad_size(quad)
    w, h = max(2, round(w)), max(2, round(h))
    dst = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    m = cv2.getPerspectiveTransform(src, dst)
    strip = cv2.warpPerspective(bgr, m, (w, h), borderMode=cv2.BORDER_REPLICATE,
                                flags=cv2.INTER_CUBIC)
    if h >= 1.5 * w:  # vertical strip: PP-OCR reads horizontal lines only
        strip = np.rot90(strip)
    return np.ascontiguousarray(strip)


def read_text(rgb: np.ndarray, boxes: list[TextBox]) -> list[str]:
    """Recognised string for each box (same order); '' where nothing was read."""
    if not boxes:
        return []
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    strips = [_crop(bgr, b.quad) for b in boxes]
    results, _ = _recogniser()(strips)
    return [str(text) for text, _score in results]


def text_regions(boxes: list[TextBox], detector: str = "text") -> list[Region]:
    """The text lines as plain regions (kind 'text'), for consumers of `Region`s."""
    return [Region("text", b.box, round(b.score, 3), detector) for b in boxes]


def text_models(with_rec: bool = True) -> list[ModelInfo]:
    return [DET_MODEL, REC_MODEL] if with_rec else [DET_MODEL]
