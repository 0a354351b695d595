"""The image core end to end on real camera/phone files and real faces."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import shared_paths
from PIL import Image, ImageOps

from sanitize.config import Settings
from sanitize.detect.faces import FaceDetector
from sanitize.detect.registry import get_detectors
from sanitize.geometry import cover_box
from sanitize.media import images
from sanitize.media.metadata import residual
from sanitize.media.probe import sniff
from sanitize.pipeline import process_file
from sanitize.plan import Decisions
from sanitize.redact import mask_boxes
from sanitize.render import PlanMasks, _on_masks
from sanitize.types import Box, FileResult, MediaKind, Status

CORPUS = shared_paths.CORPUS
DATA = shared_paths.DATA
LEAKCHECK = shared_paths.LEAKCHECK
IMAGE_EXT = {".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".heic", ".heif", ".bmp"}
FACES_ONLY = Settings(flags=False)


def sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


DATA_IMAGES = shared_paths.data_files("metadata", IMAGE_EXT)


@pytest.mark.parametrize("src", DATA_IMAGES, ids=lambda p: p.name)
def test_camera_image_leaves_no_metadata_and_stays_upright(src: Path, tmp_path: Path) -> None:
    _leaves_no_metadata(src, tmp_path)


@pytest.mark.needs_corpus
@pytest.mark.parametrize("src", shared_paths.corpus_files(
    CORPUS / "metadata", IMAGE_EXT, exclude={p.name for p in DATA_IMAGES}), ids=lambda p: p.name)
def test_corpus_image_leaves_no_metadata_and_stays_upright(src: Path, tmp_path: Path) -> None:
    _leaves_no_metadata(src, tmp_path)


def _leaves_no_metadata(src: Path, tmp_path: Path) -> None:
    before = sha(src)
    res = process_file(src, Path(src.name), tmp_path, FACES_ONLY)
    assert res.status in (Status.SAFE, Status.REVIEW), res.error
    out = tmp_path / res.output
    assert out.is_file()
    assert residual(out) == []
    lc = subprocess.run([sys.executable, str(LEAKCHECK), "--pair", str(src), str(out)],
                        capture_output=True, text=True, timeout=300)
    assert lc.returncode == 0, lc.stdout + lc.stderr
    assert sha(src) == before, "original modified"
    assert not any((tmp_path / ".tmp").iterdir()), "temp file left behind"


def test_metadata_found_is_reported_by_class_without_values(tmp_path: Path) -> None:
    src = DATA / "metadata" / "ian__DSCN0010.jpg"
    res = process_file(src, Path(src.name), tmp_path, FACES_ONLY)
    classes = {m.cls for m in res.metadata_removed}
    assert "gps" in classes
    gps_findings = [f for f in res.findings if f.kind == "metadata:gps"]
    assert gps_findings and gps_findings[0].clauses == ("29",)
    text = json.dumps(res.to_json())
    assert "43.46" not in text and "11.88" not in text  # the coordinates themselves never leak


def test_exif_orientation_is_applied_to_pixels(tmp_path: Path) -> None:
    src = DATA / "metadata" / "ian__portrait_6.jpg"
    with Image.open(src) as im:
        assert im.getexif().get(0x0112) == 6
        expected = np.asarray(ImageOps.exif_transpose(im).convert("RGB"), dtype=np.int16)
        stored_size = im.size
    res = process_file(src, Path(src.name), tmp_path, FACES_ONLY)
    with Image.open(tmp_path / res.output) as out:
        assert out.size == (stored_size[1], stored_size[0])
        assert 0x0112 not in out.getexif()
        got = np.asarray(out.convert("RGB"), dtype=np.int16)
    # Same picture, not a rotated or mirrored one.  Compared by correlation, since
    # the embedded colour profile is converted to sRGB (values shift, structure not).
    def corr(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.corrcoef(a.mean(axis=2).ravel(), b.mean(axis=2).ravel())[0, 1])

    assert corr(got, expected) > 0.97
    assert corr(got, expected[::-1, ::-1]) < 0.9


@pytest.mark.parametrize("src", [
    DATA / "metadata" / "ian__IMG_5195.HEIC",
    pytest.param(CORPUS / "metadata" / "ian__iphone_13_pro_max.HEIC",
                 marks=pytest.mark.needs_corpus),
], ids=lambda p: p.name)
def test_heic_becomes_upright_jpeg(src: Path, tmp_path: Path) -> None:
    name = src.name
    res = process_file(src, Path(name), tmp_path, FACES_ONLY)
    assert res.output and res.output.endswith(".jpg"), res.error
    assert sniff(tmp_path / res.output) == (MediaKind.IMAGE, "jpeg")


def test_faces_are_masked_and_not_found_again(tmp_path: Path) -> None:
    src = DATA / "faces" / "images" / "graduation_group.jpg"
    res = process_file(src, Path(src.name), tmp_path, FACES_ONLY)
    assert res.status is Status.SAFE, res.error
    faces = [f for f in res.findings if f.kind == "face"]
    assert len(faces) >= 30
    assert all(f.action == "blurred" and "27" in f.clauses for f in faces)
    out = images.decode(tmp_path / res.output, "jpeg", 10**9)
    assert _faces_left(out.rgb, res, FACES_ONLY) == []
    # Every ground-truth face region really changed (was masked), not just reported.
    gt = json.loads((DATA / "faces" / "ground_truth.json").read_text())[src.name]
    orig = images.decode(src, "jpeg", 10**9).rgb.astype(np.int16)
    for face in gt["faces"]:
        if face["ignore"]:
            continue
        x1, y1, x2, y2 = (round(v) for v in face["box"])
        a, b = orig[y1:y2, x1:x2], out.rgb[y1:y2, x1:x2].astype(np.int16)
        # Pixelation removes the within-cell detail: the high-frequency energy collapses.
        assert np.abs(np.diff(b, axis=1)).mean() < 0.5 * np.abs(np.diff(a, axis=1)).mean() + 1


def _faces_left(rgb: np.ndarray, res: FileResult, settings: Settings) -> list[tuple]:
    """What the pictures' face detector finds on a written picture, less what lies
    on the masks themselves (render._on_masks: the int8 detector fires on a few
    blurred ovals at 0.25-0.4; nothing of a face is left there)."""
    assert res.plan is not None
    boxes = PlanMasks(res.plan, Decisions()).boxes_for_frame(0)
    return [(r.detector, round(r.score, 2), r.box.as_list())
            for r in get_detectors(settings).faces.detect(rgb)
            if not _on_masks(r.box, boxes, settings.mask, rgb)]


def _inside(a: Box, b: Box) -> float:
    ix = max(0.0, min(a.x2, b.x2) - max(a.x1, b.x1))
    iy = max(0.0, min(a.y2, b.y2) - max(a.y1, b.y1))
    return ix * iy / max(1e-6, a.w * a.h)


@pytest.mark.parametrize("mask", ["blur", "pixelate"])
@pytest.mark.parametrize("src", [
    DATA / "faces" / "images" / "graduation_group.jpg",
    pytest.param(CORPUS / "faces" / "images" / "large_group.jpg", marks=pytest.mark.needs_corpus),
    pytest.param(CORPUS / "faces" / "images" / "fans_crowd.jpg", marks=pytest.mark.needs_corpus),
    pytest.param(CORPUS / "faces" / "hires" / "mosaic_4000x3000.jpg",
                 marks=[pytest.mark.slow, pytest.mark.needs_corpus]),
], ids=lambda p: p.name)
def test_a_mask_is_not_itself_found_as_a_face(src: Path, mask: str, tmp_path: Path) -> None:
    """One masking pass, no verify rounds: the reference detector (fp32 CenterFace
    and tiled yuface) must not fire on the masks (with 6 full-contrast cells it
    fired 58 times inside masks on these pictures; a true ellipse, 6-10 times on
    six crowds).  The pictures' int8 detector does fire on a few blurred ovals
    (2 of ~100 on large_group, 0.29-0.33): it is judged end to end, after the
    re-check's rounds (test_masked_crowds_come_out_safe_and_clean).  The 12 MP
    mosaic's blur masks are judged that way too."""
    if mask == "blur" and src.name.startswith("mosaic"):
        pytest.skip("judged end to end: test_blur_masks_leave_no_face_on_the_12mp_mosaic")
    reference = FaceDetector()
    rgb = images.decode(src, "jpeg", 10**9).rgb
    faces = reference.detect(rgb)
    h, w = rgb.shape[:2]
    covers = [cover_box("face", f.box, w, h) for f in faces]
    out = tmp_path / "masked.jpg"
    images.encode(mask_boxes(rgb.copy(), covers, mask), None, "jpeg", out,
                  Settings().jpeg_quality)
    again = reference.detect(images.decode(out, "jpeg", 10**9).rgb)
    # Blur's soft edge shows through a little: a detection straddling a mask's
    # border (60-90 % inside, scores 0.3-0.4 on crowds) sees original pixels and is
    # the verify round's to mask; what must never happen is the mask itself found.
    inside = 0.9 if mask == "blur" else 0.6
    on_masks = [r for r in again if max(_inside(r.box, c) for c in covers) > inside]
    assert len(faces) >= 30
    assert on_masks == [], [(r.detector, round(r.score, 2), r.box.as_list()) for r in on_masks]


