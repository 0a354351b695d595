"""The render plan: what a run saw in one input, kept so the file can be written again.

A file in review/ is already masked and masks cannot be undone, so "un-blur this
officer" means writing the file again *from the original* with different choices.
`RenderPlan` is everything needed for that (source path + sha256, media info, every
region as a `Track`, every flag, the settings); `Decisions` are a reviewer's choices
on top of it (keep/blur per region, added boxes, flag states, mute ranges).  Both
serialise to JSON and back exactly (floats round-trip through `repr`), so a render
from a stored plan writes the same bytes as the run that made it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from sanitize.config import ExtraModel, Settings
from sanitize.types import Box, Finding, MediaInfo, MediaKind

# How a track's boxes cover the frames between its sightings.
STILL = "still"  # a picture: the one box on frame 0
TRACKED = "tracked"  # a face track: interpolated, held and grown by the face tracker
SAMPLED = "sampled"  # found on sampled frames (plates): held around [t_start, t_end]
KEYFRAMES = "keyframes"  # a reviewer's box: linear between keyframes over [t_start, t_end]
MOTIONS = (STILL, TRACKED, SAMPLED, KEYFRAMES)

BLUR, KEEP = "blur", "keep"
OPEN, CLEARED, CONFIRMED = "open", "cleared", "confirmed"


def box_to_json(b: Box) -> list[float]:
    return [float(b.x1), float(b.y1), float(b.x2), float(b.y2)]


def box_from_json(v: list[float]) -> Box:
    x1, y1, x2, y2 = (float(x) for x in v)
    return Box(x1, y1, x2, y2)


@dataclass(frozen=True)
class Track:
    """One thing to mask, on one picture or over a video's frames.

    `boxes` maps frame index → the detector's (or reviewer's) box at a sighting or
    keyframe, in upright pixels, before any growing; `motion` says how frames
    between sightings are covered.  `suggested` is what the tool proposes to a
    reviewer ("keep" only for a face whose person seems to wear a uniform); the
    action stays "blur" until a person decides otherwise."""

    id: str
    kind: str
    boxes: dict[int, Box]
    scores: dict[int, float]
    detector: str
    motion: str = STILL
    suggested: str = BLUR
    clauses: tuple[str, ...] = ()
    label: str = ""
    t_start: float | None = None
    t_end: float | None = None
    # The face tracker's own number: masks compose in this order (byte-identical re-runs).
    track_no: int | None = None

    @property
    def score(self) -> float:
        return max(self.scores.values(), default=0.0)

    def best_box(self) -> Box:
        """The box at the best-scoring sighting (what a list of regions shows)."""
        if not self.scores:
            return next(iter(self.boxes.values()))
        i = max(self.scores, key=lambda k: self.scores[k])
        return self.boxes[i]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "kind": self.kind,
            "boxes": [[i, box_to_json(b)] for i, b in sorted(self.boxes.items())],
            "scores": [[i, float(s)] for i, s in sorted(self.scores.items())],
            "detector": self.detector, "motion": self.motion, "suggested": self.suggested,
            "clauses": list(self.clauses), "label": self.label,
            "t_start": self.t_start, "t_end": self.t_end, "track_no": self.track_no,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Track:
        if d.get("motion", STILL) not in MOTIONS:
            raise ValueError(f"unknown track motion {d.get('motion')!r}")
        return cls(
            id=str(d["id"]), kind=str(d["kind"]),
            boxes={int(i): box_from_json(b) for i, b in d["boxes"]},
            scores={int(i): float(s) for i, s in d.get("scores", [])},
            detector=str(d.get("detector", "")), motion=d.get("motion", STILL),
            suggested=d.get("suggested", BLUR), clauses=tuple(d.get("clauses", ())),
            label=d.get("label", ""), t_start=d.get("t_start"), t_end=d.get("t_end"),
            track_no=d.get("track_no"),
        )


@dataclass(frozen=True)
class Flag:
    """A finding a person must resolve before the file may be posted (a blocking finding)."""

    id: str
    kind: str
    score: float
    clauses: tuple[str, ...] = ()
    box: Box | None = None
    t_start: float | None = None
    t_end: float | None = None
    detail: str = ""
    detector: str = ""

    @classmethod
    def from_finding(cls, fid: str, f: Finding) -> Flag:
        box = Box(*(float(v) for v in f.box)) if f.box else None
        return cls(fid, f.kind, float(f.confidence), tuple(f.clauses), box, f.t_start,
                   f.t_end, f.detail, f.detector)

    def extended(self, f: Finding) -> Flag:
        """This flag grown over one more sampled finding of the same kind."""
        box = self.box
        if f.box:
            other = Box(*(float(v) for v in f.box))
            box = other if box is None else box.union(other)
        return replace(self, score=max(self.score, float(f.confidence)), box=box,
                       t_end=max(self.t_end or 0.0, f.t_end or f.t_start or 0.0),
                       clauses=tuple(dict.fromkeys((*self.clauses, *f.clauses))))

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["clauses"] = list(self.clauses)
        d["box"] = None if self.box is None else box_to_json(self.box)
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Flag:
        return cls(str(d["id"]), str(d["kind"]), float(d.get("score", 0.0)),
                   tuple(d.get("clauses", ())),
                   None if d.get("box") is None else box_from_json(d["box"]),
                   d.get("t_start"), d.get("t_end"), d.get("detail", ""), d.get("detector", ""))


def settings_to_json(s: Settings) -> dict[str, Any]:
    return {
        "mask": s.mask, "max_pixels": s.max_pixels, "max_video_seconds": s.max_video_seconds,
        "jpeg_quality": s.jpeg_quality, "flags": s.flags, "mute": s.mute,
        "policy_file": None if s.policy_file is None else str(s.policy_file),
        "extra_models": [[str(m.onnx), str(m.classes)] for m in s.extra_models],
        "threads": s.threads,  # speed only; 0 = decided by the process that renders
    }


def settings_from_json(d: dict[str, Any]) -> Settings:
    return Settings(
        mask=d["mask"], max_pixels=int(d["max_pixels"]),
        max_video_seconds=float(d["max_video_seconds"]), jpeg_quality=int(d["jpeg_quality"]),
        flags=bool(d["flags"]), mute=bool(d["mute"]),
        policy_file=None if d.get("policy_file") is None else Path(d["policy_file"]),
        extra_models=tuple(ExtraModel(Path(a), Path(b)) for a, b in d.get("extra_models", [])),
        threads=int(d.get("threads", 0)),
    )


@dataclass
class RenderPlan:
    """Everything needed to write one input's output again from its original."""

    input: str  # path relative to its root (the ledger's key)
    source: str  # absolute path of the original when processed
    sha256: str  # of the original: a render refuses a changed original
    media: MediaInfo
    out_format: str  # jpeg, png, webp, mp4
    settings: dict[str, Any]  # settings_to_json of the run
    fingerprint: str  # Settings.fingerprint() of the run
    tracks: list[Track] = field(default_factory=list)
    flags: list[Flag] = field(default_factory=list)
    # Video: every frame's time (s, from the first frame) and the frames the face
    # detector ran on (None: all); the face tracker's extension.  Pictures: [0.0].
    frame_times: list[float] = field(default_factory=lambda: [0.0])
    analysed: list[int] | None = None
    extend_s: float = 0.0
    min_span_s: float = 1.0  # the face tracker's shortest masked span

    @property
    def frames(self) -> int:
        return len(self.frame_times)

    def run_settings(self) -> Settings:
        return settings_from_json(self.settings)

    def track(self, tid: str) -> Track | None:
        return next((t for t in self.tracks if t.id == tid), None)

    def flag(self, fid: str) -> Flag | None:
        return next((f for f in self.flags if f.id == fid), None)

    def next_track_id(self) -> str:
        return f"r{len(self.tracks)}"

    def add_flags(self, findings: list[Finding]) -> None:
        """Every blocking finding becomes a flag with a stable id (f0, f1, …).  On video,
        one kind seen on consecutive sampled frames is one flag over the whole span
        (a uniform in view for a minute is one thing to resolve, not sixty)."""
        for f in findings:
            if not f.blocking:
                continue
            last = next((g for g in reversed(self.flags) if g.kind == f.kind), None)
            if (last is not None and f.t_start is not None and last.t_end is not None
                    and f.t_start <= last.t_end + 1e-3):
                self.flags[self.flags.index(last)] = last.extended(f)
            else:
                self.flags.append(Flag.from_finding(f"f{len(self.flags)}", f))

    def to_json(self) -> dict[str, Any]:
        return {
            "version": 1, "input": self.input, "source": self.source, "sha256": self.sha256,
            "media": {**asdict(self.media), "kind": self.media.kind.value},
            "out_format": self.out_format, "settings": self.settings,
            "fingerprint": self.fingerprint,
            "tracks": [t.to_json() for t in self.tracks],
            "flags": [f.to_json() for f in self.flags],
            "frame_times": list(self.frame_times), "analysed": self.analysed,
            "extend_s": self.extend_s, "min_span_s": self.min_span_s,
        }

    def dumps(self) -> str:
        return json.dumps(self.to_json(), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> RenderPlan:
        media = dict(d["media"])
        media["kind"] = MediaKind(media["kind"])
        return cls(
            input=d["input"], source=d["source"], sha256=d["sha256"], media=MediaInfo(**media),
            out_format=d["out_format"], settings=dict(d["settings"]),
            fingerprint=d["fingerprint"],
            tracks=[Track.from_json(t) for t in d.get("tracks", [])],
            flags=[Flag.from_json(f) for f in d.get("flags", [])],
            frame_times=[float(t) for t in d.get("frame_times", [0.0])],
            analysed=None if d.get("analysed") is None else [int(i) for i in d["analysed"]],
            extend_s=float(d.get("extend_s", 0.0)),
            min_span_s=float(d.get("min_span_s", 1.0)),
        )

    @classmethod
    def loads(cls, text: str) -> RenderPlan:
        return cls.from_json(json.loads(text))


@dataclass(frozen=True)
class RegionChoice:
    action: str  # blur | keep
    reason: str = ""


@dataclass(frozen=True)
class FlagChoice:
    state: str  # cleared | confirmed
    reason: str = ""


@dataclass
class Decisions:
    """A reviewer's choices for one file (derived from the audit rows; empty for a run)."""

    regions: dict[str, RegionChoice] = field(default_factory=dict)
    added: list[Track] = field(default_factory=list)
    flags: dict[str, FlagChoice] = field(default_factory=dict)
    mutes: list[tuple[float, float]] = field(default_factory=list)

    def action(self, track: Track) -> str:
        """blur or keep; anything the reviewer has not kept is blurred (fail closed)."""
        choice = self.regions.get(track.id)
        return KEEP if choice is not None and choice.action == KEEP else BLUR

    def flag_state(self, flag: Flag) -> str:
        choice = self.flags.get(flag.id)
        return OPEN if choice is None else choice.state

    def is_empty(self) -> bool:
        return not (self.regions or self.added or self.flags or self.mutes)

    def to_json(self) -> dict[str, Any]:
        return {
            "regions": {k: asdict(v) for k, v in sorted(self.regions.items())},
            "added": [t.to_json() for t in self.added],
            "flags": {k: asdict(v) for k, v in sorted(self.flags.items())},
            "mutes": [[a, b] for a, b in self.mutes],
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Decisions:
        return cls(
            regions={k: RegionChoice(**v) for k, v in d.get("regions", {}).items()},
            added=[Track.from_json(t) for t in d.get("added", [])],
            flags={k: FlagChoice(**v) for k, v in d.get("flags", {}).items()},
            mutes=[(float(a), float(b)) for a, b in d.get("mutes", [])],
        )


class MaskSource(Protocol):
    """What the redact pass masks: the boxes (already grown) on each frame."""

    frames: int  # frames the source decodes to; a different count withholds the output
    duration_s: float  # first frame to last, plus one frame (video without audio)

    def boxes_for_frame(self, index: int) -> list[Box]: ...


@dataclass(frozen=True)
class Problem:
    """Something the re-check of a written file found.  `kind`: metadata, streams,
    frames, duration, orientation, decode, face.  Only "face" can be fixed by
    masking more; everything else withholds the output."""

    kind: str
    detail: str
    t: float | None = None  # video: time of the frame it was seen on
    box: Box | None = None  # face: where
    score: float = 0.0  # face: the detector's confidence

    def __str__(self) -> str:
        return self.detail
