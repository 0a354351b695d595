"""Policy flags end to end: what `process_file` writes and reports for plates,
weapons, seized items and documents, on real photos.

The detector-level rates live in test_flags.py and test_weapons.py; these tests
check what a user gets: the plate actually masked in the written file, and a
flagged file routed to review with its clause, confidence and box.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from sanitize.config import Settings
from sanitize.detect.registry import get_detectors
from sanitize.media import images
from sanitize.media.probe import sniff
from sanitize.pipeline import process_file
from sanitize.policy import policy_for
from sanitize.types import FileResult, Status

sys.path.insert(0, str(Path(__file__).parent))
import shared_paths
from videoclips import detail_kept

DATA = shared_paths.DATA
OBJECTS = shared_paths.CORPUS / "objects"
# High-pass correlation between input and output inside a box: ~0.6-1 where the
# picture was only re-encoded, ~0 where it was pixelated (videoclips.detail_kept).
MASKED = 0.3


def _upright(path: Path) -> np.ndarray:
    _, fmt = sniff(path)
    return images.decode(path, fmt, Settings().max_pixels).rgb


def _run(src: Path, out: Path) -> FileResult:
    return process_file(src, Path(src.name), out, Settings())


def _plates_masked(src: Path, result: FileResult, out: Path) -> list[float]:
    """detail_kept inside every plate finding's box (low = masked)."""
    written = _upright(out / result.output)
    original = _upright(src)
    return [detail_kept(original, written, tuple(f.box)) for f in result.findings
            if f.kind == "plate" and f.box]


def test_vehicle_check_plate_is_blurred_in_the_written_file(tmp_path: Path) -> None:
    src = DATA / "objects" / "plate" / "keshav_1.jpg"
    r = _run(src, tmp_path)
    assert r.status in (Status.SAFE, Status.REVIEW) and r.output
    plates = [f for f in r.findings if f.kind == "plate"]
    assert plates, [f.kind for f in r.findings]
    assert all(f.action == "blurred" and "30" in f.clauses and 0 < f.confidence <= 1
               for f in plates)
    kept = _plates_masked(src, r, tmp_path)
    assert max(kept) < MASKED, kept


# The half-hidden plate of the white car behind, left ("..Z 0255"): ~27 x 11 px.
BACKGROUND_PLATE = (230, 225, 258, 237)


def test_background_cars_half_hidden_plate_is_masked(tmp_path: Path) -> None:
    """Issue 12: the text detector's probability there peaks at 0.23 (< 0.3), so the
    plate was written readable; the faint spot is now read again, magnified."""
    src = Path(__file__).resolve().parents[1] / "samples" / "vehicle_check.jpg"
    r = _run(src, tmp_path)
    assert r.output
    written, original = _upright(tmp_path / r.output), _upright(src)
    assert detail_kept(original, written, BACKGROUND_PLATE) < MASKED


def test_seized_revolver_goes_to_review_with_clause_and_box(tmp_path: Path) -> None:
    r = _run(DATA / "objects" / "gun" / "basegun_revolver.jpg", tmp_path)
    assert r.status is Status.REVIEW
    assert r.output and r.output.startswith("review/") and (tmp_path / r.output).is_file()
    weapons = [f for f in r.findings if f.kind == "weapon"]
    assert weapons and weapons[0].blocking and weapons[0].action == "flagged"
    assert "28" in weapons[0].clauses and 0.38 <= weapons[0].confidence <= 1
    x1, y1, x2, y2 = weapons[0].box
    h, w = _upright(DATA / "objects" / "gun" / "basegun_revolver.jpg").shape[:2]
    assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h


def test_hindi_document_goes_to_review(tmp_path: Path) -> None:
    r = _run(DATA / "objects" / "doc" / "rapidocr_devanagari.jpg", tmp_path)
    assert r.status is Status.REVIEW
    docs = [f for f in r.findings if f.kind == "document"]
    assert docs and docs[0].blocking and "12" in docs[0].clauses


def test_police_in_uniform_goes_to_review(tmp_path: Path) -> None:
    r = _run(DATA / "objects" / "uniform" / "isf_jk_police_test.jpg", tmp_path)
    assert r.status is Status.REVIEW and r.output and r.output.startswith("review/")
    uniforms = [f for f in r.findings if f.kind == "uniform"]
    assert len(uniforms) >= 5, [f.kind for f in r.findings]  # measured 19 torsos
    assert all(f.blocking and {"2", "3", "31"} <= set(f.clauses) and f.box for f in uniforms)


def test_a_plain_group_photo_raises_no_flag(tmp_path: Path) -> None:
    r = _run(DATA / "faces" / "images" / "graduation_group.jpg", tmp_path)
    assert r.status is Status.SAFE, [(f.kind, f.confidence) for f in r.findings if f.blocking]
    assert not [f for f in r.findings if f.action == "flagged"]


