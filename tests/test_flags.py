"""Plates (clause 30), documents (clause 12), uniforms (2, 3, 31), seized items (28)
on the shared corpus.

Plate ground truth (objects/plate, checked by eye on drawn boxes, 2026-11-28): the
boxes below cover each visible plate, including showroom/vanity plates (SWIFT,
ALTO, KITUP, nano …) and two-line plates.  votT_22 (Audi at a show) has no plate;
votT_32's plate was already blurred at the source: both count as misses, so the
best possible score is 37/39.  A plate counts as found when one region covers
>= 60 % of its box.

Documents: the 5 doc/ crops (English, Latin, Chinese+numbers, a table,
Devanagari) must be flagged.  gun/basegun_noWeapon.JPG is a ministry letterhead
(pure text) and is not counted as a false flag.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import shared_paths
from PIL import Image, ImageOps

from sanitize.detect.documents import DocumentDetector
from sanitize.detect.faces import FaceDetector
from sanitize.detect.plates import PlateDetector, plate_text_score
from sanitize.detect.seized import SeizedItemsDetector
from sanitize.detect.text import DET_MODEL, REC_MODEL, TextBox, detect_text, text_regions
from sanitize.detect.uniforms import UniformDetector, body_people, faces_in_uniform, torso_box
from sanitize.policy import load_policy
from sanitize.types import Box, Region

CORPUS = shared_paths.CORPUS
OBJECTS = CORPUS / "objects"
FACES = CORPUS / "faces" / "images"
needs_corpus = pytest.mark.needs_corpus

PLATES: dict[str, list[list[int]]] = {
    "keshav_1.jpg": [[248, 375, 398, 432]],
    "keshav_2.jpg": [[616, 1593, 1077, 1685]],
    "keshav_3.jpg": [[316, 327, 499, 368]],
    "keshav_4.jpg": [[706, 720, 1052, 798]],
    "oim_car_image.jpg": [[17, 321, 180, 389]],
    "votT_1.jpg": [[244, 197, 367, 229]],
    "votT_10.jpg": [[500, 320, 611, 347], [180, 226, 296, 310]],
    "votT_11.jpg": [[248, 512, 398, 550]],
    "votT_12.jpg": [[1440, 802, 1619, 896]],
    "votT_13.jpg": [[604, 476, 830, 527]],
    "votT_14.jpg": [[407, 191, 458, 211]],
    "votT_15.jpg": [[505, 615, 724, 656]],
    "votT_16.jpg": [[404, 327, 478, 348]],
    "votT_17.jpg": [[482, 347, 535, 384]],
    "votT_18.jpg": [[559, 263, 629, 288]],
    "votT_19.jpg": [[498, 652, 1058, 747]],
    "votT_2.jpg": [[248, 307, 436, 357]],
    "votT_20.jpg": [[478, 321, 823, 552]],
    "votT_21.jpg": [[288, 750, 469, 798]],
    "votT_22.jpg": [],
    "votT_23.jpg": [[446, 236, 544, 292]],
    "votT_24.jpg": [[481, 373, 789, 464]],
    "votT_25.jpg": [[301, 415, 736, 487]],
    "votT_26.jpg": [[1677, 1673, 2509, 1855]],
    "votT_27.jpg": [[294, 351, 432, 410]],
    "votT_28.jpg": [[371, 321, 746, 410]],
    "votT_29.jpg": [[239, 235, 290, 255]],
    "votT_3.jpg": [[342, 342, 424, 371], [130, 248, 184, 265]],
    "votT_30.jpg": [[438, 756, 798, 826]],
    "votT_31.jpg": [[322, 201, 388, 222]],
    "votT_32.jpg": [],
    "votT_33.jpg": [[397, 425, 1190, 723], [1443, 195, 1515, 255]],
    "votT_34.jpg": [[327, 171, 474, 204]],
    "votT_4.jpg": [[53, 76, 109, 90]],
    "votT_5.jpg": [[111, 358, 168, 382]],
    "votT_6.jpg": [[225, 140, 305, 163]],
    "votT_7.jpg": [[248, 343, 385, 367]],
    "votT_8.jpg": [[365, 342, 692, 397]],
    "votT_9.jpg": [[269, 362, 498, 394]],
}
LETTERHEAD = "basegun_noWeapon.JPG"


def _load(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(ImageOps.exif_transpose(im).convert("RGB"))


def _images(folder: Path) -> list[Path]:
    exts = {".jpg", ".jpeg", ".png"}
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in exts)


def _covers(regions: list[Region], gt: list[int], frac: float = 0.6) -> bool:
    g = Box(*map(float, gt))
    for r in regions:
        ix = max(0.0, min(r.box.x2, g.x2) - max(r.box.x1, g.x1))
        iy = max(0.0, min(r.box.y2, g.y2) - max(r.box.y1, g.y1))
        if ix * iy >= frac * g.area:
            return True
    return False


# --- fast checks (no corpus sweep) -------------------------------------------------


@pytest.mark.parametrize("text", [
    "UP 32 AB 1234", "UP32AB1234", "DL2CAY3180", "MH 04 JM8765", "KL:54·A-2670",
    "HR26CNO821",  # O for 0
    "U P3Z AB I234",  # Z for 2, I for 1
    "22BH1234AA",  # Bharat series
    "KA01 MS 2658", "DL·1N4268",
])
def test_plate_strings(text: str) -> None:
    assert plate_text_score(text) == 1.0


@pytest.mark.parametrize("text", ["SCORPIO", "KEEPDISTANCE", "www.orbiz.in", "BSF", "1800ISZ",
                                  "Top25CarsWithBestFuel", "8281334646", "HRIOt aRIat"])
def test_not_plate_strings(text: str) -> None:
    assert plate_text_score(text) == 0.0


def test_partial_plate_string_is_weaker() -> None:
    assert 0 < plate_text_score("PY01") < 1.0


def test_model_provenance() -> None:
    import rapidocr_onnxruntime

    from sanitize.hashing import sha256_file

    folder = Path(rapidocr_onnxruntime.__file__).resolve().parent / "models"
    assert sha256_file(folder / "ch_PP-OCRv4_det_infer.onnx") == DET_MODEL.sha256
    assert sha256_file(folder / "ch_PP-OCRv4_rec_infer.onnx") == REC_MODEL.sha256
    assert DET_MODEL.version == "1.4.4" and DET_MODEL.licence == "Apache-2.0"
    names = [m.name for m in PlateDetector().models()]
    assert names[:2] == [DET_MODEL.name, REC_MODEL.name] and "haarcascade" in names[2]
    assert [m.name for m in DocumentDetector().models()] == [DET_MODEL.name]
    (hog,) = UniformDetector().models()  # the people detector compiled into OpenCV
    assert hog.name == "opencv-hog-default-people" and len(hog.sha256) == 64
    assert UniformDetector(body=False).models() == []


def test_tiny_and_blank_pictures() -> None:
    assert detect_text(np.zeros((4, 4, 3), np.uint8)) == []
    blank = np.full((120, 200, 3), 200, np.uint8)
    assert DocumentDetector().detect(blank) == []
    assert PlateDetector().detect(blank) == []
    assert UniformDetector().detect(blank, []) == []
    assert SeizedItemsDetector().detect(blank, []) == []


# Showroom/vanity plates with no registration number (issue 12): read correctly but
# digit-free, so only the plate's shape can tell them from a sign or an engraving.
SHOWROOM = ["oim_car_image.jpg", "votT_12.jpg", "votT_3.jpg", "votT_5.jpg"]  # Passat CC, KITUP,
# nano (dark plate), a Chinese dealer plate


@needs_corpus
@pytest.mark.parametrize("name", SHOWROOM)
def test_digit_free_showroom_plate_is_found(name: str) -> None:
    rgb = _load(OBJECTS / "plate" / name)
    regions = PlateDetector(use_haar=False).detect(rgb)
    assert any(_covers(regions, g) for g in PLATES[name]), regions


@needs_corpus
@pytest.mark.parametrize(("path", "text_box"), [
    ("gun/basegun_pistolet_semi_auto.jpg", [173, 148, 260, 163]),  # MOSSBERG engraving
    ("gun/basegun_pompe.jpg", [264, 317, 336, 329]),  # DAVIDSON'S engraving
    ("doc/rapidocr_ch_en_num.jpg", [68, 362, 152, 384]),  # a Chinese line on a leaflet
    ("doc/rapidocr_devanagari.jpg", [31, 212, 240, 257]),
])
def test_digit_free_lines_off_plates_are_not_plates(path: str, text_box: list[int]) -> None:
    """Engravings on a gun would become the gun's markings, lines of a document a
    plate mask on it: a digit-free line needs a plate round it."""
    rgb = _load(OBJECTS / path)
    text = detect_text(rgb)
    regions = PlateDetector(use_haar=False).detect(rgb, text)
    assert not _covers(regions, text_box, 0.5), regions


def test_faint_text_is_read_again_closer() -> None:
    """The half-hidden plate of the car behind in the sample (~27 x 11 px) peaks at
    0.23 text probability: only the closer look at that faint spot finds it."""
    rgb = _load(Path(__file__).resolve().parents[1] / "samples" / "vehicle_check.jpg")
    plate = [230, 225, 258, 237]
    text = detect_text(rgb)
    assert any(plate[0] < s.cx < plate[2] and plate[1] < s.cy < plate[3]
               for s in text.faint), text.faint
    assert _covers(PlateDetector(use_haar=False).detect(rgb, text), plate)
    assert not _covers(PlateDetector(use_haar=False).detect(rgb, list(text)), plate)


@needs_corpus
def test_documents_including_devanagari() -> None:
    det = DocumentDetector()
    for p in _images(OBJECTS / "doc"):
        rgb = _load(p)
        text = detect_text(rgb)
        regions = det.detect(rgb, text)
        assert len(regions) == 1 and regions[0].kind == "document", p.name
        assert regions[0].score >= 0.6, p.name
    # The Devanagari page is found by the detector alone, no recognition needed.
    dev = _load(OBJECTS / "doc" / "rapidocr_devanagari.jpg")
    text = detect_text(dev)
    assert len(text) >= 5
    assert all(r.kind == "text" for r in text_regions(text))
    h, w = dev.shape[:2]
    assert all(0 <= t.box.x1 < t.box.x2 <= w and 0 <= t.box.y1 < t.box.y2 <= h for t in text)


def test_uniform_colour_rules() -> None:
    face = Region("face", Box(80, 20, 120, 70), 0.9, "test")
    khaki = np.full((400, 200, 3), (195, 176, 128), np.uint8)  # police khaki shirt
    skin = np.array([200, 150, 120], np.uint8)
    khaki[20:70, 80:120] = skin
    assert UniformDetector().detect(khaki, [face])[0].kind == "uniform"
    blue = np.full((400, 200, 3), (40, 60, 160), np.uint8)  # blue shirt
    blue[20:70, 80:120] = skin
    assert UniformDetector().detect(blue, [face]) == []
    t = torso_box(face.box, 200, 400)
    assert t.y1 > face.box.y2 and t.w == pytest.approx(120)


def test_uniform_region_is_the_person_and_names_its_faces() -> None:
    face = Region("face", Box(80, 20, 120, 70), 0.9, "test")
    khaki = np.full((400, 200, 3), (195, 176, 128), np.uint8)
    khaki[20:70, 80:120] = (200, 150, 120)
    (u,) = UniformDetector(body=False).detect(khaki, [face])
    assert u.box.y1 < face.box.y1 and u.box.y2 > face.box.y2 + 3 * face.box.h  # head to knees
    assert "person found by face" in u.label
    other = Box(10, 300, 30, 330)  # a face below, not this person's head
    assert faces_in_uniform([face.box, other], [u]) == [True, False]
    assert faces_in_uniform([face.box], []) == [False]


def _khaki_person(trousers: tuple[int, int, int], height: int = 400) -> np.ndarray:
    """A standing person under a face at (80, 20)-(120, 70): a khaki shirt with a
    white vest showing (a moderate, not overwhelming, khaki share) over `trousers`."""
    rgb = np.full((height, 200, 3), (235, 235, 235), np.uint8)  # a white wall
    rgb[70:255, 20:180] = (195, 176, 128)
    rgb[70:255, 85:115] = (250, 250, 250)  # the vest
    rgb[70:255, 35:45] = (250, 250, 250)
    rgb[70:255, 155:165] = (250, 250, 250)
    rgb[255:, 40:160] = trousers
    rgb[20:70, 80:120] = (200, 150, 120)  # the face
    return rgb


def test_uniform_needs_matching_trousers_when_legs_show() -> None:
    """Issue 12: a khaki-ish top over jeans (the beige coat in ultra_bus.jpg) is not
    a uniform; the same top over khaki trousers is.  With the legs out of the
    picture, the torso alone decides, and a moderate share is not enough."""
    face = Region("face", Box(80, 20, 120, 70), 0.9, "test")
    ud = UniformDetector(body=False)
    assert [r.kind for r in ud.detect(_khaki_person((195, 176, 128)), [face])] == ["uniform"]
    assert ud.detect(_khaki_person((40, 60, 110)), [face]) == []  # blue jeans
    assert ud.detect(_khaki_person((195, 176, 128))[:270], [face]) == []  # legs cut off


def test_uniform_torso_of_someone_nearer_is_not_looked_at() -> None:
    """A small face in a crowd: the torso box under it holds a nearer, bigger face's
    owner (fans_crowd.jpg, audience_profiles.jpg); that person is judged through
    their own face, not charged to the small one."""
    rgb = np.full((500, 200, 3), (195, 176, 128), np.uint8)  # khaki-clad crowd
    rgb[:46] = (235, 235, 235)
    small = Region("face", Box(90, 20, 110, 45), 0.9, "test")
    near = Region("face", Box(75, 90, 125, 150), 0.9, "test")
    rgb[20:45, 90:110] = rgb[90:150, 75:125] = (200, 150, 120)
    ud = UniformDetector(body=False)
    assert ud.detect(rgb, [small]) != []  # alone, its torso box is all khaki
    assert all(r.box.y1 > small.box.y2 for r in ud.detect(rgb, [small, near]))


def test_body_people_on_tiny_and_blank_pictures() -> None:
    assert body_people(np.zeros((40, 30, 3), np.uint8)) == []  # HOG raises on these
    assert body_people(np.full((300, 200, 3), 128, np.uint8)) == []


@needs_corpus
def test_masked_faces_uniform_seen_by_body_shape() -> None:
    """Standing people in uniform with no face visible (faces masked by the tool's
    own redaction): the HOG body path still finds the uniform."""
    from sanitize.geometry import cover_box
    from sanitize.redact import mask_boxes

    rgb = _load(OBJECTS / "uniform" / "rn_test1.jpg")
    h, w = rgb.shape[:2]
    faces = FaceDetector().detect(rgb)
    masked = mask_boxes(rgb.copy(), [cover_box("face", f.box, w, h) for f in faces])
    ud = UniformDetector()
    assert not FaceDetector().detect(masked)
    found = [r for r in ud.detect(masked, []) if r.score >= 0.5]
    assert found and all("body shape" in r.label for r in found)


@needs_corpus
@pytest.mark.parametrize("name", [
    "faces/images/audience_profiles.jpg",  # grey-olive sweaters behind nearer people
    "faces/images/fans_crowd.jpg",  # a tiny face over a fan's beige shirt
    "faces/images/friends_table.jpg",  # grey shirt, brown wall and table as "camouflage"
    "objects/person/ultra_bus.jpg",  # a beige coat over jeans
])
def test_ordinary_clothes_no_uniform_flag(name: str) -> None:
    """Issue 12: the corpus' ordinary-clothes pictures that used to be flagged."""
    rgb = _load(CORPUS / name)
    act = load_policy().rules["uniform"].threshold
    found = [r for r in UniformDetector().detect(rgb, FaceDetector().detect(rgb)) if r.score >= act]
    assert not found, [(r.score, r.label) for r in found]


