"""The detector contract and the model provenance record every report carries."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
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


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def nms(regions: list[Region], iou: float = 0.4) -> list[Region]:
    """Greedy non-maximum suppression within one kind; highest score wins."""
    kept: list[Region] = []
    for r in sorted(regions, key=lambda r: r.score, reverse=True):
        if all(r.kind != k.kind or r.box.iou(k.box) < iou for k in kept):
            kept.append(r)
    return kept
