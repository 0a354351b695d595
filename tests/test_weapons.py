"""Weapon flags (clause 28): the committed basegun ONNX through the generic YOLO detector.

Ground truth for shared/corpus/objects, checked by eye (2026-11-28):
- gun/: 20 photos show a whole firearm (seized or product photos).  Two do not:
  basegun_noWeapon.JPG is the Ministry of the Interior logo (no gun: counted
  with the negatives) and basegun_bad_quality.JPG is a close-up of the
  engraved markings on a pistol slide ("Mod. 75 AUTO") where no gun shape is
  visible (reported, counted neither way).  basegun_noCard.jpg is a rifle on a
  red cloth, just without the size card basegun uses: a gun.
- uniform/: all 7 photos show police or BSF/CRPF personnel carrying rifles, so
  they are NOT negatives for a weapon detector.  The model finds few of them
  (it was trained on guns laid out for identification); that rate is printed,
  not asserted.
- doc/, person/, plate/: no gun visible (48 photos with noWeapon): false flags.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import numpy as np
import pytest
import shared_paths
from PIL import Image, ImageOps

from sanitize.detect.yolo import ClassMapError, YoloDetector, load_class_map, parse_class_map
from sanitize.hashing import sha256_file
from sanitize.model_store import PACKAGED_MODELS
from sanitize.types import Region

OBJECTS = shared_paths.CORPUS / "objects"
REVOLVER = shared_paths.DATA / "objects" / "gun" / "basegun_revolver.jpg"
ONNX = PACKAGED_MODELS / "weapon_basegun_keypoints.onnx"
YAML = PACKAGED_MODELS / "weapon.yaml"
EXPORT_SCRIPT = Path(__file__).resolve().parents[1] / "models" / "export_weapon.py"

NO_GUN_IN_GUN_FOLDER = {"basegun_noWeapon.JPG"}
CLOSE_UP_ONLY = {"basegun_bad_quality.JPG"}
NEGATIVE_FOLDERS = ("doc", "person", "plate")
CARRIED_GUN_FOLDER = "uniform"

needs_corpus = pytest.mark.needs_corpus


def _load(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(ImageOps.exif_transpose(im).convert("RGB"))


def _images(folder: str) -> list[Path]:
    return sorted(
        p for p in (OBJECTS / folder).iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png"}
    )


@pytest.fixture(scope="module")
def detector():
    from sanitize.detect.weapons import WeaponDetector

    return WeaponDetector()


@pytest.fixture(scope="module")
def corpus_results(detector) -> dict[str, tuple[list[Region], float]]:
    """Every corpus photo once: regions and detect() milliseconds (decoding not counted)."""
    out: dict[str, tuple[list[Region], float]] = {}
    for folder in ("gun", *NEGATIVE_FOLDERS, CARRIED_GUN_FOLDER):
        for path in _images(folder):
            rgb = _load(path)
            t = time.perf_counter()
            regions = detector.detect(rgb)
            out[f"{folder}/{path.name}"] = (regions, (time.perf_counter() - t) * 1000)
    return out


def _flagged(regions: list[Region]) -> bool:
    return any(r.kind == "weapon" for r in regions)


@needs_corpus
def test_recall_and_false_flags(corpus_results) -> None:
    guns = [
        k
        for k in corpus_results
        if k.startswith("gun/") and k[4:] not in NO_GUN_IN_GUN_FOLDER | CLOSE_UP_ONLY
    ]
    negatives = [k for k in corpus_results if k.split("/")[0] in NEGATIVE_FOLDERS]
    negatives += [f"gun/{n}" for n in NO_GUN_IN_GUN_FOLDER]
    carried = [k for k in corpus_results if k.startswith(CARRIED_GUN_FOLDER + "/")]

    found = [k for k in guns if _flagged(corpus_results[k][0])]
    false = [k for k in negatives if _flagged(corpus_results[k][0])]
    carried_found = [k for k in carried if _flagged(corpus_results[k][0])]
    ms = [t for _, t in corpus_results.values()]
    recall = len(found) / len(guns)
    false_rate = len(false) / len(negatives)

    print(
        f"\nweapon recall (whole-gun photos): {len(found)}/{len(guns)} = {recall:.2f}; "
        f"missed {sorted(set(guns) - set(found))}"
    )
    print(
        f"false weapon flags (no gun): {len(false)}/{len(negatives)} = {false_rate:.3f}: "
        f"{sorted(false)}"
    )
    for folder in (*NEGATIVE_FOLDERS, "gun"):
        sub = [k for k in negatives if k.startswith(folder + "/")]
        print(f"  {folder}: {sum(k in false for k in sub)}/{len(sub)}")
    print(f"carried guns (uniform/, not asserted): {len(carried_found)}/{len(carried)}")
    for name in sorted(CLOSE_UP_ONLY):
        print(f"close-up of markings {name}: flagged={_flagged(corpus_results['gun/' + name][0])}")
    print(
        f"detect ms per image: median {statistics.median(ms):.0f}, "
        f"mean {statistics.fmean(ms):.0f}, "
        f"max {max(ms):.0f} (n={len(ms)}, incl. resizing photos up to 16 MP)"
    )

    assert len(guns) == 20 and len(negatives) == 48
    # Measured 2026-12-01 with the keypoint second look: 18/20 (the semi-automatic
    # pistol is found through its markings, test_flags_pipeline), 0/48 false flags
    # (was 3/48: three cars, each "pointing left" and lower when flipped).
    assert recall >= 0.9
    assert len(false) <= 1


@needs_corpus
def test_regions_are_weapon_boxes_inside_the_picture(corpus_results) -> None:
    regions, _ = corpus_results["gun/basegun_a_verrou.jpg"]
    assert regions, "the clearest rifle photo must be flagged"
    best = max(regions, key=lambda r: r.score)
    assert (best.kind, best.label, best.detector) == ("weapon", "weapon", "weapons")
    # The rifle runs corner to corner of this 690x690 photo.
    assert best.box.x1 < 100 and best.box.x2 > 600 and best.box.y1 < 100 and best.box.y2 > 600
    for regions, _ in corpus_results.values():
        for r in regions:
            assert 0 <= r.box.x1 < r.box.x2 and 0 <= r.box.y1 < r.box.y2
            assert 0.38 <= r.score <= 1.0


def test_model_provenance() -> None:
    from sanitize.detect.weapons import WEAPON_SHA256, WeaponDetector

    assert sha256_file(ONNX) == WEAPON_SHA256
    (info,) = WeaponDetector().models()
    assert info.sha256 == WEAPON_SHA256 and info.licence == "AGPL-3.0"
    assert "basegun-ml 2.0.7" in info.version


def test_odd_inputs(detector) -> None:
    assert detector.detect(np.zeros((1, 1, 3), np.uint8)) == []
    assert detector.detect(np.full((50, 900), 200, np.uint8)) == []  # grey, very wide
    assert detector.detect(np.zeros((300, 200, 4), np.uint8)) == []  # RGBA


def test_bring_your_own_model_same_onnx(tmp_path, detector) -> None:
    """A user's YAML over the same ONNX gives the same boxes under the user's names."""
    user_yaml = tmp_path / "mine.yaml"
    user_yaml.write_text(
        "model:\n  name: my-gun-model\n  version: 1.0\n  license: AGPL-3.0\n  source: local test\n"
        "classes:\n  '0': {name: gun, kind: firearm, clauses: [28, '29'], threshold: 0.38}\n",
        encoding="utf-8",
    )
    byo = YoloDetector.from_files(ONNX, user_yaml)
    rgb = _load(REVOLVER)
    mine, ours = byo.detect(rgb), detector.detect(rgb)
    assert mine and [r.box for r in mine] == [r.box for r in ours]
    assert {(r.kind, r.label, r.detector) for r in mine} == {("firearm", "gun", "byo:my-gun-model")}
    (info,) = byo.models()
    assert (info.name, info.version, info.licence) == ("my-gun-model", "1.0", "AGPL-3.0")
    assert info.sha256 == sha256_file(ONNX)
    assert byo.classes[0].clauses == ("28", "29")


def test_byo_class_id_beyond_model(tmp_path) -> None:
    y = tmp_path / "bad.yaml"
    y.write_text(
        "model: {name: m, version: '1', licence: MIT, source: s}\n"
        "classes: {3: {name: knife, kind: weapon}}\n",
        encoding="utf-8",
    )
    with pytest.raises(ClassMapError, match=r"class id\(s\) \[3\].*1 class"):
        YoloDetector.from_files(ONNX, y)


def test_byo_not_an_onnx_file(tmp_path) -> None:
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    with pytest.raises(ClassMapError, match="cannot load as an ONNX model"):
        YoloDetector.from_files(junk, YAML)
    with pytest.raises(ClassMapError, match="not found"):
        YoloDetector.from_files(tmp_path / "absent.onnx", YAML)


def test_committed_class_map() -> None:
    cmap = load_class_map(YAML)
    spec = cmap.classes[0]
    assert (spec.name, spec.kind, spec.clauses, spec.threshold) == (
        "weapon",
        "weapon",
        ("28",),
        0.38,
    )
    assert cmap.licence == "AGPL-3.0"


GOOD_MODEL = {"name": "m", "version": "1", "licence": "MIT", "source": "s"}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([1, 2], "top level: expected a mapping"),
        (
            {"model": GOOD_MODEL, "classes": {0: {"name": "a", "kind": "weapon"}}, "extra": 1},
            "unknown key",
        ),
        ({"classes": {0: {"name": "a", "kind": "weapon"}}}, "model: missing"),
        (
            {
                "model": {**GOOD_MODEL, "licence": ""},
                "classes": {0: {"name": "a", "kind": "weapon"}},
            },
            "model.licence: required",
        ),
        ({"model": GOOD_MODEL, "classes": {}}, "classes: missing or empty"),
        (
            {"model": GOOD_MODEL, "classes": {"x": {"name": "a", "kind": "weapon"}}},
            "not a class id",
        ),
        ({"model": GOOD_MODEL, "classes": {0: {"kind": "weapon"}}}, r"classes\.0\.name: required"),
        (
            {"model": GOOD_MODEL, "classes": {0: {"name": "a", "kind": "Big Gun"}}},
            r"classes\.0\.kind",
        ),
        (
            {
                "model": GOOD_MODEL,
                "classes": {0: {"name": "a", "kind": "weapon", "threshold": 1.5}},
            },
            r"classes\.0\.threshold",
        ),
        (
            {
                "model": GOOD_MODEL,
                "classes": {0: {"name": "a", "kind": "weapon", "threshhold": 0.5}},
            },
            "unknown key.*threshhold",
        ),
        (
            {
                "model": GOOD_MODEL,
                "classes": {0: {"name": "a", "kind": "weapon", "clauses": {"a": 1}}},
            },
            r"classes\.0\.clauses",
        ),
        (
            {
                "model": GOOD_MODEL,
                "classes": {0: {"name": "a", "kind": "x"}, "0": {"name": "b", "kind": "y"}},
            },
            "listed twice",
        ),
    ],
)
def test_class_map_validation(data, message) -> None:
    with pytest.raises(ClassMapError, match=message):
        parse_class_map(data, "user.yaml")


def test_class_map_unreadable(tmp_path) -> None:
    with pytest.raises(ClassMapError, match="cannot read"):
        load_class_map(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed\n", encoding="utf-8")
    with pytest.raises(ClassMapError, match="not valid YAML"):
        load_class_map(bad)


def test_packaged_model_found_with_another_model_dir(tmp_path, monkeypatch) -> None:
    from sanitize.detect.weapons import WeaponDetector, weapon_onnx_path

    monkeypatch.setenv("SANITIZE_MODEL_DIR", str(tmp_path))
    assert weapon_onnx_path() == ONNX
    assert WeaponDetector().models()[0].sha256 == sha256_file(ONNX)
    # An altered copy in the model directory is refused, the packaged one used instead.
    (tmp_path / ONNX.name).write_bytes(b"tampered")
    assert weapon_onnx_path() == ONNX


def _variant(tmp_path: Path, *, keep_columns: int | None, transpose: bool) -> Path:
    """The committed ONNX rewritten into other YOLOv8 layouts, without ultralytics metadata.

    keep_columns=5 drops the keypoints (a plain one-class detection model);
    transpose gives the [1, anchors, columns] layout some exporters write.
    """
    import onnx
    from onnx import TensorProto, helper

    model = onnx.load(str(ONNX))
    del model.metadata_props[:]
    graph = model.graph
    cur = graph.output[0].name
    if keep_columns is not None:
        for name, value in (("starts", 0), ("ends", keep_columns), ("axes", 1)):
            graph.initializer.append(
                helper.make_tensor(f"v_{name}", TensorProto.INT64, [1], [value])
            )
        graph.node.append(
            helper.make_node("Slice", [cur, "v_starts", "v_ends", "v_axes"], ["v_sl"])
        )
        cur = "v_sl"
    if transpose:
        graph.node.append(helper.make_node("Transpose", [cur], ["v_tr"], perm=[0, 2, 1]))
        cur = "v_tr"
    del graph.output[:]
    graph.output.append(helper.make_tensor_value_info(cur, TensorProto.FLOAT, None))
    path = tmp_path / f"variant_{keep_columns}_{transpose}.onnx"
    onnx.save(model, str(path))
    return path


def _byo_yaml(tmp_path: Path, extra_model: str = "", class_id: int = 0) -> Path:
    y = tmp_path / f"byo_{class_id}.yaml"
    y.write_text(
        f"model: {{name: v, version: '1', licence: AGPL-3.0, source: test{extra_model}}}\n"
        f"classes: {{{class_id}: {{name: gun, kind: weapon, threshold: 0.38}}}}\n",
        encoding="utf-8",
    )
    return y


@pytest.mark.parametrize(("keep_columns", "transpose"), [(5, False), (5, True), (None, True)])
def test_other_yolo_layouts_give_the_same_boxes(tmp_path, detector, keep_columns, transpose):
    onnx_file = _variant(tmp_path, keep_columns=keep_columns, transpose=transpose)
    # Without metadata a pose model's keypoint columns look like classes: say how many.
    extra = "" if keep_columns == 5 else ", num_classes: 1"
    byo = YoloDetector.from_files(onnx_file, _byo_yaml(tmp_path, extra))
    rgb = _load(REVOLVER)
    mine, ours = byo.detect(rgb), detector.detect(rgb)
    assert ours and [(r.box, round(r.score, 5)) for r in mine] == [
        (r.box, round(r.score, 5)) for r in ours
    ]


def test_declared_class_count_is_checked(tmp_path) -> None:
    onnx_file = _variant(tmp_path, keep_columns=None, transpose=False)
    # No metadata, 13 columns: class 3 looks valid until the YAML says there is one class.
    assert YoloDetector.from_files(onnx_file, _byo_yaml(tmp_path, "", class_id=3))
    with pytest.raises(ClassMapError, match="model has 1 class"):
        YoloDetector.from_files(onnx_file, _byo_yaml(tmp_path, ", num_classes: 1", class_id=3))


def test_export_script_pins_the_committed_file() -> None:
    """The export script (run only in its own torch environment) and run time agree."""
    import importlib.util

    from sanitize.detect.weapons import WEAPON_ONNX, WEAPON_SHA256

    spec = importlib.util.spec_from_file_location("export_weapon", EXPORT_SCRIPT)
    assert spec and spec.loader
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)  # stdlib imports only at top level: no torch needed
    assert script.EXPECTED_ONNX_SHA256 == WEAPON_SHA256
    assert script.OUT_DEFAULT == ONNX and ONNX.name == WEAPON_ONNX


@needs_corpus
def test_second_look_demotes_left_pointing_cars(detector) -> None:
    """The three car photos the model flagged (0.46-0.49) point left by the model's
    own keypoints and score lower flipped: kept as weak candidates only."""
    for name in ("keshav_1.jpg", "votT_19.jpg", "votT_3.jpg"):
        cands = detector.candidates(_load(OBJECTS / "plate" / name))
        top = max(cands, key=lambda c: c.first_score)
        assert top.first_score >= 0.38 and abs(top.muzzle_deg) > 150, name
        assert top.region.score < detector.threshold and "not gun-like" in top.region.label
    # A right-pointing gun is not touched.
    (c,) = [c for c in detector.candidates(_load(OBJECTS / "gun" / "basegun_revolver.jpg"))
            if c.region.score >= detector.threshold]
    assert c.region.score == c.first_score and abs(c.muzzle_deg) < 90


def test_markings_on_a_weak_gun_shape() -> None:
    from sanitize.detect.weapons import Candidate, markings
    from sanitize.types import Box

    gun = Candidate(Region("weapon", Box(0, 0, 500, 200), 0.21, "weapons", "weapon"), 0.21, 176)
    engraving = Region("plate", Box(300, 100, 400, 130), 0.5, "plates", "plate-shape")
    frame = Region("plate", Box(150, 120, 250, 150), 0.4, "plates", "plate-haar")
    elsewhere = Region("plate", Box(600, 300, 700, 330), 0.9, "plates", "plate-text")
    promoted, plates = markings([gun], [engraving, frame, elsewhere], 0.38)
    assert [(r.kind, r.score) for r in promoted] == [("weapon", 0.38)]
    assert plates == [elsewhere]
    # A registration number on the object: a vehicle, nothing changes.
    number = Region("plate", Box(50, 150, 140, 180), 0.9, "plates", "plate-text")
    promoted, plates = markings([gun], [engraving, number], 0.38)
    assert promoted == [] and plates == [engraving, number]
    # Only a Haar frame (nothing read) on a weak shape: stays a plate, no weapon.
    promoted, plates = markings([gun], [frame], 0.38)
    assert promoted == [] and plates == [frame]
    # A candidate the second look demoted is not promoted back.
    demoted = Candidate(Region("weapon", gun.region.box, 0.27, "weapons", "w"), 0.47, 175)
    assert markings([demoted], [engraving], 0.38) == ([], [engraving])