def test_seized_rules() -> None:
    sheet = np.full((300, 400, 3), (40, 70, 140), np.uint8)
    for x in (40, 160, 280):  # three dark items on a blue cloth
        sheet[120:180, x:x + 70] = (30, 30, 30)
    gun = Region("weapon", Box(40, 120, 110, 180), 0.7, "test")
    gun2 = Region("weapon", Box(160, 120, 230, 180), 0.7, "test")
    det = SeizedItemsDetector()
    assert det.detect(sheet, [gun])[0].kind == "seized_items"  # weapon + objects
    assert det.detect(sheet, [gun, gun2])[0].score >= 0.8  # two weapons, flat
    plain = np.full((300, 400, 3), (40, 70, 140), np.uint8)
    plain[120:180, 40:110] = (30, 30, 30)
    assert det.detect(plain, [gun]) == []  # one weapon, nothing else: the weapon flag only
    tag = Region("text", Box(200, 200, 300, 220), 0.8, "text")
    assert det.detect(plain, [gun, tag])[0].kind == "seized_items"  # weapon + a label
    plate = Region("plate", tag.box, 0.9, "plates")
    assert det.detect(plain, [gun, tag, plate]) == []  # a number plate is not a label
    weak = Region("weapon", gun.box, 0.42, "test")
    assert det.detect(sheet, [weak]) == []  # a lone weak hit is not enough
    # A rifle across a person's torso is carried, not displayed.
    face = Region("face", Box(60, 40, 90, 80), 0.9, "test")
    assert det.detect(sheet, [gun, face]) == []
    assert det.detect(sheet, [face]) == []


