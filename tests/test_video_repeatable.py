"""Two clean runs of the same video with the same settings write the same bytes,
so the ledger's sha256 proves what was posted and a resumed run equals a clean one.

Two fresh `sanitize run` processes on a phone's MP4 (what a user does twice); the
video stages three times in one process on a crowd clip with sound (tracked
masks); and the encoder alone, repeated in one process over high-detail frames,
where the difference (x264's AVX-512 code, see media/video.py) showed most often."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np

from sanitize.config import Settings
from sanitize.detect.faces import FaceDetector
from sanitize.media.video import Writer, probe_video
from sanitize.video_stages import analyse_video, redact_video

sys.path.insert(0, str(Path(__file__).parent))
import shared_paths
from videoclips import make_clip

ROOT = Path(__file__).resolve().parents[1]
# A phone's MP4: 31 frames at 960x540 from the corpus, else the committed 3-frame
# 1080p clip with GPS (too short to have shown the difference, but the same path).
PHONE = next(p for p in (shared_paths.METADATA / "mex__uuid540.mp4",
                         shared_paths.DATA / "metadata" / "mex__with-gps.mp4") if p.is_file())


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _clean_run(src: Path, out: Path) -> Path:
    res = subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), "run", str(src), "-o", str(out),
         "--no-progress", "-j", "1"],
        capture_output=True, text=True, env={**os.environ}, timeout=300,
    )
    assert res.returncode in (0, 1), res.stdout + res.stderr
    written = sorted(out.glob("*/*.mp4"))
    assert len(written) == 1, res.stdout
    return written[0]


def test_two_clean_runs_write_identical_bytes(tmp_path: Path) -> None:
    first = _clean_run(PHONE, tmp_path / "out1")
    second = _clean_run(PHONE, tmp_path / "out2")
    assert first.relative_to(tmp_path / "out1") == second.relative_to(tmp_path / "out2")
    assert _sha(first) == _sha(second)


def test_tracked_masks_and_bytes_repeat(tmp_path: Path) -> None:
    """A crowd clip (tracks, skipped frames, sound): the same masks on every
    frame and the same bytes, run after run."""
    clip = make_clip(tmp_path / "crowd.mp4", seconds=1.0)
    settings = Settings()
    detector = FaceDetector(fast=True, int8=True)
    info = probe_video(clip.path, settings)
    plans, digests = [], set()
    for k in range(3):
        analysis = analyse_video(clip.path, info, detector, settings)
        plans.append([[b.as_list() for b in analysis.boxes_for_frame(i)]
                      for i in range(analysis.frames)])
        out = tmp_path / f"out{k}.mp4"
        redact_video(clip.path, out, analysis, settings)
        digests.add(_sha(out))
    assert any(plans[0]), "the clip should have faces to mask"
    assert plans[0] == plans[1] == plans[2]
    assert len(digests) == 1


def test_encoder_output_does_not_depend_on_memory_state(tmp_path: Path) -> None:
    """The same frames encoded six times in one process, with the heap stirred
    between times, give one sha256."""
    rng = np.random.default_rng(1)
    w, h = 960, 540
    frames = [rng.integers(0, 256, (h * 3 // 2, w), dtype=np.uint8) for _ in range(12)]
    for f in frames:
        f[:400] = 128  # a flat band next to noise: where the difference showed
    digests = set()
    for k in range(6):
        stir = [rng.bytes(1 << 20) for _ in range(20)]
        del stir
        dst = tmp_path / f"enc{k}.mp4"
        writer = Writer(dst, w, h, Fraction(1, 30), Fraction(30), (1, 1, 1), None)
        for i, f in enumerate(frames):
            writer.write_video(f, i, i)
        writer.close()
        digests.add(_sha(dst))
    assert len(digests) == 1
