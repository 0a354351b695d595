"""Plain typed objects that flow through the pipeline.

One `Region` type is produced by every detector (faces, plates, weapons, text,
persons) on images and on video frames; the policy turns regions into
`Finding`s and blur actions; a `FileResult` is what the report and ledger store.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sanitize.plan import RenderPlan

from sanitize import geometry


class Status(StrEnum):
    SAFE = "safe"
    REVIEW = "review"
    ERROR = "error"


class MediaKind(StrEnum):
    IMAGE = "image"
    VIDEO = "video"


@dataclass(frozen=True)
class Box:
    """Axis-aligned box in pixels of the upright picture: [x1, y1) x [y1, y2)."""

    x1: float
    y1: float
    x2: float
    y2: float

    @property
    def w(self) -> float:
        return max(0.0, self.x2 - self.x1)

    @property
    def h(self) -> float:
        return max(0.0, self.y2 - self.y1)

    @property
    def area(self) -> float:
        return self.w * self.h

    @property
    def cx(self) -> float:
        return (self.x1 + self.x2) / 2

    @property
    def cy(self) -> float:
        return (self.y1 + self.y2) / 2

    def iou(self, other: Box) -> float:
        return geometry.iou(self, other)

    def scaled(self, sx: float, sy: float | None = None) -> Box:
        sy = sx if sy is None else sy
        return Box(self.x1 * sx, self.y1 * sy, self.x2 * sx, self.y2 * sy)

    def shifted(self, dx: float, dy: float) -> Box:
        return Box(self.x1 + dx, self.y1 + dy, self.x2 + dx, self.y2 + dy)

    def clipped(self, width: int, height: int) -> Box:
        return Box(
            min(max(self.x1, 0.0), width),
            min(max(self.y1, 0.0), height),
            min(max(self.x2, 0.0), width),
            min(max(self.y2, 0.0), height),
        )

    def union(self, other: Box) -> Box:
        return Box(
            min(self.x1, other.x1), min(self.y1, other.y1),
            max(self.x2, other.x2), max(self.y2, other.y2),
        )

    def as_list(self) -> list[int]:
        return [round(self.x1), round(self.y1), round(self.x2), round(self.y2)]


@dataclass(frozen=True)
class Region:
    """Something a detector saw.

    `kind` is the policy's vocabulary (face, plate, weapon, person, text, uniform,
    document, seized_items); `label` is the model's own class name.  On video,
    `t_start`/`t_end` give the time range in seconds the region (track) covers.
    """

    kind: str
    box: Box
    score: float
    detector: str
    label: str = ""
    frame: int | None = None
    t_start: float | None = None
    t_end: float | None = None
    track_id: int | None = None


@dataclass(frozen=True)
class Finding:
    """What a reviewer reads: kind, clauses touched, confidence, where, and what was done."""

    kind: str
    clauses: tuple[str, ...]
    confidence: float
    action: str  # "blurred" | "flagged" | "removed"
    blocking: bool  # true → the file needs a person's decision (routes to review)
    box: list[int] | None = None
    t_start: float | None = None
    t_end: float | None = None
    detail: str = ""
    detector: str = ""

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["clauses"] = list(self.clauses)
        return {k: v for k, v in d.items() if v is not None and v != ""}


@dataclass(frozen=True)
class MetadataItem:
    """One identifying thing a file carries.  `cls` is a class name (gps, device,
    serial, datetime, thumbnail, xmp, …); `where` names the container part.
    Values are never stored: coordinates must not leak into reports."""

    cls: str
    where: str
    name: str = ""


@dataclass
class MediaInfo:
    kind: MediaKind
    format: str  # sniffed from bytes: jpeg, png, webp, tiff, bmp, heif, mp4, mov, mkv, …
    width: int = 0
    height: int = 0
    rotation: int = 0  # degrees clockwise applied to get the upright picture
    mirrored: bool = False
    duration_s: float | None = None
    frames: int | None = None
    has_audio: bool = False


@dataclass(frozen=True)
class Approval:
    """A reviewer approved this output in the review workstation."""

    by: str
    at: str  # ISO 8601, UTC
    decisions: tuple[str, ...] = ()  # one line per decision that shaped the output

    def to_json(self) -> dict[str, Any]:
        return {"by": self.by, "at": self.at, "decisions": list(self.decisions)}


@dataclass
class FileResult:
    input: str
    status: Status
    output: str | None = None
    sha256_in: str | None = None
    sha256_out: str | None = None
    media: MediaInfo | None = None
    findings: list[Finding] = field(default_factory=list)
    metadata_removed: list[MetadataItem] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0
    models: list[str] = field(default_factory=list)
    # Settings.fingerprint() the output was made with (from the ledger row), matching
    # report.json's settings.fingerprint when this run's settings made it.
    settings_fingerprint: str | None = None
    approval: Approval | None = None
    # What is needed to render the file again (stored by the driver in the ledger's
    # plans table; not part of the report).
    plan: RenderPlan | None = field(default=None, repr=False, compare=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "input": self.input,
            "status": self.status.value,
            "output": self.output,
            "sha256_in": self.sha256_in,
            "sha256_out": self.sha256_out,
            "media": None if self.media is None else {
                **asdict(self.media), "kind": self.media.kind.value,
            },
            "findings": [f.to_json() for f in self.findings],
            "metadata_removed": [asdict(m) for m in self.metadata_removed],
            "error": self.error,
            "seconds": round(self.seconds, 3),
            "models": self.models,
            "settings_fingerprint": self.settings_fingerprint,
        } | ({"approval": self.approval.to_json()} if self.approval else {})

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> FileResult:
        media = None
        if d.get("media"):
            m = dict(d["media"])
            m["kind"] = MediaKind(m["kind"])
            media = MediaInfo(**m)
        return cls(
            input=d["input"],
            status=Status(d["status"]),
            output=d.get("output"),
            sha256_in=d.get("sha256_in"),
            sha256_out=d.get("sha256_out"),
            media=media,
            findings=[
                Finding(**{**f, "clauses": tuple(f["clauses"])}) for f in d.get("findings", [])
            ],
            metadata_removed=[MetadataItem(**m) for m in d.get("metadata_removed", [])],
            error=d.get("error"),
            seconds=d.get("seconds", 0.0),
            models=list(d.get("models", [])),
            settings_fingerprint=d.get("settings_fingerprint"),
            approval=Approval(a["by"], a["at"], tuple(a.get("decisions", ())))
            if (a := d.get("approval")) else None,
        )
