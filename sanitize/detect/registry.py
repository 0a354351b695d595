"""Which detectors run, built once per process from the settings.

Model sessions are expensive to create (hundreds of ms each) and every worker
process handles many files, so the set is cached per settings fingerprint.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sanitize.config import Settings
from sanitize.detect.base import Detector, ModelInfo
from sanitize.policy import Policy, Rule, load_policy
from sanitize.types import Region


@dataclass
class Detectors:
    faces: Detector
    flaggers: list[Detector] = field(default_factory=list)
    # Rules for kinds that only a user's own model knows (from its class-map YAML).
    extra_rules: dict[str, Rule] = field(default_factory=dict)

    def policy(self, settings: Settings) -> Policy:
        return load_policy(settings.policy_file).extended(self.extra_rules)

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

    detectors = Detectors(faces=FaceDetector())
    if settings.flags:
        from sanitize.detect.weapons import WeaponDetector

        detectors.flaggers.append(WeaponDetector())
    for extra in settings.extra_models:
        from sanitize.detect.yolo import YoloDetector

        byo = YoloDetector.from_files(extra.onnx, extra.classes)
        detectors.flaggers.append(byo)
        for spec in byo.classes.values():
            detectors.extra_rules.setdefault(spec.kind, Rule(
                spec.kind, "flag", True, spec.threshold, spec.clauses))
    return detectors
