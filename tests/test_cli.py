"""The command-line contract: exit codes, folder mirroring, reports, the read-only gate."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import shared_paths
from click.testing import CliRunner

from sanitize.cli import main

GPS_JPG = shared_paths.DATA / "metadata" / "ian__DSCN0010.jpg"
FACES_JPG = shared_paths.DATA / "faces" / "images" / "obama_biden_stage.jpg"


def invoke(*args: str):
    return CliRunner().invoke(main, [*args], catch_exceptions=False)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    d = tmp_path / "in"
    (d / "patrol" / "day 2").mkdir(parents=True)
    shutil.copy(GPS_JPG, d / "patrol" / "camera.jpg")
    shutil.copy(FACES_JPG, d / "patrol" / "day 2" / "गिरफ्तारी.jpg")
    return d


def test_run_mirrors_folders_and_exits_0_when_all_safe(folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    res = invoke("run", str(folder), "-o", str(out), "--no-flags", "--no-progress", "-j", "1")
    assert res.exit_code == 0, res.output
    assert (out / "safe" / "patrol" / "camera.jpg").is_file()
    assert (out / "safe" / "patrol" / "day 2" / "गिरफ्तारी.jpg").is_file()
    report = json.loads((out / "report.json").read_text())
    assert {f["status"] for f in report["files"]} == {"safe"}
    for f in report["files"]:
        for finding in f["findings"]:
            assert {"kind", "clauses", "confidence"} <= finding.keys()
    assert "गिरफ्तारी" in (out / "report.html").read_text(encoding="utf-8")


def test_run_exit_2_when_a_file_fails_and_the_rest_still_done(folder: Path, tmp_path: Path) -> None:
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0garbage")
    out = tmp_path / "out"
    res = invoke("run", str(folder), "-o", str(out), "--no-flags", "--no-progress", "-j", "1")
    assert res.exit_code == 2
    assert "broken.jpg" in res.output and "Traceback" not in res.output
    report = json.loads((out / "report.json").read_text())
    by_input = {f["input"]: f for f in report["files"]}
    assert by_input["broken.jpg"]["status"] == "error" and by_input["broken.jpg"]["error"]
    assert by_input["patrol/camera.jpg"]["status"] == "safe"


def test_report_html_escapes_file_names(tmp_path: Path) -> None:
    # '/' cannot appear in a file name, so the closing tag is split across a folder.
    d = tmp_path / "in"
    hostile = d / "<script>alert(1)<"
    hostile.mkdir(parents=True)
    shutil.copy(GPS_JPG, hostile / "script>.jpg")
    out = tmp_path / "out"
    invoke("run", str(d), "-o", str(out), "--no-flags", "--no-progress", "-j", "1")
    html = (out / "report.html").read_text()
    assert "<script>alert(1)</script>" not in html
    assert "<script>alert(1)<" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_rerun_on_same_out_does_not_process_own_outputs(folder: Path) -> None:
    out = folder / "sanitized"  # OUT inside the input folder
    invoke("run", str(folder), "-o", str(out), "--no-flags", "--no-progress", "-j", "1")
    invoke("run", str(folder), "-o", str(out), "--no-flags", "--no-progress", "-j", "1")
    report = json.loads((out / "report.json").read_text())
    assert sorted(f["input"] for f in report["files"]) == [
        "patrol/camera.jpg", "patrol/day 2/गिरफ्तारी.jpg"]


def test_check_refuses_originals_and_passes_sanitized_outputs(folder: Path, tmp_path: Path) -> None:
    original = folder / "patrol" / "camera.jpg"
    before = hashlib.sha256(original.read_bytes()).hexdigest()
    res = invoke("check", str(original), "--no-flags")
    assert res.exit_code == 1 and "gps" in res.output
    assert hashlib.sha256(original.read_bytes()).hexdigest() == before

    faces = folder / "patrol" / "day 2" / "गिरफ्तारी.jpg"
    res = invoke("check", str(faces), "--no-flags", "--all", "--json")
    assert res.exit_code == 1
    doc = json.loads(res.output)
    assert doc["files"][0]["safe"] is False
    assert any("face" in p for p in doc["files"][0]["problems"])

    out = tmp_path / "out"
    invoke("run", str(folder), "-o", str(out), "--no-flags", "--no-progress", "-j", "1")
    outputs = sorted(str(p) for p in (out / "safe").rglob("*.jpg"))
    res = invoke("check", *outputs, "--no-flags")
    assert res.exit_code == 0, res.output


def test_check_exit_2_for_unreadable(tmp_path: Path) -> None:
    bad = tmp_path / "x.jpg"
    bad.write_bytes(b"")
    res = invoke("check", str(bad))
    assert res.exit_code == 2 and "empty" in res.output


def test_inspect_lists_metadata_classes_and_faces() -> None:
    res = invoke("inspect", str(GPS_JPG), "--json")
    doc = json.loads(res.output)
    assert "gps" in doc["metadata_classes"] and "device" in doc["metadata_classes"]
    res = invoke("inspect", str(FACES_JPG), "--json")
    assert json.loads(res.output)["faces_found"] >= 2


def test_check_refuses_on_metadata_without_searching_pixels_unless_all(
        folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A gate only has to refuse: metadata is enough, and costs no detector run."""
    from sanitize.detect.registry import Detectors

    original = folder / "patrol" / "camera.jpg"
    calls: list[int] = []
    real = Detectors.analyse

    def counted(self: Detectors, rgb: object) -> list:
        calls.append(1)
        return real(self, rgb)

    monkeypatch.setattr(Detectors, "analyse", counted)
    res = invoke("check", str(original), "--no-flags", "--json")
    doc = json.loads(res.output)["files"][0]
    assert res.exit_code == 1 and not doc["safe"] and "gps" in " ".join(doc["problems"])
    assert doc["pixels_searched"] is False and calls == []
    res = invoke("check", str(original), "--no-flags", "--all", "--json")
    doc = json.loads(res.output)["files"][0]
    assert res.exit_code == 1 and doc["pixels_searched"] is True and calls == [1]
