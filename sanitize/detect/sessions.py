"""One place that opens neural-network sessions: threads, providers, optimisation.

Every detector gets its sessions here, so the thread budget and the choice of
execution provider are decided once:

- threads: the cores a run has per worker process (one worker on two cores: 2;
  two workers: 1 each).  The pipeline sets it from `Settings.threads` before it
  builds detectors (`set_threads`); oversubscription was measured to cost far
  more than it gains (docs/measurements.md), so the default outside a run is 1.
- providers: CUDA first when onnxruntime-gpu is installed and sees a GPU, else CPU.
- OpenVINO (the `openvino` wheel), when installed, for models that gain from it
  (CenterFace: int8 and bf16 kernels, docs/measurements.md); `openvino_model`
  returns None without it and the caller falls back to onnxruntime.
"""

from __future__ import annotations

import os
import sys
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

_lock = threading.Lock()
_threads = 1
_cache: dict[tuple[str, str, int, str], Any] = {}


def set_threads(n: int) -> None:
    """Intra-op threads for sessions opened from now on (existing ones keep theirs)."""
    global _threads
    _threads = max(1, int(n))


def threads() -> int:
    return _threads


@lru_cache(maxsize=1)
def ort_providers() -> tuple[str, ...]:
    """CUDA when onnxruntime-gpu is installed (and built with it), then CPU."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    return tuple(p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available)


def uses_cuda() -> bool:
    return "CUDAExecutionProvider" in ort_providers()


def ort_options(n_threads: int | None = None) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = n_threads or _threads
    opts.inter_op_num_threads = 1
    # ALL is onnxruntime's default and measured best (EXTENDED: 0.66x); said
    # explicitly so a change of default does not silently change speed.
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    # onnxruntime's pool threads spin on a core between operators by default.
    # Sessions here share the cores with other work (the flag detectors beside
    # the video face detector, yuface's threads beside CenterFace), so a spinning
    # thread takes CPU that thread needs: the video analysis of the 10 s bench
    # clip 12.6-13.2 -> 10.9 s CPU, 6.8-7.3 -> 6.1 s wall; pictures unchanged
    # (bench/results/speed_issue11.txt, fourth session).  Outputs are identical.
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return opts


def ort_session(path: str | Path, n_threads: int | None = None) -> Any:
    """An onnxruntime InferenceSession, cached per (file, threads, providers)."""
    import onnxruntime as ort

    n = n_threads or _threads
    key = ("ort", str(path), n, ",".join(ort_providers()))
    with _lock:
        if key not in _cache:
            _cache[key] = ort.InferenceSession(
                str(path), ort_options(n), providers=list(ort_providers()))
        return _cache[key]


def _import_openvino() -> Any:
    """`import openvino`, offline.  Its __init__ also imports the model-conversion
    tools (openvino.tools.ovc), which start a telemetry client that sends an
    "import" event to Google Analytics unless the user opted out (caught by
    tests/test_offline.py).  sanitize only runs models, so those tools are kept
    out: openvino skips them on ImportError."""
    import sys

    sys.modules.setdefault("openvino.tools.ovc", None)  # type: ignore[arg-type]
    import openvino

    return openvino


def have_openvino() -> bool:
    """The openvino wheel is installed and not switched off (SANITIZE_NO_OPENVINO=1,
    for side-by-side measurements and as a way out if it misbehaves)."""
    if os.environ.get("SANITIZE_NO_OPENVINO"):
        return False
    # openvino imports its model converter, which reports usage to an analytics
    # server when the openvino-telemetry package is importable (a dependency of
    # the wheel).  Offline at run time, always: make that import fail, so the
    # converter falls back to its built-in no-op stub.
    for name in ("openvino_telemetry", "openvino_telemetry.backend"):
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]
    try:
        _import_openvino()
    except ImportError:
        return False
    return True


class OpenVinoModel:
    """A compiled OpenVINO model called like an onnxruntime session: outputs in
    the ONNX graph's order."""

    def __init__(self, compiled: Any) -> None:
        self._compiled = compiled
        self._outputs = list(compiled.outputs)
        self._lock = threading.Lock()
        self._request = compiled.create_infer_request()

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        with self._lock:  # one infer request: calls from two threads take turns
            result = self._request.infer(feeds)
            return [np.array(result[o]) for o in self._outputs]


def openvino_model(path: str | Path, precision: str = "default",
                   n_threads: int | None = None) -> OpenVinoModel | None:
    """The ONNX file compiled by OpenVINO for the CPU with its input shape kept
    dynamic (one compile per process instead of one per picture size), or None
    when the openvino wheel is not installed.

    precision "default" lets OpenVINO pick (bf16 on CPUs with avx512_bf16/AMX,
    else fp32); "f32" forces fp32.  An int8 QDQ file runs int8 either way.
    """
    if uses_cuda() or not have_openvino():
        return None
    n = n_threads or _threads
    key = ("ov", str(path), n, precision)
    with _lock:
        if key not in _cache:
            ov = _import_openvino()

            config: dict[str, Any] = {
                "INFERENCE_NUM_THREADS": n, "NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY",
            }
            if precision != "default":
                config["INFERENCE_PRECISION_HINT"] = precision
            _cache[key] = OpenVinoModel(_compile(ov, str(path), config))
        model: OpenVinoModel = _cache[key]
        return model


def _compile(ov: Any, path: str, config: dict[str, Any]) -> Any:
    """The model compiled for the CPU, through OpenVINO's own cache of compiled
    models when a cache folder can be made: a fresh process (every `sanitize
    check`, every worker) then loads the compiled form instead of compiling again
    (measured: 0.28 -> 0.05 s for the int8 CenterFace).  OpenVINO keys the cache
    on the model, the settings and its own version; any trouble with the cache
    falls back to compiling."""
    folder = openvino_cache_dir()
    if folder is not None:
        try:
            core = ov.Core()
            core.set_property({"CACHE_DIR": str(folder)})
            return core.compile_model(path, "CPU", config)
        except RuntimeError:
            pass
    core = ov.Core()
    return core.compile_model(core.read_model(path), "CPU", config)


def openvino_cache_dir() -> Path | None:
    """$SANITIZE_CACHE_DIR/openvino, else the user's cache folder's; None when it
    cannot be made, or when SANITIZE_CACHE_DIR is empty (no cache)."""
    import platformdirs

    env = os.environ.get("SANITIZE_CACHE_DIR")
    if env == "":
        return None
    root = Path(env) if env else Path(platformdirs.user_cache_dir("sanitize", appauthor=False))
    folder = root / "openvino"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return folder if os.access(folder, os.W_OK) else None


class OrtModel:
    """An onnxruntime session with OpenVinoModel's call: all outputs, in order."""

    def __init__(self, session: Any) -> None:
        self.session = session

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        return list(self.session.run(None, feeds))
