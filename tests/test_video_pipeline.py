"""`process_file` on videos: the whole path a user's clip takes (probe, face
tracks, plates on sampled frames, redaction, re-check, routing), checked on the
written file.  The stage-level tests are in test_video.py."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
import shared_paths
from videoclips import StreetClip, detail_kept, make_street_clip

from sanitize.config import Settings
from sanitize.pipeline import process_file
from sanitize.types import FileResult, Status

DETAIL_KEPT_MAX = 0.5  # as test_video.py: re-encoded faces measure >= 0.89, masked <= 0.45
MIN_FACE_PX = 16


def _frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _leakcheck(src: Path, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(shared_paths.LEAKCHECK), "--pair", str(src),
                           str(out)], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def street(tmp_path_factory: pytest.TempPathFactory) -> tuple[StreetClip, FileResult, Path, str]:
    d = tmp_path_factory.mktemp("street")
    clip = make_street_clip(d / "patrol.mp4")
    before = _sha(clip.path)
    out = d / "out"
    return clip, process_file(clip.path, Path("patrol.mp4"), out, Settings()), out, before


def test_video_with_a_plate_goes_to_review(street) -> None:
    """A plate in a video is found on sampled frames only, so a person must look."""
    _, res, out, _ = street
    assert res.status is Status.REVIEW, res.error
    assert res.output == "review/patrol.mp4" and (out / res.output).is_file()
    plates = [f for f in res.findings if f.kind == "plate"]
    assert plates, [(f.kind, f.confidence) for f in res.findings]
    assert all(f.blocking and f.action == "blurred" and "30" in f.clauses for f in plates)
    assert all("sampled" in f.detail and f.t_start is not None for f in plates)


def test_faces_and_plate_masked_on_every_frame(street) -> None:
    clip, res, out, _ = street
    src, written = _frames(clip.path), _frames(out / res.output)
    assert len(written) == len(src) == len(clip.times)
    faces = plates = 0
    for k, (a, b) in enumerate(zip(src, written, strict=True)):
        for box in clip.faces[k]:
            if box[3] - box[1] >= MIN_FACE_PX:
                faces += 1
                assert detail_kept(a, b, box) < DETAIL_KEPT_MAX, (k, box)
        for box in clip.plates[k]:
            plates += 1
            assert detail_kept(a, b, box) < DETAIL_KEPT_MAX, ("plate", k, box)
    assert faces >= 8 * len(clip.times) and plates == len(clip.times)
    face_findings = [f for f in res.findings if f.kind == "face"]
    assert face_findings and all(f.action == "blurred" for f in face_findings)


def test_video_location_removed_and_leakcheck_clean(street) -> None:
    clip, res, out, before = street
    assert "gps" in {m.cls for m in res.metadata_removed}
    lc = _leakcheck(clip.path, out / res.output)
    assert lc.returncode == 0, lc.stdout + lc.stderr
    assert _sha(clip.path) == before, "original modified"
    assert not any((out / ".tmp").iterdir()), "temp file left behind"


def test_phone_video_with_gps_is_safe_and_clean(tmp_path: Path) -> None:
    """A real device video (GPS in the container, no faces, no plates)."""
    src = shared_paths.DATA / "metadata" / "mex__with-gps.mp4"
    res = process_file(src, Path(src.name), tmp_path, Settings())
    assert res.status is Status.SAFE, (res.error, [(f.kind, f.blocking) for f in res.findings])
    assert "gps" in {m.cls for m in res.metadata_removed}
    assert res.media is not None and res.media.frames and res.media.frames > 0
    lc = _leakcheck(src, tmp_path / res.output)
    assert lc.returncode == 0, lc.stdout + lc.stderr