# --- corpus sweeps -------------------------------------------------------------------


@pytest.fixture(scope="module")
def plate_results() -> dict[str, tuple[list[Region], list[TextBox]]]:
    det = PlateDetector()
    out = {}
    others = [OBJECTS / f for f in ("gun", "doc", "uniform")]
    for folder in (OBJECTS / "plate", OBJECTS / "person", FACES, *others):
        for p in _images(folder):
            rgb = _load(p)
            text = detect_text(rgb)
            out[f"{folder.name}/{p.name}"] = (det.detect(rgb, text), text)
    return out


@pytest.mark.slow
@needs_corpus
def test_plates_found(plate_results) -> None:
    found = []
    for name, gts in PLATES.items():
        regions, _ = plate_results[f"plate/{name}"]
        assert all(r.kind == "plate" and 0 < r.score <= 1 for r in regions)
        if any(_covers(regions, g) for g in gts):
            found.append(name)
    print(f"plates: {len(found)}/39 photos have a region covering a plate")
    # Measured 37/39, the best possible (2026-12-01, issue 12: digit-free showroom
    # plates framed by a plate); before 33/39 (2026-11-28); target >= 25.
    assert len(found) >= 35


@pytest.mark.slow
@needs_corpus
def test_plate_false_regions_on_people(plate_results) -> None:
    people = {k: v[0] for k, v in plate_results.items()
              if k.split("/")[0] in ("person", FACES.name)}
    n = sum(len(r) for r in people.values())
    pictures = sum(bool(r) for r in people.values())
    print(f"false plate regions on {len(people)} people photos: {n} in {pictures} pictures")
    assert n <= 6 and pictures <= 3  # measured 4 regions in 2 pictures


