"""The detector contract and the model provenance record every report carries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from sanitize.types import Region


@dataclass(frozen=True)
class ModelInfo:
    """Provenance of one model file, as listed in models/MODELS.md and in every report."""

    name: str
    version: str
    licence: str
    sha256: str
    source: str

    def label(self) -> str:
        return f"{self.name} {self.version} ({self.licence}, sha256 {self.sha256[:12]})"


class Detector(Protocol):
    """Anything that finds regions in an upright RGB uint8 array (H, W, 3)."""

    name: str

    def models(self) -> list[ModelInfo]: ...

    def detect(self, rgb: np.ndarray) -> list[Region]: ...
