"""`sanitize doctor`: is this machine ready?  Every model file (name, sha256, where,
OK / MISSING / BAD HASH), the video codecs PyAV brings, the command-line tools the
tests use, and the versions of Python and the key packages.  Read-only, offline.

Required: every model and codec `run` needs with its default settings.  Not
required: ffmpeg, ffprobe and exiftool (sanitize does its video I/O in-process
through PyAV; the tests' independent leak checker calls those tools)."""

from __future__ import annotations

import platform
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from importlib import metadata
from pathlib import Path

from sanitize import __version__
from sanitize.errors import ModelMissing
from sanitize.hashing import sha256_file
from sanitize.model_store import INSTALL_HINT, PACKAGED_MODELS, candidates, model_dir

OK, MISSING, BAD_HASH, ABSENT = "OK", "MISSING", "BAD HASH", "absent"
PACKAGES = ("av", "onnxruntime", "openvino", "opencv-python", "numpy", "pillow", "pillow-heif",
            "yuface", "rapidocr-onnxruntime", "onnx", "click", "platformdirs", "dask")
TOOLS = ("ffmpeg", "ffprobe", "exiftool")


@dataclass(frozen=True)
class Check:
    status: str  # OK, MISSING, BAD HASH (required); OK or absent (optional)
    name: str
    detail: str  # sha256, version
    where: str  # path, or what to do
    required: bool = True

    @property
    def failed(self) -> bool:
        return self.required and self.status != OK

    def line(self) -> str:
        return f"{self.status:<9} {self.name:<40} {self.detail:<64}  {self.where}".rstrip()


def _pinned(name: str, sha256: str, places: list[Path], hint: str) -> Check:
    """A pinned file: the first copy with the right sha256 (the run-time rule)."""
    present = [p for p in places if p.is_file()]
    for p in present:
        if sha256_file(p) == sha256:
            return Check(OK, name, sha256, _where(p))
    if not present:
        return Check(MISSING, name, sha256, f"{places[0]}: {hint}")
    return Check(BAD_HASH, name, sha256_file(present[0]),
                 f"{present[0]} (expected {sha256}): {hint}")


def _unpinned(name: str, locate: Callable[[], Path]) -> Check:
    try:
        path = locate()
    except ModelMissing as e:
        return Check(MISSING, name, "", str(e))
    return Check(OK, name, sha256_file(path), _where(path))


def _where(p: Path) -> str:
    if p.parent == PACKAGED_MODELS:
        return f"{p} (shipped in the package)"
    return str(p)


def model_checks() -> list[Check]:
    from sanitize.detect import faces, plates, text, weapons
    from sanitize.install_models import (
        CENTERFACE_FILE,
        CENTERFACE_INT8_FILE,
        CENTERFACE_INT8_SHA256,
        CENTERFACE_SHA256,
        CENTERFACE_VIDEO_INT8_FILE,
        CENTERFACE_VIDEO_INT8_SHA256,
    )

    checks = [
        _pinned(CENTERFACE_FILE, CENTERFACE_SHA256, candidates(CENTERFACE_FILE), INSTALL_HINT),
        _pinned(weapons.WEAPON_ONNX, weapons.WEAPON_SHA256, candidates(weapons.WEAPON_ONNX),
                "reinstall sanitize (the file ships in the package)"),
        _unpinned(weapons.WEAPON_CLASSES, weapons.weapon_classes_path),
    ]
    ocr = Path()
    try:
        import rapidocr_onnxruntime

        ocr = Path(rapidocr_onnxruntime.__file__).resolve().parent / "models"
    except ImportError:
        pass
    for file, sha in (text._DET_FILE, text._REC_FILE):
        checks.append(_pinned(file, sha, [ocr / file],
                              f"install rapidocr-onnxruntime=={text.RAPIDOCR_VERSION}"))
    checks.append(_unpinned(faces.YUFACE_LIB, _yuface_lib))
    checks.append(_unpinned(plates._CASCADE, plates._cascade_path))
    # Optional: pictures run the int8 CenterFace through OpenVINO when both are
    # there, else the fp32 file (slower, same recall).
    int8 = _pinned(CENTERFACE_INT8_FILE, CENTERFACE_INT8_SHA256,
                   candidates(CENTERFACE_INT8_FILE), INSTALL_HINT + " (optional: speed)")
    checks.append(replace(int8, required=False))
    video = _pinned(CENTERFACE_VIDEO_INT8_FILE, CENTERFACE_VIDEO_INT8_SHA256,
                    candidates(CENTERFACE_VIDEO_INT8_FILE), INSTALL_HINT + " (optional: speed)")
    checks.append(replace(video, required=False))
    return checks


