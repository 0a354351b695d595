"""The report a person reads: one why line per file, clause texts once."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sanitize.config import Settings
from sanitize.pipeline import process_file
from sanitize.policy import load_policy
from sanitize.report.writer import write_reports
from sanitize.summary import why
from sanitize.types import Status

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("out")
    results = [process_file(SAMPLES / n, Path(n), out, Settings())
               for n in ("seized_revolver.jpg", "gps_camera.jpg")]
    write_reports(out, results, [])
    return out, {r.input: r for r in results}


def test_why_puts_the_flag_first_then_what_was_removed(run) -> None:
    _, results = run
    gun, camera = results["seized_revolver.jpg"], results["gps_camera.jpg"]
    assert gun.status is Status.REVIEW
    assert re.match(r"weapon 0\.\d\d", why(gun)), why(gun)
    assert camera.status is Status.SAFE
    assert "gps" in why(camera) and "weapon" not in why(camera)


def test_each_row_has_its_why_and_each_clause_text_appears_once(run) -> None:
    out, results = run
    html = (out / "report.html").read_text(encoding="utf-8")
    for r in results.values():
        assert f'<div class="why">{why(r)}</div>' in html
    clauses = load_policy(None).clauses
    cited = {c for r in results.values() for f in r.findings for c in f.clauses}
    assert {"28", "29"} <= cited
    for c in cited:
        assert html.count(clauses[c].en) == 1, c
        assert html.count(clauses[c].hi) == 1, c
    # Hindi renders on a PC without a Hindi font: the shipped font is embedded.
    assert "@font-face" in html and "data:font/woff2;base64," in html
    # Outputs are linked, relative to the report.
    assert 'href="review/seized_revolver.jpg"' in html


@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (/usr/bin/chromium)")
def test_the_demo_report_fits_two_screens(tmp_path: Path) -> None:
    out = tmp_path / "out"
    subprocess.run([sys.executable, "-m", "sanitize.cli", "run", str(SAMPLES), "-o", str(out),
                    "--no-progress"], check=False, capture_output=True, timeout=900)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        page.goto((out / "report.html").as_uri())
        height = page.evaluate("document.documentElement.scrollHeight")
        browser.close()
    assert height <= 2 * 768, height
    shutil.rmtree(out, ignore_errors=True)
