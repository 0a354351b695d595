"""Video stages on real media: synthetic clips built from real face photos (known
face boxes on every frame) and the corpus's device videos with GPS telemetry."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from sanitize.config import Settings
from sanitize.detect.faces import FaceDetector
from sanitize.detect.tracking import FaceTracker
from sanitize.errors import DecodeError, TooLarge, UnsupportedFile
from sanitize.media.video import decode_frames, prefetched, probe_video, transcode
from sanitize.plan import Problem
from sanitize.types import Box, Region
from sanitize.video_stages import (
    DETECT_EVERY,
    VideoAnalysis,
    analyse_video,
    redact_video,
    verify_video,
)

sys.path.insert(0, str(Path(__file__).parent))
import shared_paths
from videoclips import Clip, corrupt, detail_kept, inside_fraction, make_clip, truncate

CORPUS = shared_paths.METADATA
DATA_VIDEOS = shared_paths.data_files("metadata", {".mp4", ".mov"})
LEAKCHECK = shared_paths.LEAKCHECK
MIN_FACE_PX = 16
REQUIRED_COVERAGE = 0.995
DETAIL_KEPT_MAX = 0.5  # unmasked faces re-encoded measure >= 0.89; masked <= 0.45

VARIANTS = {
    "landscape": {},
    "portrait_rotated": {"rotation": -90, "size": (360, 640)},
    "vfr": {"vfr": True},
}


@dataclass
class Processed:
    clip: Clip
    out: Path
    analysis: VideoAnalysis
    problems: list[Problem]
    progress: list[int]  # frames reported by analyse + redact


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    return FaceDetector(fast=True, int8=True)


@pytest.fixture(scope="module", params=list(VARIANTS))
def processed(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
              detector: FaceDetector) -> Processed:
    d = tmp_path_factory.mktemp(request.param)
    clip = make_clip(d / "in.mp4", **VARIANTS[request.param])
    settings = Settings()
    info = probe_video(clip.path, settings)
    ticks = [0, 0]

    def tick(k: int) -> Callable[[int], None]:
        return lambda n: ticks.__setitem__(k, ticks[k] + n)

    analysis = analyse_video(clip.path, info, detector, settings, progress=tick(0))
    out = d / "out.mp4"
    redact_video(clip.path, out, analysis, settings, progress=tick(1))
    problems = verify_video(info, out, detector, analysis, settings)
    return Processed(clip, out, analysis, problems, ticks)


def _ffprobe(path: Path) -> dict:
    res = subprocess.run(
        ["ffprobe", "-v", "error", "-count_packets", "-show_streams", "-show_format",
         "-show_chapters", "-of", "json", str(path)],
        capture_output=True, text=True, check=True,
    )
    return json.loads(res.stdout)


def _frame_times(path: Path) -> list[float]:
    with av.open(str(path)) as c:
        return [float(f.time) for f in c.decode(video=0)]


# ------------------------------------------------------------------ synthetic clips


def test_frame_count_and_timestamps_kept(processed: Processed) -> None:
    times = _frame_times(processed.out)
    assert processed.analysis.frames == len(processed.clip.times)
    assert processed.progress == [len(times), len(times)]
    assert len(times) == len(processed.clip.times)
    assert np.max(np.abs(np.array(times) - np.array(processed.clip.times))) < 0.002


def test_audio_kept_and_in_time(processed: Processed) -> None:
    probe = _ffprobe(processed.out)
    audio = [s for s in probe["streams"] if s["codec_type"] == "audio"]
    assert len(audio) == 1 and audio[0]["codec_name"] == "aac"
    assert abs(float(audio[0]["duration"]) - processed.clip.audio_seconds) <= 0.1
    assert abs(float(probe["format"]["duration"]) - processed.clip.audio_seconds) <= 0.1


def test_upright_without_rotation_flag(processed: Processed) -> None:
    video = [s for s in _ffprobe(processed.out)["streams"] if s["codec_type"] == "video"]
    assert len(video) == 1
    assert (video[0]["width"], video[0]["height"]) == (processed.clip.width, processed.clip.height)
    assert not video[0].get("side_data_list")
    # The picture itself is the upright one: compare with the source as displayed,
    # outside the masks (a pixelated crowd differs from the source by design).
    src = next(decode_frames(processed.clip.path)).rgb
    with av.open(str(processed.out)) as c:
        out = next(c.decode(video=0)).to_ndarray(format="rgb24")
    keep = np.ones(src.shape[:2], bool)
    for m in processed.analysis.boxes_for_frame(0):
        keep[int(m.y1):int(np.ceil(m.y2)), int(m.x1):int(np.ceil(m.x2))] = False
    assert keep.mean() > 0.2
    assert np.abs(src.astype(int) - out.astype(int))[keep].mean() < 15


def test_every_face_masked_on_every_frame(processed: Processed) -> None:
    clip, pairs, by_pixels, by_boxes = processed.clip, 0, 0, 0
    with av.open(str(processed.out)) as c:
        for src, out_frame in zip(decode_frames(clip.path), c.decode(video=0), strict=True):
            out = out_frame.to_ndarray(format="rgb24")
            masks = processed.analysis.boxes_for_frame(src.index)
            for box in clip.faces[src.index]:
                if box[3] - box[1] < MIN_FACE_PX:
                    continue
                pairs += 1
                by_pixels += detail_kept(src.rgb, out, box) < DETAIL_KEPT_MAX
                by_boxes += inside_fraction(box, masks, clip.width, clip.height) >= 0.9
    assert pairs > 1000
    assert by_pixels / pairs >= REQUIRED_COVERAGE, f"pixels: {by_pixels}/{pairs}"
    assert by_boxes / pairs >= REQUIRED_COVERAGE, f"mask boxes: {by_boxes}/{pairs}"


def test_verify_passes_on_good_output(processed: Processed) -> None:
    assert processed.problems == []


def test_tracks_summarised(processed: Processed) -> None:
    faces = processed.analysis.faces
    assert faces and all(r.kind == "face" and r.track_id is not None for r in faces)
    for r in faces:
        assert r.t_start is not None and r.t_end is not None and r.t_start <= r.t_end


# ------------------------------------------------------------------ detection stride


def _concat(parts: list[Clip], path: Path) -> Clip:
    """Clips joined end to end: a hard cut between them."""
    listing = path.with_suffix(".txt")
    listing.write_text("".join(f"file '{c.path}'\n" for c in parts))
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "concat", "-safe", "0", "-i",
                    str(listing), "-c", "copy", str(path)], check=True)
    return Clip(path, parts[0].width, parts[0].height, [t for c in parts for t in c.times],
                [b for c in parts for b in c.faces])


def _box_coverage(clip: Clip, analysis: VideoAnalysis) -> tuple[int, int]:
    pairs = covered = 0
    for i, truth in enumerate(clip.faces):
        masks = analysis.boxes_for_frame(i)
        for box in truth:
            if box[3] - box[1] >= MIN_FACE_PX:
                pairs += 1
                covered += inside_fraction(box, masks, clip.width, clip.height) >= 0.9
    return pairs, covered


FAST_CLIPS = {
    # A fast pan and zoom over large faces (whole picture in 1.5 s), and over a
    # crowd with a hard cut to another photo.
    "fast_pan": lambda d: make_clip(d / "fast.mp4", image="kids_group.jpg", size=(1280, 720),
                                    seconds=1.5, zoom=(0.9, 0.35), audio=False),
    "crowd_cut": lambda d: _concat([
        make_clip(d / "a.mp4", seconds=1.5, audio=False, zoom=(0.6, 0.35)),
        make_clip(d / "b.mp4", image="friends_table.jpg", seconds=1.0, audio=False),
    ], d / "cut.mp4"),
}


@pytest.mark.parametrize("name", list(FAST_CLIPS))
def test_fast_motion_covered_with_detection_stride(name: str, tmp_path: Path,
                                                   detector: FaceDetector) -> None:
    clip = FAST_CLIPS[name](tmp_path)
    analysis = analyse_video(clip.path, probe_video(clip.path), detector, Settings())
    assert DETECT_EVERY > 1 and analysis.plan.analysed is not None
    analysed = list(analysis.plan.analysed)
    n = len(clip.times)
    assert analysis.frames == n and len(analysed) < 0.6 * n
    assert analysed[0] == 0 and analysed[-1] == n - 1
    if name == "crowd_cut":
        cut = len(clip.times) - 30  # the second clip is 1 s at 30 fps
        assert {cut - 1, cut} <= set(analysed)
    pairs, covered = _box_coverage(clip, analysis)
    assert pairs > 100
    assert covered / pairs >= REQUIRED_COVERAGE, f"{covered}/{pairs}"


class _Counting:
    def __init__(self) -> None:
        self.calls = 0

    def detect(self, rgb: np.ndarray) -> list[Region]:
        self.calls += 1
        return []


def test_detect_every_1_analyses_every_frame(short_clip: Clip) -> None:
    info = probe_video(short_clip.path)
    every, stride = _Counting(), _Counting()
    a = analyse_video(short_clip.path, info, every, Settings(), detect_every=1)
    b = analyse_video(short_clip.path, info, stride, Settings(), detect_every=3)
    n = len(short_clip.times)
    assert a.frames == b.frames == n
    assert every.calls == n and a.plan.analysed is None
    assert stride.calls == len(b.plan.analysed) <= n // 3 + 2


def test_analysis_decode_errors_raise(short_clip: Clip, tmp_path: Path) -> None:
    info = probe_video(short_clip.path)
    bad = truncate(short_clip.path, tmp_path / "bad.mp4")
    with pytest.raises(DecodeError):
        analyse_video(bad, info, _Counting(), Settings())


def test_prefetch_thread_stops_when_abandoned() -> None:
    import threading

    def frames() -> Iterator[int]:
        yield from range(1000)

    before = threading.active_count()
    it = prefetched(frames(), depth=2)
    assert [next(it), next(it)] == [0, 1]
    it.close()
    assert threading.active_count() == before


def test_decoding_only_some_frames_gives_those_frames(short_clip: Clip) -> None:
    """verify_video converts only its samples: they must be the very frames (pixels,
    index and time) a full decode yields."""
    clip = short_clip.path
    full = {f.index: f for f in decode_frames(clip, 320)}
    picks = {0, 7, len(full) - 1}
    some = list(decode_frames(clip, 320, only=picks))
    assert [f.index for f in some] == sorted(picks)
    for f in some:
        assert f.t == full[f.index].t and np.array_equal(f.rgb, full[f.index].rgb)


def test_video_detector_finds_the_same_faces_with_yuface_in_parallel(short_clip: Clip) -> None:
    """With two or more session threads the video detector runs yuface next to
    CenterFace: the faces must be exactly those of the one-thread, one-after-the-
    other path (the masks, and so the output bytes, follow from them)."""
    from sanitize.detect import sessions

    frames = [f.rgb for f in decode_frames(short_clip.path, 960) if f.index % 10 == 0]
    before = sessions.threads()
    try:
        sessions.set_threads(1)
        one = [FaceDetector(fast=True, int8=True).detect(rgb) for rgb in frames]
        sessions.set_threads(2)
        both = [FaceDetector(fast=True, int8=True).detect(rgb) for rgb in frames]
    finally:
        sessions.set_threads(before)
    assert sum(map(len, one)) > 0
    assert both == one


# ------------------------------------------------------------------ verify fails closed


def test_verify_reports_unmasked_faces(tmp_path: Path, detector: FaceDetector) -> None:
    clip = make_clip(tmp_path / "in.mp4", image="friends_table.jpg", seconds=1.0)
    info = probe_video(clip.path)
    out = tmp_path / "out.mp4"
    transcode(clip.path, out, lambda i, planes: None)
    problems = verify_video(info, out, detector)
    assert any(p.kind == "face" for p in problems), problems


def test_mute_drops_audio(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "in.mp4", seconds=1.0)
    out = tmp_path / "out.mp4"
    transcode(clip.path, out, lambda i, planes: None, Settings(mute=True))
    kinds = [s["codec_type"] for s in _ffprobe(out)["streams"]]
    assert kinds == ["video"]


# ------------------------------------------------------------------ containers and metadata


@pytest.mark.parametrize("path", [
    *DATA_VIDEOS,
    *(pytest.param(p, marks=pytest.mark.needs_corpus) for p in shared_paths.corpus_files(
        CORPUS, {".mp4", ".mov"}, exclude={p.name for p in DATA_VIDEOS})),
], ids=lambda p: p.name)
def test_device_video_leaves_no_metadata(path: Path, tmp_path: Path) -> None:
    info = probe_video(path)
    out = tmp_path / (path.stem + ".mp4")
    stats = transcode(path, out, lambda i, planes: None)
    assert stats.frames == info.frames
    res = subprocess.run([sys.executable, str(LEAKCHECK), "--pair", str(path), str(out)],
                         capture_output=True, text=True)
    assert res.returncode == 0 and "CLEAN" in res.stdout, res.stdout
    probe = _ffprobe(out)
    assert [s["codec_type"] for s in probe["streams"]] == ["video"] + ["audio"] * info.has_audio
    assert not probe.get("chapters") and not probe["format"].get("tags", {}).get("encoder")


@pytest.fixture(scope="module")
def short_clip(tmp_path_factory: pytest.TempPathFactory) -> Clip:
    return make_clip(tmp_path_factory.mktemp("short") / "in.mp4", seconds=1.0)


@pytest.mark.parametrize("ext,args", [
    ("mkv", ["-c", "copy"]),
    ("avi", ["-c:v", "mpeg4", "-c:a", "mp3"]),
    ("webm", ["-c:v", "libvpx", "-deadline", "realtime", "-c:a", "libopus"]),
    ("3gp", ["-c", "copy"]),
    ("mts", ["-c", "copy", "-f", "mpegts"]),
    ("mov", ["-c", "copy"]),
])
def test_input_containers(ext: str, args: list[str], short_clip: Clip, tmp_path: Path) -> None:
    src = tmp_path / f"in.{ext}"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(short_clip.path), *args, str(src)],
                   check=True)
    info = probe_video(src)
    out = tmp_path / "out.mp4"
    stats = transcode(src, out, lambda i, planes: None)
    assert stats.frames == len(short_clip.times)
    assert (info.width, info.height) == (short_clip.width, short_clip.height)
    kinds = [s["codec_type"] for s in _ffprobe(out)["streams"]]
    assert kinds == ["video", "audio"]


# ------------------------------------------------------------------ refusals


@pytest.mark.parametrize("damage", [truncate, corrupt])
def test_damaged_video_raises_and_writes_nothing(damage: object, short_clip: Clip,
                                                 tmp_path: Path) -> None:
    # Both layouts: index at the end (camera-like) and at the front (faststart).
    faststart = tmp_path / "fast.mp4"
    transcode(short_clip.path, faststart, lambda i, planes: None)
    for src in (short_clip.path, faststart):
        bad = damage(src, tmp_path / "bad.mp4")  # type: ignore[operator]
        out = tmp_path / "out.mp4"
        with pytest.raises(DecodeError):
            probe_video(bad)
            transcode(bad, out, lambda i, planes: None)
        assert not out.exists()


def test_not_a_video_is_refused(tmp_path: Path) -> None:
    text = tmp_path / "notes.mp4"
    text.write_text("not a video at all\n" * 50)
    with pytest.raises(UnsupportedFile):
        probe_video(text)
    with pytest.raises(UnsupportedFile):
        probe_video(shared_paths.DATA / "faces" / "images" / "grace_hopper.jpg")


def test_too_long_is_refused(short_clip: Clip) -> None:
    with pytest.raises(TooLarge):
        probe_video(short_clip.path, Settings(max_video_seconds=0.5))
    with pytest.raises(TooLarge):
        probe_video(short_clip.path, Settings(max_pixels=1000))


# ------------------------------------------------------------------ tracker


def _face(x: float, y: float, size: float = 30.0, score: float = 0.9) -> Region:
    return Region("face", Box(x, y, x + size, y + size), score, "test")


def _run_tracker(dets: dict[int, list[Region]], n: int, fps: float = 30.0) -> FaceTracker:
    tr = FaceTracker(640, 360)
    for i in range(n):
        tr.update(i, i / fps, dets.get(i, []))
    return tr


def test_tracker_bridges_gap_with_interpolated_box() -> None:
    # Seen on frames 0-9 moving right, missed on 10-19 (1/3 s), seen again from 20.
    dets = {i: [_face(100 + 5 * i, 100)] for i in [*range(10), *range(20, 30)]}
    plan = _run_tracker(dets, 30).finish()
    assert len(plan.tracks) == 1
    for i in range(10, 20):
        (box,) = plan.boxes_for_frame(i)
        true = _face(100 + 5 * i, 100).box
        assert box.x1 <= true.x1 and box.x2 >= true.x2 and box.y1 <= true.y1 and box.y2 >= true.y2


def test_tracker_does_not_bridge_long_gaps() -> None:
    # A moving face gone for 1.2 s, and a still one gone for 3.3 s: two tracks each.
    dets = {i: [_face(100 + 12 * i, 100)] for i in [*range(5), *range(40, 45)]}
    plan = _run_tracker(dets, 45).finish()
    assert len(plan.tracks) == 2
    assert plan.boxes_for_frame(22) == []
    dets = {i: [_face(100, 100)] for i in [*range(5), *range(105, 110)]}
    plan = _run_tracker(dets, 110).finish()
    assert len(plan.tracks) == 2
    assert plan.boxes_for_frame(55) == []


def test_a_still_region_found_now_and_then_is_masked_steadily() -> None:
    """Bushes in a GoPro clip: the detector fires on the same spot every second or
    so; the mask must stay on between, not flash (issue 12)."""
    dets = {i: [_face(300, 200, score=0.3)] for i in (3, 40, 70, 115, 150)}
    plan = _run_tracker(dets, 180).finish()
    assert len(plan.tracks) == 1
    covered = [i for i in range(180) if plan.boxes_for_frame(i)]
    assert covered == list(range(covered[0], covered[-1] + 1))  # no hole between
    assert covered[0] == 0 and covered[-1] >= 150


def test_a_lone_detection_is_masked_for_a_second_not_a_flash() -> None:
    plan = _run_tracker({60: [_face(300, 200, score=0.25)]}, 120).finish()
    covered = [i for i in range(120) if plan.boxes_for_frame(i)]
    assert len(covered) >= 30 - 1 and covered[0] <= 45 and covered[-1] >= 75


def test_tracker_extends_tracks_and_masks_single_weak_detection() -> None:
    plan = _run_tracker({10: [_face(300, 200, score=0.21)]}, 30).finish()
    assert len(plan.tracks) == 1 and plan.tracks[0].score == pytest.approx(0.21)
    covered = [i for i in range(30) if plan.boxes_for_frame(i)]
    assert covered[0] <= 7 and covered[-1] >= 13


def test_tracker_grows_boxes_with_motion() -> None:
    # A fast face (600 px/s) missed for 4 frames: interpolated boxes are grown.
    dets = {i: [_face(20 * i, 100)] for i in [0, 1, 2, 7, 8]}
    plan = _run_tracker(dets, 9).finish()
    still = plan.boxes_for_frame(1)[0]
    moving = plan.boxes_for_frame(4)[0]
    assert moving.w > still.w


def test_tracker_covers_skipped_frames_next_to_sightings() -> None:
    # Detector run on frames 0, 3, 6, 9 only; the face is seen on 3 and 6.  It may
    # have been there on 1-2 and 7-8 (not looked at), not on 0 and 9 (looked).
    tr = FaceTracker(640, 360, extend_s=0.0, min_span_s=0.0)
    for i in range(10):
        tr.update(i, i / 30, [_face(100 + 10 * i, 100)] if i in (3, 6) else
                  ([] if i % 3 == 0 else None))
    plan = tr.finish()
    assert list(plan.analysed) == [0, 3, 6, 9]
    covered = [i for i in range(10) if plan.boxes_for_frame(i)]
    assert covered == list(range(1, 9))
    for i in (1, 2, 4, 5, 7, 8):  # held or interpolated, grown for the motion
        (box,) = plan.boxes_for_frame(i)
        true = _face(100 + 10 * i, 100).box
        assert box.x1 <= true.x1 and box.x2 >= true.x2


def test_tracker_plan_same_in_any_order() -> None:
    dets = {i: [_face(10 * i, 50), _face(400, 10 * i, size=40)] for i in range(0, 30, 3)}
    plan = _run_tracker(dets, 30).finish()
    forward = [plan.boxes_for_frame(i) for i in range(30)]
    backward = [plan.boxes_for_frame(i) for i in reversed(range(30))][::-1]
    assert forward == backward and all(forward)
    assert len(plan.tracks) == 2  # a face moving one width per sighting stays one track


# ------------------------------------------------------------------ orientation


def _ffmpeg_first_frame(path: Path, tmp_path: Path) -> np.ndarray:
    """The first frame as ffmpeg displays it (its auto-rotation applies the matrix)."""
    png = tmp_path / "ref.png"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(path), "-frames:v", "1", str(png)],
                   check=True)
    return cv2.cvtColor(cv2.imread(str(png)), cv2.COLOR_BGR2RGB)


@pytest.mark.parametrize("degrees", [0, 90, 180, -90])
@pytest.mark.parametrize("mirror", [False, True])
def test_all_eight_orientations(degrees: int, mirror: bool, tmp_path: Path) -> None:
    photo = cv2.imread(str(shared_paths.DATA / "faces" / "images" / "kids_group.jpg"))
    rgb = np.ascontiguousarray(cv2.cvtColor(cv2.resize(photo, (192, 128)), cv2.COLOR_BGR2RGB))
    src = tmp_path / "in.mp4"
    with av.open(str(src), "w") as out:
        vs = out.add_stream("libx264", rate=10, options={"preset": "ultrafast", "crf": "12"})
        vs.width, vs.height, vs.pix_fmt = 192, 128, "yuv420p"
        vs.set_display_rotation(degrees, hflip=mirror)
        for i in range(3):
            f = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            f.pts = i
            out.mux(vs.encode(f))
        out.mux(vs.encode(None))
    ref = _ffmpeg_first_frame(src, tmp_path)
    info = probe_video(src)
    assert (info.height, info.width) == ref.shape[:2] and info.mirrored == mirror
    dst = tmp_path / "out.mp4"
    transcode(src, dst, lambda i, planes: None)
    with av.open(str(dst)) as c:
        frame = next(c.decode(video=0))
        assert not frame.side_data or all(sd.type.name != "DISPLAYMATRIX" for sd in frame.side_data)
        got = frame.to_ndarray(format="rgb24")
    assert got.shape == ref.shape
    assert np.abs(got.astype(int) - ref.astype(int)).mean() < 8
    assert np.abs(next(decode_frames(src)).rgb.astype(int) - ref.astype(int)).mean() < 8
