"""Video in and out, in-process with PyAV (never a shelled-out ffmpeg).

Why this shape (measured, see docs/measurements.md):
- Frames stay in yuv420p planes end to end: masking Y at full size and U/V at half
  size avoids two colour conversions per frame and keeps colours exact.
- Decode runs in its own thread and x264 uses frame threads, so decode, masking
  and encode overlap; that reaches the speed of a bare ffmpeg transcode.
- Each frame keeps its own pts, so variable-frame-rate clips keep their timing
  and audio stays in sync; the frame count never changes.
- Rotation is applied to the pixels and the output carries no display matrix,
  because players and upload sites disagree on honouring it.
- Nothing is copied from the source container: a new MP4 gets one H.264 stream
  and (unless muted) one freshly encoded AAC stream, bitexact muxer flags (no
  encoder/creation tags) and the x264 settings SEI removed from the bitstream.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import glob
import os
import queue
import struct
import threading
from collections.abc import Callable, Collection, Generator, Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, TypeVar

import av
import av.bitstream
import cv2
import numpy as np

from sanitize.config import Settings
from sanitize.errors import DecodeError, TooLarge, UnsupportedFile
from sanitize.media.probe import sniff
from sanitize.types import MediaInfo, MediaKind

VIDEO_FORMATS = ("mp4", "mov", "3gp", "mkv", "webm", "avi", "mts")

# x264 settings: the speed baseline's preset/CRF (bare ffmpeg veryfast CRF 23)
# with superfast's sub-pixel refinement (subme 1 instead of 2).  Measured
# (bench/results/video_issue11.txt): the masked 10 s 1080p bench clip encodes with
# 26 % less CPU (redact pass 15.1 -> 11.2 s CPU), 44.85 -> 44.77 dB PSNR against
# its lossless masked frames, file +2 %; a GoPro clip -0.35 dB, +8 %.  Posting
# platforms re-encode far below either.  `x264_params()` adds the CPU code paths.
X264_OPTIONS = {"preset": "veryfast", "crf": "23"}
X264_TUNING = "subme=1"
# x264.h: X264_CPU_AVX512 (AVX-512 F/CD/BW/DQ/VL), the bit since x264 build 152.
_X264_CPU_AVX512 = 1 << 16
AUDIO_BITRATE = 160_000

# Colour tag numbers (ISO/IEC 23091-4): 1 = BT.709, 2 = unspecified.
_BT709 = 1
_UNSPECIFIED = 2

Progress = Callable[[int], None]
# Called with each frame's index and its upright I420 picture (one array: Y, then
# U, then V; see i420_planes), to mask it in place (redact.frame_masker).
MaskFrame = Callable[[int, np.ndarray], None]


# 8-bit formats whose first plane is the picture's luma, one byte a pixel.
_LUMA_FIRST = frozenset({"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p",
                         "nv12", "nv21", "gray"})
_FULL_RANGE = 2  # AVCOL_RANGE_JPEG


class DecodedFrame:
    """One upright frame for analysis.

    `rgb` is scaled so that its longer side is at most the requested size;
    `scale` maps its pixels back to the full upright frame (full = small / scale).
    It is converted on first use: the analysis skips three frames in four, a check
    samples one a second, and converting every frame cost about as much CPU as
    decoding them."""

    def __init__(self, index: int, pts: int | None, time_base: Fraction | None, t: float,
                 frame: av.VideoFrame, size: tuple[int, int], turn: tuple[int, bool],
                 scale: float) -> None:
        self.index, self.pts, self.time_base, self.t = index, pts, time_base, t
        self.scale = scale
        self._frame = frame
        self._size, self._turn = size, turn
        self._rgb: np.ndarray | None = None
        self._lock = threading.Lock()

    @property
    def rgb(self) -> np.ndarray:
        with self._lock:
            if self._rgb is None:
                w, h = self._size
                rgb = self._frame.reformat(width=w, height=h, format="rgb24").to_ndarray()
                k, mirror = self._turn
                if k or mirror:
                    rgb = np.ascontiguousarray(_upright(rgb, k, mirror))
                self._rgb = rgb
            return self._rgb

    def thumbnail(self, size: tuple[int, int]) -> np.ndarray:
        """The frame as a tiny grey picture (0-1), for telling cuts from motion:
        straight from the decoded luma plane, without making `rgb` (as stored, not
        turned upright: only frames of one video are compared).  swscale's area
        shrink took 1-4 ms a frame on the analysis thread; OpenCV's on the plane
        a fraction of that."""
        f = self._frame
        if f.format.name in _LUMA_FIRST:
            plane = f.planes[0]
            luma = np.frombuffer(memoryview(plane), np.uint8).reshape(plane.height, plane.line_size)
            small = cv2.resize(luma[:, :plane.width], size,
                               interpolation=cv2.INTER_AREA).astype(np.float32)
            if not f.format.name.startswith("yuvj") and f.color_range != _FULL_RANGE:
                small = (small - 16.0) * (255.0 / 219.0)  # video range to full, as "gray" has
            return np.clip(small, 0.0, 255.0) / 255.0
        grey = f.reformat(width=size[0], height=size[1], format="gray",
                          interpolation="AREA").to_ndarray()
        return grey.astype(np.float32) / 255.0


# ------------------------------------------------------------------ opening / probing


def _open_input(path: Path) -> Any:
    """Open a container for reading; map PyAV failures to one-line reasons."""
    try:
        return av.open(str(path), "r", metadata_errors="ignore")
    except av.error.FileNotFoundError as e:
        raise UnsupportedFile("file not found") from e
    except (av.error.InvalidDataError, av.error.EOFError) as e:
        raise DecodeError(f"cannot open video container: {_reason(e)}") from e
    except av.error.FFmpegError as e:
        raise DecodeError(f"cannot open video: {_reason(e)}") from e


def _reason(e: BaseException) -> str:
    msg = getattr(e, "strerror", None) or str(e)
    return str(msg).splitlines()[0][:160]


def _video_stream(container: Any) -> Any:
    if not container.streams.video:
        raise UnsupportedFile("no video stream in the file")
    return container.streams.video[0]


# Display matrix 2x2 part (a, b, c, d), rounded → (quarter turns CCW, then mirror
# left-right).  Checked against ffmpeg's own auto-rotation for all eight cases
# (tests/test_video.py::test_all_eight_orientations).  A mirrored matrix cannot
# be read from `frame.rotation` alone: it reports a plain mirror as -180.
_ORIENTATIONS: dict[tuple[int, int, int, int], tuple[int, bool]] = {
    (1, 0, 0, 1): (0, False), (-1, 0, 0, 1): (0, True),
    (0, -1, 1, 0): (1, False), (0, -1, -1, 0): (1, True),
    (-1, 0, 0, -1): (2, False), (1, 0, 0, -1): (2, True),
    (0, 1, -1, 0): (3, False), (0, 1, 1, 0): (3, True),
}


def _orientation(frame: av.VideoFrame) -> tuple[int, bool]:
    """(quarter turns counter-clockwise, then mirror) that make the frame upright.

    Read once per stream (the matrix is the stream's, repeated on every frame):
    touching `frame.side_data` ties the frame into a reference cycle, and frames
    of megabytes then wait for the cycle collector — measured +500 MiB at 1080p."""
    side_data: Any = frame.side_data  # typed as str in PyAV's stubs; SideData objects
    for sd in side_data:
        if sd.type.name == "DISPLAYMATRIX":
            m = struct.unpack("<9i", bytes(sd)[:36])
            key = tuple(round(v / 65536) for v in (m[0], m[1], m[3], m[4]))
            if key in _ORIENTATIONS:
                return _ORIENTATIONS[key]
    # No matrix, or an odd angle: the nearest quarter turn.
    return round(frame.rotation / 90.0) % 4, False


def _upright(a: np.ndarray, k: int, mirror: bool) -> np.ndarray:
    a = np.rot90(a, k) if k else a
    return a[:, ::-1] if mirror else a


def _upright_size(w: int, h: int, k: int) -> tuple[int, int]:
    return (h, w) if k % 2 else (w, h)


def probe_video(path: Path | str, settings: Settings | None = None) -> MediaInfo:
    """What the video is (upright size, rotation, duration, frames, audio).

    Decodes the first frame, so an unreadable stream fails here, before any work."""
    settings = settings or Settings()
    path = Path(path)
    kind, fmt = sniff(path)
    if kind is not MediaKind.VIDEO or fmt not in VIDEO_FORMATS:
        raise UnsupportedFile(f"not a supported video ({fmt})")
    with _open_input(path) as c:
        vs = _video_stream(c)
        first = _first_frame(c, vs)
        k, mirror = _orientation(first)
        w, h = _upright_size(first.width, first.height, k)
        duration = _container_duration(c, vs)
        info = MediaInfo(
            kind=MediaKind.VIDEO, format=fmt, width=w, height=h,
            rotation=(360 - 90 * k) % 360, mirrored=mirror, duration_s=duration,
            frames=_frame_estimate(vs, duration), has_audio=bool(c.streams.audio),
        )
    if w * h > settings.max_pixels:
        raise TooLarge(f"frame of {w}x{h} pixels exceeds the limit of {settings.max_pixels}")
    if duration is not None and duration > settings.max_video_seconds:
        raise TooLarge(
            f"video of {duration:.0f} s exceeds the limit of {settings.max_video_seconds:.0f} s"
        )
    return info


def _first_frame(c: Any, vs: Any) -> av.VideoFrame:
    try:
        for frame in c.decode(vs):
            first: av.VideoFrame = frame
            return first
    except av.error.FFmpegError as e:
        raise DecodeError(f"video stream does not decode: {_reason(e)}") from e
    raise DecodeError("video stream has no decodable frame")


def _container_duration(c: Any, vs: Any) -> float | None:
    if c.duration is not None and c.duration > 0:
        return float(c.duration / av.time_base)
    if vs.duration is not None and vs.time_base is not None:
        return float(vs.duration * vs.time_base)
    return None


def _frame_estimate(vs: Any, duration: float | None) -> int | None:
    """Declared frame count, else duration x rate (MKV/WebM/TS declare none)."""
    if vs.frames:
        return int(vs.frames)
    rate = vs.average_rate or vs.guessed_rate
    if duration and rate:
        return round(duration * float(rate))
    return None


# ------------------------------------------------------------------ decoding


def _demux_frames(path: Path, audio: bool) -> Iterator[av.VideoFrame | av.AudioFrame]:
    """Decoded video (and optionally audio) frames in file order.

    Fails closed: any decode error, or a stream that ends before its declared
    length (a truncated file), raises DecodeError rather than writing a video
    that silently lacks frames."""
    with _open_input(path) as c:
        vs = _video_stream(c)
        vs.codec_context.thread_type = "AUTO"  # default SLICE leaves H.264 single-threaded
        streams = [vs] + ([c.streams.audio[0]] if audio and c.streams.audio else [])
        n = 0
        try:
            for packet in c.demux(streams):
                for frame in packet.decode():
                    n += isinstance(frame, av.VideoFrame)
                    yield frame
        except av.error.FFmpegError as e:
            raise DecodeError(f"video does not decode at frame {n}: {_reason(e)}") from e
        if n == 0:
            raise DecodeError("video stream has no decodable frame")
        if vs.frames and n < vs.frames - 1 and _declared_frames_trusted(c):
            raise DecodeError(f"video is truncated: {n} of {vs.frames} frames decode")


def _declared_frames_trusted(c: Any) -> bool:
    # MP4/MOV sample tables list every frame; other containers' counts are estimates.
    return "mp4" in c.format.name or "mov" in c.format.name


def decode_frames(path: Path | str, long_side: int | None = None,
                  only: Collection[int] | None = None) -> Iterator[DecodedFrame]:
    """Every video frame, upright RGB, longer side at most `long_side` (streaming).

    `only`: just the frames with these indices (the others are decoded, as
    inter frames need, but not converted), ending after the last of them."""
    t0: float | None = None
    turn: tuple[int, bool] | None = None
    last = max(only, default=-1) if only is not None else None
    for index, frame in enumerate(_demux_frames(Path(path), audio=False)):
        assert isinstance(frame, av.VideoFrame)
        if last is not None and index > last:
            return
        turn = turn or _orientation(frame)
        if t0 is None:
            t0 = _frame_time(frame, index)
        if only is not None and index not in only:
            continue
        w, h = frame.width, frame.height
        scale = 1.0 if not long_side else min(1.0, long_side / max(w, h))
        size = (max(2, round(w * scale)), max(2, round(h * scale)))
        yield DecodedFrame(index, frame.pts, frame.time_base, _frame_time(frame, index) - t0,
                           frame, size, turn, scale)


def _frame_time(frame: av.VideoFrame, index: int) -> float:
    if frame.pts is not None and frame.time_base is not None:
        return float(frame.pts * frame.time_base)
    return index / 30.0


# ------------------------------------------------------------------ yuv420p planes


def _to_planes(frame: av.VideoFrame, turn: tuple[int, bool]) -> np.ndarray:
    """Upright I420 image as one (H*3/2, W) array, W and H even.

    x264 needs even sizes for 4:2:0; an odd last row/column is dropped (one pixel)."""
    k, mirror = turn
    if frame.format.name != "yuv420p" or frame.width % 2 or frame.height % 2:
        frame = frame.reformat(
            width=frame.width - frame.width % 2, height=frame.height - frame.height % 2,
            format="yuv420p",
        )
    i420 = frame.to_ndarray()
    if not (k or mirror):
        return i420
    y, u, v = i420_planes(i420, frame.width, frame.height)
    return _join(_upright(y, k, mirror), _upright(u, k, mirror), _upright(v, k, mirror))


def i420_planes(i420: np.ndarray, w: int, h: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Views of the Y, U, V planes inside an I420 array (writes go through)."""
    flat = i420.reshape(-1)
    ys, cs = w * h, (w // 2) * (h // 2)
    return (
        flat[:ys].reshape(h, w),
        flat[ys:ys + cs].reshape(h // 2, w // 2),
        flat[ys + cs:ys + 2 * cs].reshape(h // 2, w // 2),
    )


def _join(y: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    h, w = y.shape
    out = np.empty((h * 3 // 2, w), dtype=np.uint8)
    oy, ou, ov = i420_planes(out, w, h)
    oy[:] = y
    ou[:] = u
    ov[:] = v
    return out


# ------------------------------------------------------------------ writing


@dataclass
class TranscodeStats:
    frames: int
    audio_frames: int
    width: int
    height: int


_END = object()
T = TypeVar("T")


def prefetched(items: Iterable[T], depth: int) -> Generator[T, None, None]:
    """`items`, produced ahead in a thread of their own into a bounded queue, so
    memory stays flat however long the video is, and decoding (and masking)
    overlap the consumer: the codecs and ONNX Runtime release the GIL.  The
    producer's errors re-raise here; closing the iterator stops the thread."""
    q: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def run() -> None:
        it = iter(items)
        try:
            for item in it:
                if not put(item):
                    return
            put(_END)
        except BaseException as e:  # noqa: BLE001 -- handed to the consumer, raised there
            put(_Failed(e))
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                close()

    worker = threading.Thread(target=run, name="sanitize-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item = q.get()
            if item is _END:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item
    finally:
        stop.set()
        worker.join(timeout=5)


@dataclass(frozen=True)
class _Failed:
    error: BaseException


def _upright_masked(src: Path, audio: bool,
                    mask_frame: MaskFrame) -> Iterator[tuple[Any, np.ndarray | None]]:
    """(frame, masked upright I420 planes) for video, (frame, None) for audio.

    Masking runs in the prefetch thread, not next to the encoder: with dozens of
    faces per frame it costs about as much CPU as decoding, and that thread has
    the slack (measured: 1080p, 53 boxes/frame, 30 ms of masking per frame)."""
    n = 0
    turn: tuple[int, bool] | None = None
    for frame in _demux_frames(src, audio):
        if isinstance(frame, av.VideoFrame):
            turn = turn or _orientation(frame)
            i420 = _to_planes(frame, turn)
            mask_frame(n, i420)
            n += 1
            yield frame, i420
        else:
            yield frame, None


class Writer:
    """A new MP4 (H.264 yuv420p + optional AAC) with nothing but the pictures and sound."""

    def __init__(self, dst: Path, width: int, height: int, time_base: Fraction,
                 rate: Fraction | None, colours: tuple[int, int, int],
                 audio: av.AudioStream | None) -> None:
        self.out = av.open(
            str(dst), "w", format="mp4",
            options={"fflags": "+bitexact", "movflags": "+faststart"},
        )
        self.video = self._add_video(width, height, time_base, rate, colours)
        self.audio = self._add_audio(audio) if audio is not None else None
        # The SEI filter copies the stream parameters (size, extradata), which are
        # only final once the encoders are open and the header is written.
        self.out.start_encoding()
        self.sei_filter = av.bitstream.BitStreamFilterContext(
            "filter_units=remove_types=6", self.video, self.video,
        )
        self.time_base = time_base  # the muxer may change the stream's own time base
        self.last_pts: int | None = None
        self.first_pts: int | None = None
        self.audio_origin: float = 0.0
        self.next_audio_pts = 0
        # Time ranges (s, output time) whose audio is written silent (a reviewer's mutes).
        self.mutes: list[tuple[float, float]] = []

    def _add_video(self, width: int, height: int, time_base: Fraction,
                   rate: Fraction | None, colours: tuple[int, int, int]) -> Any:
        vs = self.out.add_stream("libx264", rate=rate or Fraction(30),
                                 options={**X264_OPTIONS, **encoder_params()})
        vs.width, vs.height, vs.pix_fmt = width, height, "yuv420p"
        vs.time_base = time_base
        vs.codec_context.time_base = time_base
        cc = vs.codec_context
        cc.color_primaries, cc.color_trc, cc.colorspace = colours
        cc.color_range = 1  # limited (TV) range, what yuv420p means to every player
        cc.thread_type = "FRAME"
        cc.flags |= av.codec.context.Flags.bitexact  # no libavcodec version string in the stream
        return vs

    def _add_audio(self, src: Any) -> Any:
        cc = src.codec_context
        rate = cc.sample_rate or 48000
        layout = cc.layout.name if cc.layout and cc.layout.nb_channels <= 2 else "stereo"
        a = self.out.add_stream("aac", rate=rate, layout=layout)
        a.bit_rate = AUDIO_BITRATE
        a.time_base = Fraction(1, rate)
        a.codec_context.flags |= av.codec.context.Flags.bitexact
        return a

    def write_video(self, i420: np.ndarray, pts: int | None, index: int) -> None:
        # Timestamps start at zero and must strictly increase (the muxer refuses
        # repeats); a missing pts (some AVI/TS) falls back to the frame index.
        pts = index if pts is None else pts
        if self.first_pts is None:
            self.first_pts = pts
        pts -= self.first_pts
        if self.last_pts is not None and pts <= self.last_pts:
            pts = self.last_pts + 1
        self.last_pts = pts
        frame = av.VideoFrame.from_ndarray(i420, format="yuv420p")
        frame.pts, frame.time_base = pts, self.time_base
        self._mux_video(self.video.encode(frame))

    def _mux_video(self, packets: list[av.Packet[Any]]) -> None:
        for p in packets:
            for q in self.sei_filter.filter(p):
                q.stream = self.video
                self.out.mux(q)

    def write_audio(self, frame: av.AudioFrame) -> None:
        """Re-encode one source audio frame, re-timed to the video's zero."""
        if self.audio is None:
            return
        rate = self.audio.codec_context.sample_rate
        if frame.pts is not None and frame.time_base is not None:
            start = float(frame.pts * frame.time_base) - self.audio_origin
            if start + frame.samples / frame.sample_rate <= 0:
                return  # entirely before the first video frame
            frame = _trim_front(frame, start) if start < 0 else frame
            if self.mutes:
                frame = _silence(frame, max(0.0, start), self.mutes)
            pts = round(max(0.0, start) * rate)
            # Timestamp jitter of a few ms (common in camera files) would make
            # the encoder see overlaps; snap to the running sample count unless
            # there is a real gap.
            if abs(pts - self.next_audio_pts) < rate // 50:
                pts = self.next_audio_pts
            frame.pts = max(pts, self.next_audio_pts)
            frame.time_base = Fraction(1, rate)
            self.next_audio_pts = frame.pts + frame.samples
        for p in self.audio.encode(frame):
            self.out.mux(p)

    def close(self) -> None:
        self._mux_video(self.video.encode(None))
        for q in self.sei_filter.filter(None):
            q.stream = self.video
            self.out.mux(q)
        if self.audio is not None:
            for p in self.audio.encode(None):
                self.out.mux(p)
        self.out.close()

    def abort(self) -> None:
        # Closing a half-written file may fail; it is deleted right after anyway.
        with contextlib.suppress(av.error.FFmpegError, OSError, ValueError):
            self.out.close()


@functools.cache
def encoder_params() -> dict[str, str]:
    """x264-params for the writer: the tuning and the repeatable code paths."""
    extra = x264_params().get("x264-params")
    return {"x264-params": ":".join(p for p in (X264_TUNING, extra) if p)}


def x264_params() -> dict[str, str]:
    """Extra x264 options that make the output depend on the pictures alone.

    Why: the same frames encoded twice gave different bytes (issue 9: three runs of
    a phone video, three sha256s, decoded frames different too), one thread or
    many.  Measured on the x264 inside PyAV 18's wheel on an AVX-512 CPU: the
    difference follows the process's heap contents (stirring memory between two
    encodes changes the output), and goes away with AVX-512 disabled or with
    macroblock-tree rate control off (tests/test_video_repeatable.py).  So x264
    gets exactly the CPU features it detects itself, minus AVX-512 (asm=<mask>;
    AVX2 code stays, so the speed is about the same).  Where x264's own detection
    cannot be called, mbtree is turned off instead: also repeatable, at the cost
    of larger files (+35 % on a 1 s phone clip at the same CRF)."""
    lib = _x264_library()
    if lib is None:
        return {"x264-params": "mbtree=0"}
    detect = lib.x264_cpu_detect
    detect.restype = ctypes.c_uint32
    cpu = int(detect())
    if not cpu & _X264_CPU_AVX512:
        return {}
    return {"x264-params": f"asm={cpu & ~_X264_CPU_AVX512}"}


def _x264_library() -> Any:
    """The libx264 that PyAV's libavcodec loaded (Linux: the mapped file), else the
    one shipped next to PyAV in its wheel; None when neither can be opened."""
    candidates = []
    with contextlib.suppress(OSError), open("/proc/self/maps", errors="replace") as maps:
        candidates += sorted({line.split()[-1] for line in maps if "libx264" in line})
    here = os.path.dirname(os.path.dirname(av.__file__))
    for pattern in ("av.libs/libx264*", "av/.dylibs/libx264*", "av.libs/*x264*.dll"):
        candidates += sorted(glob.glob(os.path.join(here, pattern)))
    for path in candidates:
        try:
            lib = ctypes.CDLL(path)
            lib.x264_cpu_detect  # noqa: B018 -- raises AttributeError when not exported
            return lib
        except (OSError, AttributeError):
            continue
    return None


def _trim_front(frame: av.AudioFrame, start: float) -> av.AudioFrame:
    """Drop the samples that come before the video's first frame."""
    cut = min(frame.samples, round(-start * frame.sample_rate))
    data: Any = frame.to_ndarray()
    planar = frame.format.is_planar
    kept = data[:, cut:] if planar else data[:, cut * len(frame.layout.channels):]
    out = av.AudioFrame.from_ndarray(np.ascontiguousarray(kept), format=frame.format.name,
                                     layout=frame.layout.name)
    out.sample_rate = frame.sample_rate
    return out


def _silence(frame: av.AudioFrame, start: float,
             mutes: list[tuple[float, float]]) -> av.AudioFrame:
    """Zero the samples of `frame` (starting at `start` s) that fall in a muted range."""
    rate, n = frame.sample_rate, frame.samples
    spans = [(max(0, round((a - start) * rate)), min(n, round((b - start) * rate)))
             for a, b in mutes]
    spans = [(i, j) for i, j in spans if j > i]
    if not spans:
        return frame
    data = frame.to_ndarray().copy()
    ch = 1 if frame.format.is_planar else len(frame.layout.channels)
    zero = 128 if frame.format.name.startswith("u8") else 0
    for i, j in spans:
        data[:, i * ch:j * ch] = zero
    out = av.AudioFrame.from_ndarray(data, format=frame.format.name, layout=frame.layout.name)
    out.sample_rate, out.pts, out.time_base = rate, frame.pts, frame.time_base
    return out


def _colours(vs: Any) -> tuple[int, int, int]:
    """Keep the source's colour meaning when it states one, else say BT.709.

    The planes are passed through untouched, so re-labelling an SD (BT.601) clip as
    709 would shift its colours; an unlabelled source gets explicit 709 tags."""
    cc = vs.codec_context
    tags = (cc.color_primaries, cc.color_trc, cc.colorspace)
    if all(t not in (None, 0, _UNSPECIFIED) for t in tags):
        return tags
    return (_BT709, _BT709, _BT709)


@dataclass
class _Geometry:
    width: int
    height: int
    time_base: Fraction
    rate: Fraction | None
    colours: tuple[int, int, int]
    has_audio: bool
    origin_s: float  # time of the first video frame: becomes zero in the output


def _output_geometry(src: Path) -> _Geometry:
    with _open_input(src) as c:
        vs = _video_stream(c)
        first = _first_frame(c, vs)
        k, _ = _orientation(first)
        w, h = _upright_size(first.width - first.width % 2, first.height - first.height % 2, k)
        return _Geometry(
            w, h, vs.time_base or Fraction(1, 90000), vs.average_rate or vs.guessed_rate,
            _colours(vs), bool(c.streams.audio), _frame_time(first, 0),
        )


def transcode(src: Path | str, dst: Path | str, mask_frame: MaskFrame,
              settings: Settings | None = None, progress: Progress | None = None,
              mutes: list[tuple[float, float]] | None = None) -> TranscodeStats:
    """Write `dst`: every frame of `src` upright, masked by `mask_frame(i, planes)`,
    and its audio silent within `mutes` (seconds from the first frame).

    On any failure `dst` is removed and the error re-raised (DecodeError for a
    source that stops decoding)."""
    settings = settings or Settings()
    src, dst = Path(src), Path(dst)
    g = _output_geometry(src)
    keep_audio = g.has_audio and not settings.mute
    with _open_input(src) as probe:
        audio_template = probe.streams.audio[0] if keep_audio else None
        writer = Writer(dst, g.width, g.height, g.time_base, g.rate, g.colours, audio_template)
    writer.audio_origin = g.origin_s
    writer.mutes = sorted(mutes or [])
    items = prefetched(_upright_masked(src, keep_audio, mask_frame), depth=8)
    try:
        stats = _pump(items, writer, progress)
        writer.close()
        return stats
    except BaseException:
        writer.abort()
        _remove(dst)
        raise
    finally:
        items.close()


def _pump(items: Iterator[tuple[Any, np.ndarray | None]], writer: Writer,
          progress: Progress | None) -> TranscodeStats:
    """Main thread: encode and mux what the prefetch thread hands over."""
    n_video = n_audio = 0
    for frame, i420 in items:
        if i420 is not None:
            writer.write_video(i420, frame.pts, n_video)
            n_video += 1
            if progress is not None:
                progress(1)
        else:
            writer.write_audio(frame)
            n_audio += 1
    return TranscodeStats(n_video, n_audio, writer.video.width, writer.video.height)


def _remove(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
