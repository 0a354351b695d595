"""Installed as users install it: `pip install .` (a wheel, not editable), the
model step, then `sanitize run` from another folder; and `sanitize doctor`.

The wheel test builds the wheel from the source files alone, installs it with
`--no-deps` into a fresh venv and runs the installed `sanitize` from a folder
outside the checkout.  The fresh venv gets the test environment's site-packages
appended by a .pth file instead of installing the dependencies from PyPI again
(minutes, and network): the point is that the *wheel's own contents* are
complete (weapon model, class maps, policy, templates), which holds because the
package itself is imported from the fresh venv (asserted) and the dependencies
are third-party packages pip would install from pyproject's list.  The model
step runs against a model folder that already holds CenterFace (copied from the
one the tests use), so it checks and does not download."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import platformdirs
import pytest
from click.testing import CliRunner

from sanitize.cli import main
from sanitize.install_models import (
    CENTERFACE_FILE,
    CENTERFACE_INT8_FILE,
    CENTERFACE_SHA256,
    CENTERFACE_VIDEO_INT8_FILE,
)
from sanitize.model_store import PACKAGED_MODELS, model_dir

ROOT = Path(__file__).resolve().parents[1]
REVOLVER = ROOT / "samples" / "seized_revolver.jpg"
WEAPON_FILES = ("weapon_basegun_keypoints.onnx", "weapon.yaml")


def _doctor(env_dir: Path | None, monkeypatch: pytest.MonkeyPatch):
    if env_dir is not None:
        monkeypatch.setenv("SANITIZE_MODEL_DIR", str(env_dir))
    return CliRunner().invoke(main, ["doctor"])


def test_default_model_dir_is_the_user_data_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    """Not `<repo>/models`, which in an installed wheel is site-packages/models."""
    monkeypatch.delenv("SANITIZE_MODEL_DIR", raising=False)
    assert model_dir() == Path(platformdirs.user_data_dir("sanitize", appauthor=False)) / "models"
    monkeypatch.setenv("SANITIZE_MODEL_DIR", "/somewhere/else")
    assert model_dir() == Path("/somewhere/else")


def test_doctor_lists_every_model_and_exits_0(monkeypatch: pytest.MonkeyPatch) -> None:
    res = _doctor(None, monkeypatch)
    assert res.exit_code == 0, res.output
    for name in (CENTERFACE_FILE, *WEAPON_FILES, "ch_PP-OCRv4_det_infer.onnx",
                 "ch_PP-OCRv4_rec_infer.onnx", "libfacedetection.so",
                 "haarcascade_russian_plate_number.xml"):
        line = next((x for x in res.output.splitlines() if name in x), "")
        assert line.split()[:1] == ["OK"], (name, res.output)
    assert CENTERFACE_SHA256 in res.output
    for tool in ("ffmpeg", "ffprobe", "exiftool"):
        assert tool in res.output
    assert "python" in res.output.lower() and "onnxruntime" in res.output


def test_doctor_missing_model_exits_3_and_says_what_to_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    res = _doctor(tmp_path, monkeypatch)
    assert res.exit_code == 3, res.output
    line = next(x for x in res.output.splitlines() if CENTERFACE_FILE in x)
    assert line.split()[0] == "MISSING" and str(tmp_path) in line
    assert "python -m sanitize.install_models" in res.output
    # The weapon model and class map ship inside the package: found without the step.
    for name in WEAPON_FILES:
        assert next(x for x in res.output.splitlines() if name in x).split()[0] == "OK"


def test_doctor_altered_model_is_a_bad_hash(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / CENTERFACE_FILE).write_bytes(b"not the model")
    res = _doctor(tmp_path, monkeypatch)
    assert res.exit_code == 3, res.output
    line = next(x for x in res.output.splitlines() if CENTERFACE_FILE in x)
    assert line.strip().startswith("BAD HASH"), line


def test_class_map_in_model_dir_moves_with_it(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """SANITIZE_MODEL_DIR moves class maps too: a weapon.yaml there is the one used."""
    from sanitize.detect.weapons import weapon_classes_path

    monkeypatch.setenv("SANITIZE_MODEL_DIR", str(tmp_path))
    assert weapon_classes_path() == PACKAGED_MODELS / "weapon.yaml"
    shutil.copy(PACKAGED_MODELS / "weapon.yaml", tmp_path / "weapon.yaml")
    assert weapon_classes_path() == tmp_path / "weapon.yaml"


def _build_wheel(dest: Path) -> Path:
    """The wheel from a copy of exactly what setuptools reads (no stale build/)."""
    src = dest / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "sanitize", src / "sanitize",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                    "--no-build-isolation", "-w", str(dest / "dist"), str(src)],
                   check=True, capture_output=True, text=True, timeout=300)
    (wheel,) = (dest / "dist").glob("sanitize-*.whl")
    return wheel


def test_wheel_installs_and_flags_a_gun_from_another_folder(tmp_path: Path) -> None:
    wheel = _build_wheel(tmp_path)
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {f"sanitize/models/{f}" for f in WEAPON_FILES} | {"sanitize/policy.toml"} <= names
    assert any(n.startswith("sanitize/report/templates/") for n in names)

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q",
                    "--no-deps", "--no-index", str(wheel)], check=True, timeout=300)
    site = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()"
                                "['purelib'])"], capture_output=True, text=True,
                               check=True).stdout.strip())
    deps = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site / "_test_dependencies.pth").write_text("\n".join(sorted(deps)) + "\n")

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    models = tmp_path / "models"
    models.mkdir()
    shutil.copy(model_dir() / CENTERFACE_FILE, models / CENTERFACE_FILE)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["SANITIZE_MODEL_DIR"] = str(models)

    def sh(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(list(args), cwd=elsewhere, env=env, capture_output=True,
                              text=True, timeout=300)

    where = sh(str(py), "-c", "import sanitize; print(sanitize.__file__)")
    assert where.stdout.startswith(str(site)), where.stdout + where.stderr
    step = sh(str(py), "-m", "sanitize.install_models")  # the README's model step
    assert step.returncode == 0, step.stdout + step.stderr
    assert not (site / "models").exists()
    # The int8 CenterFace files are optional (speed): built when they reproduce their sha256.
    assert CENTERFACE_FILE in os.listdir(models)
    assert set(os.listdir(models)) <= {CENTERFACE_FILE, CENTERFACE_INT8_FILE,
                                       CENTERFACE_VIDEO_INT8_FILE}

    shutil.copy(REVOLVER, elsewhere / REVOLVER.name)
    run = sh(str(venv / "bin" / "sanitize"), "run", REVOLVER.name, "-o", "out", "--no-progress")
    assert run.returncode == 1, run.stdout + run.stderr  # 1: needs review
    assert (elsewhere / "out" / "review" / REVOLVER.name).is_file()
    report = json.loads((elsewhere / "out" / "report.json").read_text())
    kinds = {f["kind"] for f in report["files"][0]["findings"]}
    assert "weapon" in kinds, report["files"][0]

    doctor = sh(str(venv / "bin" / "sanitize"), "doctor")
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    weapon_line = next(x for x in doctor.stdout.splitlines() if WEAPON_FILES[0] in x)
    assert str(site) in weapon_line


def test_doctor_says_which_face_path_pictures_take(monkeypatch: pytest.MonkeyPatch) -> None:
    """Speed depends on it: int8 through OpenVINO, or the 3x slower fp32 fallback."""
    res = _doctor(None, monkeypatch)
    assert "pictures' faces: int8 CenterFace through OpenVINO" in res.output, res.output
    assert "video faces: int8 CenterFace (first 8 convolutions fp32)" in res.output, res.output
    monkeypatch.setenv("SANITIZE_NO_OPENVINO", "1")
    res = _doctor(None, monkeypatch)
    assert res.exit_code == 0
    assert "pictures' faces: fp32 CenterFace through onnxruntime" in res.output
    assert "video faces: fp32 CenterFace through onnxruntime" in res.output
