"""Which detectors run, built once per process from the settings.

Model sessions are expensive to create (hundreds of ms each) and every worker
process handles many files, so the set is cached per settings fingerprint.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from sanitize.config import Settings
from sanitize.detect import sessions
from sanitize.detect.base import Detector, ModelInfo
from sanitize.types import Region

if TYPE_CHECKING:
    from sanitize.detect.faces import PassMemo
    from sanitize.detect.yolo import ClassSpec


@runtime_checkable
class _LooksTwice(Protocol):
    """A detector that also hands over its weak candidates (the weapon model), so
    that others can take a second look at them."""

    @property
    def threshold(self) -> float: ...

    def candidates(self, rgb: np.ndarray) -> list[Any]: ...


@dataclass
class Detectors:
    faces: Detector  # pictures: tiled, best recall
    video_faces: Detector  # video frames: one downscaled pass, tracked across frames
    models_from: list[Any] = field(default_factory=list)  # every detector, for provenance
    objects: list[Detector] = field(default_factory=list)  # weapons + user YOLO models
    plates: Any = None
    documents: Any = None
    uniforms: Any = None
    seized: Any = None
    # The classes of users' own models (from their class-map YAML): the policy
    # flags kinds only they know (policy.policy_for).
    user_classes: list[ClassSpec] = field(default_factory=list)

    def models(self) -> list[ModelInfo]:
        seen: dict[str, ModelInfo] = {}
        for d in [self.faces, *self.models_from]:
            for m in d.models():
                seen.setdefault(m.sha256, m)
        return list(seen.values())

    def model_labels(self) -> list[str]:
        return [m.label() for m in self.models()]

    def analyse(self, rgb: np.ndarray) -> list[Region]:
        """Every region in one upright picture: faces, then the policy flags."""
        return self.analyse_with_near(rgb)[0]

    def analyse_with_near(self, rgb: np.ndarray, memo: PassMemo | None = None
                          ) -> tuple[list[Region], list[Region]]:
        """`analyse`, plus the faces scored just under a threshold (near misses).
        `memo` keeps the face models' outputs for the re-check."""
        detect_all = getattr(self.faces, "detect_all", None)
        if detect_all is not None:
            found = detect_all(rgb, memo=memo) if memo is not None else detect_all(rgb)
            faces, near = list(found.faces), list(found.near)
        else:
            faces, near = list(self.faces.detect(rgb)), []
        return faces + self.flags(rgb, faces), near

    def flags(self, rgb: np.ndarray, faces: list[Region]) -> list[Region]:
        """Weapons, plates, documents, uniforms, seized items.  The text detector
        runs once and feeds both plates and documents; plates on an object the
        weapon model scores are that object's markings (`weapons.markings`);
        uniforms look at people (faces and body shapes); seized items look at what
        the others found."""
        out: list[Region] = []
        looked: list[Any] = []  # the weapon model's candidates, weak ones included
        threshold = 1.0
        for d in self.objects:
            if isinstance(d, _LooksTwice):
                cands = d.candidates(rgb)
                looked += cands
                threshold = min(threshold, d.threshold)
                out += [c.region for c in cands if c.region.score >= d.threshold]
            else:
                out += d.detect(rgb)
        if self.plates is not None or self.documents is not None:
            from sanitize.detect.text import detect_text

            text = detect_text(rgb)
            if self.plates is not None:
                plates = self.plates.detect(rgb, text)
                if looked:
                    # Engravings on a gun are part of the gun, and evidence for it.
                    from sanitize.detect.weapons import markings

                    promoted, plates = markings(looked, plates, threshold)
                    out += promoted
                out += plates
            if self.documents is not None:
                out += self.documents.detect(rgb, text)
        if self.uniforms is not None:
            out += self.uniforms.detect(rgb, faces)
        if self.seized is not None:
            out += self.seized.detect(rgb, faces + out)
        return out


_cache: dict[str, Detectors] = {}


