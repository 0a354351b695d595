"""The re-check of the written picture.

It runs the pictures' detector over the whole written picture, so a face the
first pass missed is still caught: the analysis is made to drop one face, and
the written file must still come out with that face masked.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import shared_paths

from sanitize.config import Settings
from sanitize.detect.faces import PassMemo
from sanitize.detect.registry import Detectors, get_detectors
from sanitize.geometry import cover_box
from sanitize.media import images
from sanitize.pipeline import process_file
from sanitize.redact import mask_boxes
from sanitize.render import _on_masks, recheck_faces
from sanitize.types import Box, Status

FACES = shared_paths.DATA / "faces" / "images"
FACES_ONLY = Settings(flags=False)


def _overlap(a: Box, b: Box) -> float:
    ix = max(0.0, min(a.x2, b.x2) - max(a.x1, b.x1))
    iy = max(0.0, min(a.y2, b.y2) - max(a.y1, b.y1))
    return ix * iy / max(1e-6, min(a.w * a.h, b.w * b.h))


@pytest.mark.parametrize("name", ["obama_biden_stage.jpg", "kids_group.jpg"])
def test_a_face_the_first_pass_dropped_is_masked_by_verify(
        name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = FACES / name
    real = Detectors.analyse_with_near
    dropped: list[Box] = []

    def drop_one(self, rgb, memo=None):
        regions, near = real(self, rgb, memo)
        faces = [r for r in regions if r.kind == "face"]
        if not dropped:  # the first call is the analysis, later ones do not happen
            # The face farthest from every other: no mask's border window reaches it.
            def gap(r):
                return min((abs(r.box.cx - o.box.cx) + abs(r.box.cy - o.box.cy)
                            for o in faces if o is not r), default=1e9)
            victim = max(faces, key=gap)
            dropped.append(victim.box)
            regions = [r for r in regions if r is not victim]
        return regions, near

    monkeypatch.setattr(Detectors, "analyse_with_near", drop_one)
    res = process_file(src, Path(name), tmp_path, FACES_ONLY)
    assert res.status in (Status.SAFE, Status.REVIEW), res.error
    assert dropped
    # The re-check found the face and the pipeline masked it before publishing.
    caught = [f for f in res.findings if f.kind == "face" and f.box is not None
              and _overlap(Box(*f.box), dropped[0]) > 0.5]
    assert caught, f"verify did not report the dropped face {dropped[0]}"
    out = images.decode(tmp_path / res.output, "jpeg", 10**9).rgb.astype(np.int16)
    orig = images.decode(src, "jpeg", 10**9).rgb.astype(np.int16)
    b = dropped[0]
    x1, y1, x2, y2 = int(b.x1), int(b.y1), int(b.x2), int(b.y2)
    a, m = orig[y1:y2, x1:x2], out[y1:y2, x1:x2]
    assert np.abs(np.diff(m, axis=1)).mean() < 0.5 * np.abs(np.diff(a, axis=1)).mean() + 1


def test_whole_picture_recheck_without_masks_finds_the_faces() -> None:
    rgb = images.decode(FACES / "friends_table.jpg", "jpeg", 10**9).rgb
    det = get_detectors(FACES_ONLY)
    first = det.faces.detect(rgb)
    again = recheck_faces(det.faces, rgb)
    assert len(first) >= 5
    for f in first:
        assert any(_overlap(f.box, g.box) > 0.5 for g in again), f.box


def test_a_face_half_under_a_mask_is_still_a_face(tmp_path: Path) -> None:
    """The rule that lets the re-check ignore the masks themselves (`_on_masks`)
    must not swallow a face a mask only half covers."""
    rgb = images.decode(FACES / "grace_hopper.jpg", "jpeg", 10**9).rgb
    h, w = rgb.shape[:2]
    det = get_detectors(FACES_ONLY).faces
    (face,) = det.detect(rgb)
    head = cover_box("face", face.box, w, h)
    top = Box(head.x1, head.y1, head.x2, head.y1 + 0.5 * head.h)
    out = tmp_path / "half.jpg"
    images.encode(mask_boxes(rgb.copy(), [top], "blur"), None, "jpeg", out, 90)
    written = images.decode(out, "jpeg", 10**9).rgb
    found = recheck_faces(det, written)
    assert found, "the uncovered half face was not found"
    assert not any(_on_masks(r.box, [top], "blur", written) for r in found)


def test_later_rounds_rerun_only_inputs_whose_pixels_changed(tmp_path: Path) -> None:
    """A round after the first re-runs the models only on inputs over changed
    pixels, and still finds exactly what a fresh search of the picture finds."""
    rgb = images.decode(FACES / "graduation_group.jpg", "jpeg", 10**9).rgb
    h, w = rgb.shape[:2]
    det = get_detectors(FACES_ONLY).faces
    boxes = [cover_box("face", f.box, w, h) for f in det.detect(rgb)]

    def written(bs: list[Box], name: str) -> np.ndarray:
        images.encode(mask_boxes(rgb.copy(), bs, "blur"), None, "jpeg", tmp_path / name, 90)
        return images.decode(tmp_path / name, "jpeg", 10**9).rgb

    memo = PassMemo()
    a = written(boxes[:-1], "a.jpg")
    recheck_faces(det, a, memo)
    # The same pixels again: every model input is answered from the memo.
    runs = memo.counts["runs"]
    recheck_faces(det, a.copy(), memo)
    assert memo.counts["runs"] == runs and memo.counts["hits"] > 0
    # One more mask: what the memo gives is exactly a fresh search's answer.
    b = written(boxes, "b.jpg")
    again = recheck_faces(det, b, memo)
    fresh = recheck_faces(det, b)
    assert [(r.box, r.score) for r in again] == [(r.box, r.score) for r in fresh]