@pytest.mark.slow
@needs_corpus
def test_plate_false_regions_on_guns_documents_uniforms(plate_results) -> None:
    """A plate region on a gun's engraving becomes its markings, on a document a mask
    over what review should read: the digit-free plate cue must add none."""
    others = {k: v[0] for k, v in plate_results.items()
              if k.split("/")[0] in ("gun", "doc", "uniform")}
    n = sum(len(r) for r in others.values())
    pictures = sum(bool(r) for r in others.values())
    framed = [k for k, r in others.items() if any(x.label == "plate-frame" for x in r)]
    print(f"false plate regions on {len(others)} gun/doc/uniform photos: {n} in {pictures}")
    assert not framed, framed
    assert n <= 11 and pictures <= 7  # measured 9 regions in 6 pictures, as before


@pytest.mark.slow
@needs_corpus
def test_document_false_flags() -> None:
    det = DocumentDetector()
    flagged = []
    others = [OBJECTS / f for f in ("plate", "person", "uniform", "gun")] + [FACES]
    n = 0
    for folder in others:
        for p in _images(folder):
            if p.name == LETTERHEAD:
                continue
            n += 1
            if det.detect(_load(p)):
                flagged.append(f"{folder.name}/{p.name}")
    print(f"document false flags: {len(flagged)}/{n}: {flagged}")
    assert len(flagged) <= 2  # measured 1/83 (a gun with a printed label)