def _yuface_lib() -> Path:
    from sanitize.detect.faces import YUFACE_LIB, YUFACE_VERSION

    try:
        dist = metadata.distribution("yuface")
    except metadata.PackageNotFoundError:
        raise ModelMissing(f"yuface is not installed; install yuface=={YUFACE_VERSION}") from None
    lib = Path(str(dist.locate_file(f"yuface/{YUFACE_LIB}")))
    if not lib.is_file():
        raise ModelMissing(f"{lib} is missing; reinstall yuface=={YUFACE_VERSION}")
    return lib


def codec_checks() -> list[Check]:
    """The encoders `run` writes videos with, from PyAV's own FFmpeg build."""
    import av

    from sanitize.media.video import encoder_params

    out = []
    for name, note in (("libx264", "H.264 video"), ("aac", "AAC audio")):
        try:
            av.codec.Codec(name, "w")
            out.append(Check(OK, f"encoder {name}", note, f"PyAV {av.__version__}"))
        except av.error.FFmpegError:
            out.append(Check(MISSING, f"encoder {name}", note, "install PyAV wheels from PyPI"))
    params = encoder_params()["x264-params"]
    out.append(Check(OK, "x264 settings", params,
                     "subme 1, repeatable code paths (media/video.py)"))
    return out


def tool_checks() -> list[Check]:
    out = []
    for tool in TOOLS:
        path = shutil.which(tool)
        if path is None:
            out.append(Check(ABSENT, tool, "", "needed by the tests only", required=False))
            continue
        out.append(Check(OK, tool, _tool_version(tool, path), f"{path} (tests only)",
                         required=False))
    return out


def _tool_version(tool: str, path: str) -> str:
    flag = "-ver" if tool == "exiftool" else "-version"
    try:
        res = subprocess.run([path, flag], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "?"
    first = (res.stdout or res.stderr).strip().splitlines()
    # "ffmpeg version 5.1.9-0+deb12u1 Copyright ..." -> up to the version; exiftool: "12.57"
    return " ".join(first[0].split()[:3]) if first else "?"


def package_lines() -> list[str]:
    out = [f"python {platform.python_version()} ({sys.executable})",
           f"sanitize {__version__} ({Path(__file__).resolve().parent})"]
    versions = []
    for name in PACKAGES:
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{name} (not installed)")
    out.append(", ".join(versions))
    return out


def face_path_lines() -> list[str]:
    """Which CenterFace pictures and video frames will run: a run's speed depends on it."""
    from sanitize.detect import sessions

    cache = sessions.openvino_cache_dir()
    kept = (f"compiled once, kept in {cache}" if cache is not None
            else "compiled in every process: no cache folder (SANITIZE_CACHE_DIR)")
    return [
        _face_path("pictures' faces", "int8", f"int8 CenterFace through OpenVINO (the fast "
                   f"path; {kept})",
                   "about 3x slower; the fast path needs the openvino package, not switched "
                   "off by SANITIZE_NO_OPENVINO, and the int8 file from "
                   "`python -m sanitize.install_models`"),
        _face_path("video faces", "int8_video", "int8 CenterFace (first 8 convolutions fp32) "
                   "through OpenVINO (the fast path)",
                   "analysis about 1.2x slower; the fast path needs openvino and the video "
                   "int8 file"),
    ]


def _face_path(who: str, variant: str, fast: str, fallback: str) -> str:
    from sanitize.detect import faces, sessions
    from sanitize.install_models import CENTERFACE_SHA256

    if sessions.uses_cuda():
        return f"{who}: CenterFace fp32 on CUDA (onnxruntime-gpu)"
    if faces.centerface_sha256(variant) != CENTERFACE_SHA256:
        return f"{who}: {fast}"
    return f"{who}: fp32 CenterFace through onnxruntime ({fallback})"


def report() -> tuple[list[str], bool]:
    """The lines to print, and whether everything required is present."""
    models, codecs, tools = model_checks(), codec_checks(), tool_checks()
    lines = [f"model folder: {model_dir()} (set SANITIZE_MODEL_DIR to move it)", "", "models"]
    lines += ["  " + c.line() for c in models]
    lines += ["", "video codecs"] + ["  " + c.line() for c in codecs]
    lines += ["", "tools"] + ["  " + c.line() for c in tools]
    lines += ["", *package_lines(), "", *face_path_lines(), ""]
    failed = [c for c in models + codecs if c.failed]
    if failed:
        names = ", ".join(c.name for c in failed)
        lines.append(f"NOT READY: {names}. To fix: {_fix(failed)}")
    else:
        lines.append("ready: every required model and codec is present")
    return lines, not failed


def _fix(failed: list[Check]) -> str:
    hints = []
    for c in failed:
        hint = c.where.rsplit(": ", 1)[-1] if ": " in c.where else c.where
        if hint not in hints:
            hints.append(hint)
    return "; ".join(hints)