def get_detectors(settings: Settings) -> Detectors:
    # Sessions opened from here on use the run's cores per worker.
    sessions.set_threads(settings.session_threads())
    key = settings.fingerprint()
    if key not in _cache:
        _cache[key] = _build(settings)
    return _cache[key]


def _build(settings: Settings) -> Detectors:
    from sanitize.detect.faces import FaceDetector
    from sanitize.detect.plates import PlateDetector

    # Pictures: int8 CenterFace (OpenVINO) with yuface only where CenterFace is
    # unsure, 2.7-3.3x the fp32 tiled pair at the same corpus recall
    # (docs/measurements.md).  It fires on a few blurred ovals (0.25-0.4); the
    # re-check knows those as masks (render._on_masks).  Without the int8 file or
    # OpenVINO it runs fp32 through onnxruntime.
    # Video frames: CenterFace int8 with its first 8 convolutions fp32, 1.5x the
    # analysis speed at 99.93 % instead of 99.95 % of faces masked on 16 clips.
    d = Detectors(faces=FaceDetector(gate_yuface=True, int8=True),
                  video_faces=FaceDetector(fast=True, int8=True))
    # Plates are redaction (cl. 30), like faces: --no-flags never turns them off.
    d.plates = PlateDetector()
    if settings.flags:
        from sanitize.detect.documents import DocumentDetector
        from sanitize.detect.seized import SeizedItemsDetector
        from sanitize.detect.uniforms import UniformDetector
        from sanitize.detect.weapons import WeaponDetector

        d.objects.append(WeaponDetector())
        d.documents = DocumentDetector()
        d.uniforms, d.seized = UniformDetector(), SeizedItemsDetector()
    for extra in settings.extra_models:
        from sanitize.detect.yolo import YoloDetector

        byo = YoloDetector.from_files(extra.onnx, extra.classes)
        d.objects.append(byo)
        d.user_classes.extend(byo.classes.values())
    d.models_from = [x for x in (*d.objects, d.plates, d.documents, d.uniforms, d.seized)
                     if x is not None]
    return d


def model_digests(settings: Settings) -> tuple[str, ...]:
    """The sha256 of every built-in model file the detectors for `settings` load,
    each verified on disk (ModelMissing when absent or altered), without building a
    session.  Part of the ledger fingerprint, so a model change re-makes earlier
    outputs, and the start-up check that turns a missing model into one line.
    (A user's own --model files are hashed by Settings.fingerprint itself.)"""
    from sanitize.model_store import model_dir

    return _builtin_digests(settings.flags, str(model_dir()))


@lru_cache(maxsize=4)
def _builtin_digests(flags: bool, where: str) -> tuple[str, ...]:
    from sanitize.detect import faces, plates, text
    from sanitize.errors import ModelMissing
    from sanitize.hashing import sha256_file
    from sanitize.install_models import CENTERFACE_FILE, CENTERFACE_SHA256
    from sanitize.model_store import model_path

    model_path(CENTERFACE_FILE, CENTERFACE_SHA256)  # raises ModelMissing
    yuface = faces._yuface_sha256()
    if yuface == "missing":
        raise ModelMissing("the yuface face detector library is missing; reinstall yuface")
    # Plates run with or without flags (redaction, cl. 30): OCR + Haar cascade.
    out = [CENTERFACE_SHA256, yuface, sha256_file(plates._cascade_path())]
    # The int8 CenterFace files (pictures', video's), when installed and OpenVINO runs them.
    out.append(faces.centerface_sha256("int8"))
    out.append(faces.centerface_sha256("int8_video"))
    for m in text.text_models(with_rec=True):
        out.append(m.sha256)
    text._model_file(text._DET_FILE)
    text._model_file(text._REC_FILE)
    if flags:
        from sanitize.detect import weapons

        weapons.weapon_onnx_path()  # raises ModelMissing
        out += [weapons.WEAPON_SHA256, sha256_file(weapons.weapon_classes_path())]
    return tuple(out)