@pytest.mark.needs_corpus
@pytest.mark.parametrize("mask", ["blur", "pixelate"])
@pytest.mark.parametrize("name", ["large_group.jpg", "fans_crowd.jpg"])
def test_masked_crowds_come_out_safe_and_clean(name: str, mask: str, tmp_path: Path) -> None:
    """End to end with the pictures' detector: the written crowd is safe, and that
    detector finds nothing on it but the masks' own cores (`_on_masks`)."""
    src = CORPUS / "faces" / "images" / name
    settings = Settings(flags=False, mask=mask)
    res = process_file(src, Path(name), tmp_path, settings)
    assert res.status is Status.SAFE, (res.error, [f.kind for f in res.findings])
    out = images.decode(tmp_path / res.output, "jpeg", 10**9)
    assert _faces_left(out.rgb, res, settings) == []


@pytest.mark.slow
@pytest.mark.needs_corpus
def test_blur_masks_leave_no_face_on_the_12mp_mosaic(tmp_path: Path) -> None:
    src = CORPUS / "faces" / "hires" / "mosaic_4000x3000.jpg"
    res = process_file(src, Path(src.name), tmp_path, Settings(flags=False, mask="blur"))
    assert res.status is Status.SAFE, (res.error, [f.kind for f in res.findings])
    out = images.decode(tmp_path / res.output, "jpeg", 10**9)
    assert _faces_left(out.rgb, res, Settings(flags=False, mask="blur")) == []


