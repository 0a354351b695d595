"""The three video stages the pipeline runs in order: analyse, redact, verify.

Two passes over the file instead of holding frames: pass 1 decodes every frame
at detection size, finds faces on every DETECT_EVERY-th frame (and wherever
the picture jumps) and links them into tracks that cover the frames between
(only boxes are kept); pass 2 re-decodes at full size and writes the masked
output.  Memory therefore stays flat however long the video is.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import av
import numpy as np

from sanitize.config import Settings
from sanitize.detect.tracking import FaceTracker, MaskPlan
from sanitize.errors import VerifyError
from sanitize.media.metadata import residual
from sanitize.media.video import DecodedFrame, Progress, decode_frames, prefetched, transcode
from sanitize.plan import MaskSource, Problem
from sanitize.redact import frame_masker
from sanitize.types import Box, MediaInfo, Region

# Detection size (longest side), with FaceDetector(fast=True, fast_side=the same).
# Measured per-frame raw recall on pan/zoom clips of crowd photos (720p/1080p):
# 640 → 0.953-0.998 at ~100-140 ms/frame; 960 → 0.976-1.0 at ~200-250 ms;
# 1280 → 0.960-1.0 at ~260-310 ms.  960 is where recall stops improving.
# (yuface itself then runs on the frame shrunk to 640: FaceDetector.fast_yu_side.)
DETECT_SIDE = 960
# Face detection on every k-th frame; the tracker interpolates (or holds) boxes
# over the frames between, grown for motion, and holds a face's first and last
# box over the skipped frames next to them.  Frames are analysed regardless of
# k when the picture changes abruptly (a cut, a whip pan) and on the first and
# last frame; no two analysed frames are more than DETECT_MAX_GAP_S apart (at
# 25 fps that is every 3rd frame).  detect_every=1 analyses every frame.
# Measured (bench/bench_video_stride.py, 16 clips: the test clips, 1080p, fast
# and shaky pans over crowds, cuts; bench/results/video_issue11.txt):
#   k=3, gap 0.10 s: 99.95 % of (face, frame) pairs covered, 14 missed, 514 of
#     1431 frames analysed;
#   k=4, gap 0.13 s: 99.95 %, 14 missed (per clip -6 to +4: which frames the
#     detector happens to see), 390 analysed (-24 %), masks ~1 % of the frame
#     larger (more growth for motion); the whole 10 s 1080p run 6 % faster;
#   k=5, gap 0.17 s: 99.91 %, 27 missed: past the knee.
DETECT_EVERY = 4
DETECT_MAX_GAP_S = 0.1334 + 1e-3
# A cut: consecutive frames' 64x36 grey thumbnails differ by more than this
# (mean absolute difference, 0-1) at the best of small shifts (pans up to ~5 %
# of the width per frame).  Measured: pans and zooms over crowd photos reach
# 0.10 at most, a cut between two photos 0.30.
SCENE_CHANGE = 0.15
THUMB_SIZE = (64, 36)
THUMB_SHIFT = 3
# Not done: also analysing the frame after one where a new track started was
# measured no better (crowds start a track on most analysed frames, so it cost
# ~1.5x the detector time).
FLAG_EVERY_S = 1.0  # policy-flag detectors are slow and their objects do not flicker
VERIFY_SAMPLES = 10
VERIFY_FACE_SCORE = 0.85  # a face this sure on a written frame means a mask failed
DURATION_TOLERANCE_S = 0.1

# Policy flags on one analysis frame, given the faces the video detector found
# on it (Detectors.flags): the pictures' face detector is not run again for them.
FrameFlags = Callable[[np.ndarray, list[Region]], list[Region]]


@dataclass
class VideoAnalysis:
    """Pass 1's result: what to mask on each frame, and what was seen."""

    info: MediaInfo
    frames: int  # frames decoded: pass 2 and the output must have exactly this many
    duration_s: float  # first to last frame, plus one frame
    plan: MaskPlan
    flags: list[Region] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def faces(self) -> list[Region]:
        """One summary Region per face track (t_start/t_end, max score, track_id)."""
        return self.plan.tracks

    def boxes_for_frame(self, index: int) -> list[Box]:
        return self.plan.boxes_for_frame(index)


