"""The render plan: stored with every run, JSON round-trip exact, and a render
from the stored plan writes the same bytes as the run did."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import shared_paths
from videoclips import make_clip

from sanitize.batch import collect_inputs, run_batch
from sanitize.config import Settings
from sanitize.detect.registry import get_detectors
from sanitize.plan import KEEP, TRACKED, Decisions, RenderPlan, Track
from sanitize.render import render
from sanitize.review.store import ReviewStore
from sanitize.types import Box, Status

FACES = shared_paths.DATA / "faces" / "images"
UNIFORM = shared_paths.DATA / "objects" / "uniform"


def sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _run(inputs: list[Path], out: Path, settings: Settings) -> dict[str, RenderPlan]:
    run_batch(collect_inputs(inputs, out), out, settings, jobs=1, progress=False)
    with ReviewStore.open(out) as store:
        return {p.name: store.plan(p.name) for p in inputs}  # type: ignore[misc]


def test_track_json_round_trip_is_exact() -> None:
    t = Track("r0", "face", {0: Box(0.1, 1 / 3, 2.0000001, 7.5), 9: Box(1, 2, 3, 4)},
              {0: 0.123456789, 9: 0.5}, "faces", TRACKED, KEEP, ("27",), "officer?",
              0.0, 0.3, track_no=4)
    assert Track.from_json(t.to_json()) == t


@pytest.mark.parametrize("name", ["graduation_group.jpg"])
def test_image_plan_stored_and_re_renders_identically(name: str,
                                                      tmp_path: Path) -> None:
    src = FACES / name
    plans = _run([src], tmp_path / "out", Settings(flags=False))
    plan = plans[name]
    assert plan is not None and plan.sha256 == sha(src)
    assert len(plan.tracks) >= 5 and all(t.kind == "face" for t in plan.tracks)
    assert len({t.id for t in plan.tracks}) == len(plan.tracks)
    again = RenderPlan.loads(plan.dumps())
    assert again == plan and again.to_json() == plan.to_json()
    written = next((tmp_path / "out").glob("*/" + name))
    out = render(again, Decisions(), tmp_path / "out",
                 get_detectors(Settings(flags=False)).faces)
    assert sha(out.path) == sha(written)


def test_uniformed_faces_suggested_keep_but_blurred(tmp_path: Path) -> None:
    src = UNIFORM / "isf_jk_police_test.jpg"
    plan = _run([src], tmp_path / "out", Settings())[src.name]
    officers = [t for t in plan.tracks if t.suggested == KEEP]
    assert officers and all(t.label == "officer?" for t in officers)
    assert Decisions().action(officers[0]) == "blur"
    assert plan.flags and {f.kind for f in plan.flags} >= {"uniform"}


def test_video_plan_re_renders_identically(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "clip.mp4", seconds=1.0)
    out_root = tmp_path / "out"
    plan = _run([clip.path], out_root, Settings(flags=False))["clip.mp4"]
    faces = [t for t in plan.tracks if t.motion == TRACKED]
    assert faces and plan.frames == len(clip.times)
    again = RenderPlan.loads(plan.dumps())
    assert again == plan
    written = next(out_root.glob("*/clip.mp4"))
    out = render(again, Decisions(), out_root, get_detectors(Settings(flags=False)).faces)
    assert sha(out.path) == sha(written)


def test_rerun_keeps_plan_status(tmp_path: Path) -> None:
    src = FACES / "friends_table.jpg"
    out = tmp_path / "out"
    first = _run([src], out, Settings(flags=False))[src.name]
    results = run_batch(collect_inputs([src], out), out, Settings(flags=False), jobs=1,
                        progress=False)
    assert results[0].status in (Status.SAFE, Status.REVIEW)
    with ReviewStore.open(out) as store:
        assert store.plan(src.name) == first


def test_settings_round_trip(tmp_path: Path) -> None:
    import dataclasses

    from sanitize.config import ExtraModel
    from sanitize.plan import settings_from_json, settings_to_json

    s = Settings(mask="solid", max_pixels=5, max_video_seconds=7.5, jpeg_quality=80,
                 flags=False, mute=True, policy_file=tmp_path / "p.toml",
                 extra_models=(ExtraModel(tmp_path / "m.onnx", tmp_path / "m.yaml"),))
    assert settings_from_json(settings_to_json(s)) == s
    # A new Settings field must be stored with the plan too (a re-render needs it).
    assert set(settings_to_json(s)) == {f.name for f in dataclasses.fields(Settings)}