@pytest.mark.parametrize("mask", ["pixelate", "solid"])
def test_other_masks_also_hide_faces(mask: str, tmp_path: Path) -> None:
    src = DATA / "faces" / "images" / "obama_biden_stage.jpg"
    settings = Settings(flags=False, mask=mask)
    res = process_file(src, Path(src.name), tmp_path, settings)
    assert res.status is Status.SAFE, res.error
    out = images.decode(tmp_path / res.output, "jpeg", 10**9)
    assert _faces_left(out.rgb, res, settings) == []


def _write_bad_inputs(d: Path) -> dict[str, str]:
    """name → words the error must contain."""
    good = (DATA / "metadata" / "ian__DSCN0010.jpg").read_bytes()
    (d / "empty.jpg").write_bytes(b"")
    (d / "truncated.jpg").write_bytes(good[: len(good) // 3])
    (d / "random.jpg").write_bytes(np.random.default_rng(1).bytes(5000))
    (d / "notes.png").write_text("not a picture at all")
    # A real PNG header declaring 100000 x 100000 pixels: a decompression bomb.
    Image.new("L", (1, 1)).save(d / "bomb.png")
    data = bytearray((d / "bomb.png").read_bytes())
    data[16:24] = (100000).to_bytes(4, "big") * 2
    data[29:33] = zlib.crc32(bytes(data[12:29])).to_bytes(4, "big")  # a valid IHDR
    (d / "bomb.png").write_bytes(bytes(data))
    return {"empty.jpg": "empty", "truncated.jpg": "decode", "random.jpg": "not a supported",
            "notes.png": "not a supported", "bomb.png": "limit"}


def test_bad_inputs_get_a_clear_error_and_no_output(tmp_path: Path) -> None:
    src_dir = tmp_path / "in"
    src_dir.mkdir()
    expected = _write_bad_inputs(src_dir)
    out = tmp_path / "out"
    for name, words in expected.items():
        res = process_file(src_dir / name, Path(name), out, FACES_ONLY)
        assert res.status is Status.ERROR, name
        assert words in res.error.lower(), (name, res.error)
        assert "Traceback" not in res.error and "\n" not in res.error
        assert res.output is None
    assert not (out / "safe").exists() and not (out / "review").exists()
    assert not (out / ".tmp").exists() or not any((out / ".tmp").iterdir())


def test_content_sniffing_ignores_the_extension(tmp_path: Path) -> None:
    src = tmp_path / "really_a_jpeg.png"
    shutil.copy(DATA / "metadata" / "ian__DSCN0010.jpg", src)
    assert sniff(src) == (MediaKind.IMAGE, "jpeg")
    res = process_file(src, Path(src.name), tmp_path / "out", FACES_ONLY)
    # The extension changes (.png → .jpg), so the old one joins the stem (sanitize.naming).
    assert res.output == "safe/really_a_jpeg-png.jpg"