def analyse_video(path: Path | str, info: MediaInfo, face_detector: Any, settings: Settings,
                  progress: Progress | None = None, frame_flags: FrameFlags | None = None,
                  detect_side: int = DETECT_SIDE, detect_every: int = DETECT_EVERY
                  ) -> VideoAnalysis:
    """Pass 1: faces on every k-th frame and wherever unsure (tracked), policy
    flags on one frame per second (faces are found on those frames too).
    Decoding runs in a thread of its own."""
    start = time.monotonic()
    tracker = FaceTracker(info.width, info.height)
    flags: list[Region] = []
    next_flag_t = 0.0
    n, last_t, step = 0, 0.0, 0.0
    skipped, last_analysed_t, analysed_any = 0, 0.0, False  # the first frame is analysed
    # One frame of look-ahead: a frame is only skipped when the next one is known
    # to exist (the last frame is always analysed), to be near enough in time,
    # and not to differ from it abruptly (then both are analysed).
    prev: DecodedFrame | None = None
    prev_thumb: np.ndarray | None = None
    prev_cut = prev_flag = False
    want_flags = frame_flags is not None and settings.flags
    # The flag detectors run in a thread of their own on the sampled frames, beside
    # the face detector, whose two models leave part of a core idle (yuface is
    # the slower and CenterFace waits for it).  Results are kept in frame order.
    flagger = ThreadPoolExecutor(1, thread_name_prefix="sanitize-flags") if want_flags else None
    pending: list[Future[list[Region]]] = []

    def settle(fr: DecodedFrame, analyse: bool, flagged: bool) -> None:
        """A frame into the tracker (with its faces when analysed); its flags queued."""
        faces = _track(tracker, face_detector, fr, analyse)
        if flagged and flagger is not None and frame_flags is not None:
            pending.append(flagger.submit(_flags_at, frame_flags, fr, faces or []))

    try:
        for f in prefetched(decode_frames(path, detect_side), depth=4):
            thumb = f.thumbnail(THUMB_SIZE) if detect_every > 1 else None
            cut = prev_thumb is not None and _difference(prev_thumb, thumb) > SCENE_CHANGE
            if prev is not None:
                skip = (analysed_any and not prev_cut and not cut and not prev_flag
                        and skipped + 1 < detect_every
                        and f.t - last_analysed_t <= DETECT_MAX_GAP_S)
                settle(prev, not skip, prev_flag)
                analysed_any = True
                skipped = skipped + 1 if skip else 0
                last_analysed_t = last_analysed_t if skip else prev.t
            flag = want_flags and f.t >= next_flag_t
            if flag:
                next_flag_t = f.t + FLAG_EVERY_S
            prev, prev_thumb, prev_cut, prev_flag = f, thumb, cut, flag
            step = f.t - last_t if n else 0.0
            n, last_t = n + 1, f.t
            if progress is not None:
                progress(1)
        if prev is not None:
            settle(prev, True, prev_flag)
        flags = [r for job in pending for r in job.result()]
    finally:
        if flagger is not None:
            flagger.shutdown(wait=True, cancel_futures=True)
    plan = tracker.finish()
    duration = last_t + (step or 1 / 30)
    return VideoAnalysis(info, n, duration, plan, flags, time.monotonic() - start)


def _track(tracker: FaceTracker, face_detector: Any, f: DecodedFrame,
           analyse: bool) -> list[Region] | None:
    """Feed one frame to the tracker, with the faces found on it if `analyse`;
    returns those faces (in the frame's own pixels), None when not analysed."""
    if not analyse:
        tracker.update(f.index, f.t, None)
        return None
    faces: list[Region] = face_detector.detect(f.rgb)
    tracker.update(f.index, f.t, [_scaled(r, 1.0 / f.scale) for r in faces])
    return faces


def _difference(a: np.ndarray | None, b: np.ndarray | None, r: int = THUMB_SHIFT) -> float:
    """Mean absolute difference of two thumbnails at the best shift of up to r px."""
    if a is None or b is None or a.shape != b.shape:
        return 1.0
    h, w = a.shape
    best = 1.0
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            pa = a[max(0, dy):h + min(0, dy), max(0, dx):w + min(0, dx)]
            pb = b[max(0, -dy):h + min(0, -dy), max(0, -dx):w + min(0, -dx)]
            best = min(best, float(np.abs(pa - pb).mean()))
    return best


def _scaled(r: Region, s: float) -> Region:
    return replace(r, box=r.box.scaled(s))


def _flags_at(frame_flags: FrameFlags, f: DecodedFrame, faces: list[Region]) -> list[Region]:
    # A flag seen on a sampled frame stands for the interval until the next sample.
    inv = 1.0 / f.scale
    return [
        replace(r, box=r.box.scaled(inv), frame=f.index, t_start=round(f.t, 3),
                t_end=round(f.t + FLAG_EVERY_S, 3))
        for r in frame_flags(f.rgb, faces)
    ]


def redact_video(src: Path | str, dst: Path | str, masks: MaskSource, settings: Settings,
                 progress: Progress | None = None,
                 mutes: list[tuple[float, float]] | None = None) -> None:
    """Pass 2: write `dst` with every frame's boxes masked and the audio silent
    within `mutes` (seconds); dst is removed on failure."""
    stats = transcode(src, dst, frame_masker(masks.boxes_for_frame, settings.mask), settings,
                      progress, mutes=mutes or [])
    if stats.frames != masks.frames:
        Path(dst).unlink(missing_ok=True)
        # The masks are indexed by frame: a different count means they could be
        # on the wrong frames, so nothing is written.
        raise VerifyError(
            f"video decoded to {stats.frames} frames in pass 2 but {masks.frames} in pass 1"
        )