@pytest.mark.slow
@pytest.mark.needs_corpus
def test_plates_blurred_across_the_plate_corpus(tmp_path: Path) -> None:
    """Issue 4: >= 25 of the 39 plate photos get a plate finding with the plate
    actually masked in the written file."""
    photos = sorted(p for p in (OBJECTS / "plate").iterdir()
                    if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    assert len(photos) >= 39
    masked, unmasked = [], []
    for src in photos:
        r = _run(src, tmp_path / src.stem)
        assert r.output is not None, (src.name, r.error)  # a pipeline error is a failure
        kept = _plates_masked(src, r, tmp_path / src.stem)
        if kept and max(kept) < MASKED:
            masked.append(src.name)
        elif kept:
            unmasked.append((src.name, kept))
    print(f"plates masked in the written file: {len(masked)}/39")
    assert not unmasked, unmasked  # a plate finding whose box is not masked is a bug
    # Measured 37/39, both misses showing no readable plate (2026-12-01, issue 12: digit-free
    # showroom plates); 33/39 on 2026-11-29.
    assert len(masked) >= 36, f"{len(masked)}/39"


@pytest.mark.slow
@pytest.mark.needs_corpus
def test_seized_items_rates() -> None:
    """Seized-items flag: on the gun photos (weapons laid out) versus every
    other object photo; measured 7/22 and 0/54 (2026-11-29)."""
    detectors = get_detectors(Settings())

    def flagged(folder: str) -> tuple[int, int]:
        photos = sorted(p for p in (OBJECTS / folder).iterdir()
                        if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
        hits = 0
        for p in photos:
            rgb = _upright(p)
            faces = detectors.faces.detect(rgb)
            hits += any(r.kind == "seized_items" for r in detectors.flags(rgb, faces))
        return hits, len(photos)

    guns, n_guns = flagged("gun")
    others = [flagged(f) for f in ("plate", "person", "uniform", "doc")]
    assert guns >= 6, f"{guns}/{n_guns}"
    assert sum(h for h, _ in others) <= 2, others


def test_masked_faces_do_not_hide_a_uniform(tmp_path: Path) -> None:
    """Issue 9/12: the uniform cue is the person, not the face.  The review copy of
    a uniform photo has every face masked; `check` on it must still see the
    uniform (and so not call it safe)."""
    from sanitize.check import check_file

    src = DATA / "objects" / "uniform" / "isf_jk_police_test.jpg"
    r = _run(src, tmp_path)
    assert r.status is Status.REVIEW and r.output
    assert any(f.kind == "uniform" for f in r.findings)
    checked = check_file(tmp_path / r.output, Settings())
    assert checked.readable and not checked.safe
    uniforms = [f for f in checked.findings if f.kind == "uniform"]
    assert uniforms, checked.problems


@pytest.mark.needs_corpus
def test_engraved_pistol_is_a_weapon_not_a_plate(tmp_path: Path) -> None:
    """Issue 12: the semi-automatic pistol (model score 0.21) reached safe/ with its
    slide engravings masked as a plate.  Its markings make it a weapon."""
    r = _run(OBJECTS / "gun" / "basegun_pistolet_semi_auto.jpg", tmp_path)
    assert r.status is Status.REVIEW, [(f.kind, f.confidence) for f in r.findings]
    weapons = [f for f in r.findings if f.kind == "weapon"]
    assert weapons and weapons[0].blocking and "28" in weapons[0].clauses
    assert "marking" in (weapons[0].detail or "")
    assert not [f for f in r.findings if f.kind == "plate"]


@pytest.mark.slow
@pytest.mark.needs_corpus
def test_weapon_rates_with_markings() -> None:
    """Issue 12: weapons as the pipeline decides them (second look + markings), on
    the 20 gun photos and the 48 photos without a gun (as tests/test_weapons.py).
    Measured 2026-12-01: 19/20 (the vertical pistol on a floor is missed), 0/48."""
    detectors = get_detectors(Settings())
    policy = policy_for(Settings(), detectors.user_classes)

    def flagged(path: Path) -> bool:
        rgb = _upright(path)
        regions = detectors.flags(rgb, [])
        return any(f.kind == "weapon" for f in policy.decide(regions).findings)

    def photos(folder: str) -> list[Path]:
        return sorted(p for p in (OBJECTS / folder).iterdir()
                      if p.suffix.lower() in (".jpg", ".jpeg", ".png"))

    guns = [p for p in photos("gun")
            if p.name not in ("basegun_noWeapon.JPG", "basegun_bad_quality.JPG")]
    others = [p for f in ("doc", "person", "plate") for p in photos(f)]
    others.append(OBJECTS / "gun" / "basegun_noWeapon.JPG")
    assert len(guns) == 20 and len(others) == 48
    found = [p.name for p in guns if flagged(p)]
    false = [p.name for p in others if flagged(p)]
    assert len(found) >= 18, sorted({p.name for p in guns} - set(found))
    assert len(false) <= 1, false
