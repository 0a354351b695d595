"""Which detectors run, built once per process from the settings.

Model sessions are expensive to create (hundreds of ms each) and every worker
process handles many files, so the set is cached per settings fingerprint.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sanitize.config import Settings
from sanitize.detect.base import Detector, ModelInfo
from sanitize.types import Region


@dataclass
class Detectors:
    faces: Detector
    flaggers: list[Detector] = field(default_factory=list)

    def models(self) -> list[ModelInfo]:
        seen: dict[str, ModelInfo] = {}
        for d in [self.faces, *self.flaggers]:
            for m in d.models():
                seen.setdefault(m.sha256, m)
        return list(seen.values())

    def model_labels(self) -> list[str]:
        return [m.label() for m in self.models()]

    def analyse(self, rgb: np.ndarray) -> list[Region]:
        """Every region in one upright picture: faces first, then the policy flags."""
        regions = list(self.faces.detect(rgb))
        for d in self.flaggers:
            regions.extend(d.detect(rgb))
        return regions


_cache: dict[str, Detectors] = {}


def get_detectors(settings: Settings) -> Detectors:
    key = settings.fingerprint()
    if key not in _cache:
        _cache[key] = _build(settings)
    return _cache[key]


def _build(settings: Settings) -> Detectors:
    from sanitize.detect.faces import FaceDetector

    return Detectors(faces=FaceDetector(), flaggers=[])