# ------------------------------------------------------------------ verify


def verify_video(src_info: MediaInfo, dst: Path | str, face_detector: Any,
                 analysis: MaskSource | None = None,
                 settings: Settings | None = None) -> list[Problem]:
    """Problems with the written file; an empty list means it may be published."""
    settings = settings or Settings()
    dst = Path(dst)
    problems = _metadata_problems(dst)
    try:
        with av.open(str(dst)) as c:
            problems += _stream_problems(c, src_info, settings)
            if not c.streams.video:
                return problems
            problems += _count_problems(c, src_info, analysis, settings)
            problems += _orientation_problems(c, src_info)
        expected = analysis.frames if analysis is not None else src_info.frames
        problems += _face_problems(dst, face_detector, expected or 0)
    except av.error.FFmpegError as e:
        problems.append(Problem("decode", f"output does not decode: {e}"))
    return problems


def _metadata_problems(dst: Path) -> list[Problem]:
    return [Problem("metadata", f"metadata left: {m.cls} in {m.where} {m.name}".rstrip())
            for m in residual(dst)]


def _stream_problems(c: Any, src_info: MediaInfo, settings: Settings) -> list[Problem]:
    want_audio = int(src_info.has_audio and not settings.mute)
    problems = []
    if len(c.streams.video) != 1:
        problems.append(Problem("streams", f"{len(c.streams.video)} video streams instead of 1"))
    if len(c.streams.audio) != want_audio:
        problems.append(Problem(
            "streams", f"{len(c.streams.audio)} audio streams instead of {want_audio}"))
    others = len(c.streams) - len(c.streams.video) - len(c.streams.audio)
    if others:
        problems.append(Problem("streams", f"{others} extra (data/subtitle/attachment) streams"))
    return problems


def _count_problems(c: Any, src_info: MediaInfo, analysis: MaskSource | None,
                    settings: Settings) -> list[Problem]:
    vs = c.streams.video[0]
    # Packets, not decoded frames: H.264 has one packet per frame, and demuxing
    # without decoding is I/O only.
    n = sum(1 for p in c.demux(vs) if p.size)
    problems = []
    expected = analysis.frames if analysis is not None else src_info.frames
    if expected is not None and n != expected:
        problems.append(Problem("frames", f"output has {n} frames, source {expected}"))
    out_s = c.duration / av.time_base if c.duration else 0.0
    keep_audio = src_info.has_audio and not settings.mute
    want_s = src_info.duration_s if keep_audio or analysis is None else analysis.duration_s
    if want_s is not None and abs(out_s - want_s) > DURATION_TOLERANCE_S:
        problems.append(Problem("duration", f"output lasts {out_s:.2f} s, source {want_s:.2f} s"))
    return problems


def _orientation_problems(c: Any, src_info: MediaInfo) -> list[Problem]:
    c.seek(0)
    frame = next(c.decode(video=0), None)
    if frame is None:
        return [Problem("decode", "output has no decodable frame")]
    problems = []
    if any(sd.type.name == "DISPLAYMATRIX" for sd in frame.side_data) or frame.rotation:
        problems.append(Problem("orientation", "output carries a rotation flag"))
    want = (src_info.width - src_info.width % 2, src_info.height - src_info.height % 2)
    if (frame.width, frame.height) != want:
        problems.append(Problem(
            "orientation",
            f"output is {frame.width}x{frame.height}, upright source {want[0]}x{want[1]}"))
    return problems


def _face_problems(dst: Path, face_detector: Any, frames: int) -> list[Problem]:
    """Re-detect on frames spread over the output: a sure face means a missed mask.

    The output is decoded once, in order, and only the samples are converted to
    RGB at the analysis size: seeking to each sample decoded up to a keyframe
    interval per sample at full size, several times the cost of one decode
    (docs/measurements.md)."""
    problems = []
    picks = _sample_indices(frames, VERIFY_SAMPLES)
    with closing(prefetched(decode_frames(dst, DETECT_SIDE, only=picks), depth=4)) as frames_in:
        for f in frames_in:
            for r in face_detector.detect(f.rgb):
                if r.score >= VERIFY_FACE_SCORE:
                    box = r.box.scaled(1.0 / f.scale)
                    problems.append(Problem(
                        "face", f"face visible in output at {f.t:.2f} s "
                        f"(score {r.score:.2f}, box {box.as_list()})",
                        t=f.t, box=box, score=float(r.score)))
    return problems


def _sample_indices(frames: int, n: int) -> set[int]:
    """n frame indices spread evenly over `frames` (the middle of n equal parts)."""
    return {min(frames - 1, int(frames * (k + 0.5) / n)) for k in range(n)} if frames > 0 else {0}
