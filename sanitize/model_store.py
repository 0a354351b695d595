"""Where model files live.  Nothing here downloads at run time: the install step
(`python -m sanitize.install_models`) puts files in place; run time only checks them."""

from __future__ import annotations

import os
from pathlib import Path

from sanitize.detect.base import sha256_file
from sanitize.errors import ModelMissing

REPO_MODELS = Path(__file__).resolve().parent.parent / "models"


def model_dir() -> Path:
    env = os.environ.get("SANITIZE_MODEL_DIR")
    return Path(env) if env else REPO_MODELS


_verified: dict[Path, str] = {}


def model_path(filename: str, sha256: str) -> Path:
    """Path of an installed model file whose sha256 matches, else ModelMissing."""
    path = model_dir() / filename
    if not path.is_file():
        raise ModelMissing(
            f"model file {path} is missing; run `python -m sanitize.install_models` (see README)"
        )
    if _verified.get(path) != sha256:
        actual = sha256_file(path)
        if actual != sha256:
            raise ModelMissing(f"model file {path} has sha256 {actual}, expected {sha256}")
        _verified[path] = sha256
    return path