@pytest.mark.slow
@needs_corpus
def test_uniform_flag_rates() -> None:
    fd, ud = FaceDetector(), UniformDetector()
    act = load_policy().rules["uniform"].threshold  # weaker hints are reported, not acted on

    def rates(paths: list[Path]) -> tuple[int, int, int, int]:
        pics = torsos = flagged_pics = flagged_torsos = 0
        for p in paths:
            rgb = _load(p)
            faces = fd.detect(rgb)
            regions = [r for r in ud.detect(rgb, faces) if r.score >= act]
            pics += 1
            torsos += sum(f.box.w >= ud.min_face_px for f in faces)
            flagged_pics += bool(regions)
            flagged_torsos += len(regions)
        return flagged_pics, pics, flagged_torsos, torsos

    u = rates(_images(OBJECTS / "uniform"))
    c = rates(_images(FACES) + _images(OBJECTS / "person"))
    print(f"uniform photos flagged {u[0]}/{u[1]}, torsos {u[2]}/{u[3]}; "
          f"civilian photos flagged {c[0]}/{c[1]}, torsos {c[2]}/{c[3]}")
    # Measured 2026-12-01 (issue 12: trousers must match, no torso charged to a
    # smaller face behind a nearer one): 7/7 photos, 33/50 torsos; civilians 0/16
    # photos, 0/258 torsos.  Before: 7/7, 36/50 (38 at any score); 4/16, 9/258.
    assert u[0] >= 6 and u[2] >= 0.6 * u[3]
    assert c[0] <= 1 and c[2] <= 3


@pytest.mark.slow
@needs_corpus
def test_one_text_pass_serves_plates_and_documents() -> None:
    rgb = _load(OBJECTS / "plate" / "keshav_1.jpg")
    t0 = time.perf_counter()
    text = detect_text(rgb)
    t_det = time.perf_counter() - t0
    plates = PlateDetector(use_haar=False).detect(rgb, text)
    docs = DocumentDetector().detect(rgb, text)
    assert plates and not docs
    assert t_det < 10
