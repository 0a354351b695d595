"""Weapon flags (policy clause 28: recovered weapons may only be shown after sealing).

The model is basegun-ml's YOLOv8n-pose `keypoints.pt` (one class, 'weapon'),
exported to ONNX by models/export_weapon.py and committed as
models/weapon_basegun_keypoints.onnx; models/weapon.yaml maps its class to the
policy kind 'weapon' and sets the score threshold.

It was made for basegun, the French Interior Ministry's tool that identifies
firearms from photos taken by police: one whole long gun or handgun laid out on
a table or the floor.  That is what it finds well.
Measured on the test corpus (tests/test_weapons.py, 2026-11-28): 18 of 20 such
photos (the misses are two handguns), false flags on 3 of 48 photos without a
gun (all car photos), and only 1 of 7 photos of armed personnel carrying rifles.
So it is a "seized weapon on display" flag, not a general gun detector.

Threshold 0.38, by measurement: the weakest whole-gun photo it finds scores 0.42
and the strongest photo without a gun below that 0.36.  0.45 loses a gun, 0.30
adds three false flags.  Within the gap the cut sits nearer the negatives: a
missed weapon is posted, a false flag only costs a review.
Tried and not used (same corpus, with an earlier fixed 640x640 export): a
horizontal-flip pass and a 90° rotation pass (the model is orientation-sensitive:
a revolver fell from 0.57 to 0.11 when flipped), a zoomed-out pass, and a 2x2
tiling of large pictures (found one more pistol but added three false flags, at
five times the cost).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sanitize.detect.base import ModelInfo, sha256_file
from sanitize.detect.yolo import ClassSpec, YoloDetector, load_class_map
from sanitize.errors import ModelMissing
from sanitize.model_store import REPO_MODELS, model_dir, model_path
from sanitize.types import Region

WEAPON_ONNX = "weapon_basegun_keypoints.onnx"
WEAPON_SHA256 = "6abd01079e78c31aae1fc25087ff90dc8124109fbe3e8a43154284fa9c4cc9c5"
# The class map is configuration that ships with the code, not an installed model
# file, so it is read from the repository even when SANITIZE_MODEL_DIR points elsewhere.
WEAPON_CLASSES = REPO_MODELS / "weapon.yaml"


class WeaponDetector:
    """Finds weapons (kind 'weapon', label 'weapon') with the committed basegun model."""

    name = "weapons"

    def __init__(self, class_map: Path = WEAPON_CLASSES) -> None:
        cmap = load_class_map(class_map)
        path = weapon_onnx_path()
        self._yolo = YoloDetector(
            path, cmap.classes, self.name, cmap.model_info(WEAPON_SHA256), input_size=640
        )

    @property
    def classes(self) -> dict[int, ClassSpec]:
        return dict(self._yolo.classes)

    def models(self) -> list[ModelInfo]:
        return self._yolo.models()

    def detect(self, rgb: np.ndarray) -> list[Region]:
        return self._yolo.detect(rgb)


def weapon_onnx_path() -> Path:
    """The verified ONNX file: from the model directory, else the copy committed in models/.

    Unlike the other models it is committed, not installed by `install_models`, so a
    model directory set with SANITIZE_MODEL_DIR may not hold it; the committed copy is
    just as good once its sha256 matches.
    """
    try:
        return model_path(WEAPON_ONNX, WEAPON_SHA256)
    except ModelMissing:
        committed = REPO_MODELS / WEAPON_ONNX
        if model_dir() == REPO_MODELS or not committed.is_file():
            raise
        if sha256_file(committed) != WEAPON_SHA256:
            raise
        return committed
