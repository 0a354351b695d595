"""The review page in a real browser: Debian's Chromium driven by Playwright.

The server is the real `sanitize review` on a real run folder (`sanitize run` over two
samples, a short clip and a police team photo): a group of faces that went to safe/, a
revolver that went to review/ (weapon flag), a video, and officers in uniform (clause 27).
The page is used as a person would: the mouse keeps faces and draws boxes, the keyboard
approves, undoes and steps frames. Screenshots go to the test's tmp folder; with
SANITIZE_UPDATE_SCREENSHOTS=1 those of the first test replace the README's
docs/review-en.png, docs/review-hi.png and docs/review-box-edit.png (look at them
before committing).

Playwright only drives /usr/bin/chromium (never `playwright install`); the tests skip only
where that browser is absent.
"""

from __future__ import annotations

import io
import json
import os
import queue
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import shared_paths
import videoclips
from PIL import Image

CHROMIUM = Path("/usr/bin/chromium")
REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "samples"
DOCS = REPO / "docs"
# Flags that keep Chromium from reaching out to Google services (there is no network);
# /dev/shm is small in containers.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
]
VIEWPORT = {"width": 1360, "height": 820}
TEAM_PHOTO = shared_paths.DATA / "objects" / "uniform" / "isf_jk_police_test.jpg"

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="browser tests need Debian's Chromium at /usr/bin/chromium (apt-get install chromium)",
)


@dataclass
class Server:
    url: str  # as printed, with the token
    base: str  # http://HOST:PORT
    token: str
    proc: subprocess.Popen

    def api(self, method: str, path: str, body: dict | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {self.token}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=60) as r:
            return json.loads(r.read())

    def file(self, name: str) -> dict:
        files = self.api("GET", "/api/files")["files"]
        entry = next(f for f in files if Path(f["input"]).name == name)
        return self.api("GET", f"/api/files/{entry['id']}")


@dataclass
class PageLog:
    requests: list = field(default_factory=list)  # (url, headers)
    errors: list = field(default_factory=list)  # uncaught exceptions in the page


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("review_browser")
    src = root / "in"
    src.mkdir()
    for name in ("graduation_group.jpg", "seized_revolver.jpg"):
        shutil.copy2(SAMPLES / name, src / name)
    # A 15-frame clip with faces, for the video controls; officers in uniform, for the
    # clause 27 "good work" post (both from tests/data).
    videoclips.make_clip(src / "patrol.mp4", size=(320, 180), seconds=1.5, fps=10)
    shutil.copy2(TEAM_PHOTO, src / TEAM_PHOTO.name)
    out = root / "out"
    run = subprocess.run([sys.executable, "-m", "sanitize", "run", str(src), "-o", str(out)],
                         cwd=REPO, capture_output=True, text=True, timeout=600)
    assert (out / "review" / "seized_revolver.jpg").is_file(), run.stdout + run.stderr
    assert (out / "safe" / "graduation_group.jpg").is_file()
    return out


@pytest.fixture(scope="module")
def server(run_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    log = tmp_path_factory.mktemp("review_server") / "stderr.txt"
    with log.open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "sanitize", "review", str(run_folder), "--no-browser",
             "--port", "0", "--reviewer", "browser-test"],
            cwd=REPO, stdout=subprocess.PIPE, stderr=err, text=True)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: lines.put(proc.stdout.readline()), daemon=True).start()
    try:
        line = lines.get(timeout=60).strip()
    except queue.Empty:
        proc.kill()
        pytest.fail(f"`sanitize review` printed no URL: {log.read_text()[-2000:]}")
    assert line.startswith("review: http://"), (line, log.read_text()[-2000:])
    url = line.removeprefix("review: ")
    base, _, token = url.partition("/?token=")
    yield Server(url=url, base=base, token=token, proc=proc)
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[tuple[Any, PageLog]]:
    ctx = browser.new_context(viewport=VIEWPORT, device_scale_factor=1)
    pg = ctx.new_page()
    pg.set_default_timeout(20_000)
    log = PageLog()
    pg.on("request", lambda r: log.requests.append((r.url, r.headers)))
    pg.on("pageerror", lambda e: log.errors.append(str(e)))
    yield pg, log
    ctx.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if os.environ.get("SANITIZE_UPDATE_SCREENSHOTS") == "1":
        return DOCS
    return tmp_path_factory.mktemp("screenshots")


def save_png(pg: Any, path: Path) -> None:
    """A screenshot, quantised to 256 colours so the README's copy stays small."""
    pg.evaluate("document.querySelector('#toast').hidden = true")
    im = Image.open(io.BytesIO(pg.screenshot())).convert("RGB")
    im = im.quantize(colors=256, method=Image.Quantize.FASTOCTREE)  # keeps small colours
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path, optimize=True)


def screen_point(pg: Any, detail: dict, x: float, y: float) -> tuple[float, float]:
    """Where the picture's pixel (x, y) is on the screen."""
    bb = pg.locator("#frame").bounding_box()
    scale = bb["width"] / detail["width"]
    return bb["x"] + x * scale, bb["y"] + y * scale


def inside(box: list, x: float, y: float) -> bool:
    return box[0] <= x <= box[2] and box[1] <= y <= box[3]


def drag_box(pg: Any, detail: dict, box: list[int]) -> None:
    x0, y0 = screen_point(pg, detail, box[0], box[1])
    x1, y1 = screen_point(pg, detail, box[2], box[3])
    pg.mouse.move(x0, y0)
    pg.mouse.down()
    pg.mouse.move((x0 + x1) / 2, (y0 + y1) / 2, steps=4)
    pg.mouse.move(x1, y1, steps=4)
    pg.mouse.up()


def wait_box(pg: Any, server: Server, name: str, rid: str, want: list, tol: float) -> list:
    """The region's box once the page's edit has reached the server (or after 10 s)."""
    box: list = []
    for _ in range(100):  # the page posts an edit when the mouse is let go
        box = next(r for r in server.file(name)["regions"] if r["id"] == rid)["box"]
        if all(abs(a - b) <= tol for a, b in zip(box, want, strict=True)):
            break
        pg.wait_for_timeout(100)
    return box


def open_file(pg: Any, name: str) -> None:
    pg.click(f"#queue-list .qitem:has-text('{name}')")
    pg.wait_for_selector(f"#file-head .fname:text-is('{name}')")
    head = pg.inner_text("#file-head")
    assert "null" not in head and "undefined" not in head, head  # a missing value printed


def wait_frame(pg: Any) -> None:
    """Until the stage shows a loaded picture of the open file's proportions."""
    pg.wait_for_function(
        "() => { const i = document.querySelector('#frame');"
        " const w = document.querySelector('#frame-wrap').style.getPropertyValue('--ar');"
        " return i && !i.hidden && i.complete && i.naturalWidth > 0 && w"
        " && Math.abs(i.naturalWidth / i.naturalHeight - Number(w)) < 0.02; }")


def test_keep_face_add_box_resolve_flag_approve(page: tuple, server: Server,
                                                run_folder: Path, shots: Path) -> None:
    pg, log = page
    pg.goto(server.url)
    # The token leaves the address bar; the queue opens on the files that need review.
    pg.wait_for_selector("#queue-list .qitem")
    assert "token" not in pg.url
    queue_names = pg.locator("#queue-list .qname").all_inner_texts()
    assert "seized_revolver.jpg" in queue_names
    assert "graduation_group.jpg" not in queue_names  # it went to safe/

    # --- the group photo (went to safe/): keep one face, add a box, undo, add again.
    pg.click("[data-filter=all]")
    open_file(pg, "graduation_group.jpg")
    pg.wait_for_selector("#regions li[data-region]")
    wait_frame(pg)
    group = server.file("graduation_group.jpg")
    faces = sorted((r for r in group["regions"] if r["kind"] == "face"),
                   key=lambda r: -(r["score"] or 0))
    # A face whose centre no other region covers, so a click there selects only it.
    face = next(r for r in faces if not any(
        o["id"] != r["id"] and inside(o["box"], (r["box"][0] + r["box"][2]) / 2,
                                      (r["box"][1] + r["box"][3]) / 2)
        for o in group["regions"]))
    cx = (face["box"][0] + face["box"][2]) / 2
    cy = (face["box"][1] + face["box"][3]) / 2
    pg.mouse.click(*screen_point(pg, group, cx, cy))
    row = pg.locator(f'#regions li[data-region="{face["id"]}"]')
    row.and_(pg.locator(".selected")).wait_for()
    row.locator("button.keep").click()
    pg.click('#reason-presets [data-preset="preset_officer"]')
    pg.click("#reason-ok")
    pg.wait_for_selector(f'#regions li[data-region="{face["id"]}"][data-action="keep"]')
    kept = next(r for r in server.file("graduation_group.jpg")["regions"] if r["id"] == face["id"])
    assert kept["action"] == "keep"

    n_regions = len(group["regions"])
    target = [40, 880, 260, 1060]  # the steps, bottom left: no region there
    pg.check("input[name=kind][value=text]")
    drag_box(pg, group, target)
    pg.click("#add-confirm")
    pg.wait_for_function(f"() => document.querySelectorAll('#regions li[data-region]').length"
                         f" === {n_regions + 1}")
    added = [r for r in server.file("graduation_group.jpg")["regions"]
             if r["id"] not in {g["id"] for g in group["regions"]}]
    assert len(added) == 1 and added[0]["kind"] == "text"
    scale = pg.locator("#frame").bounding_box()["width"] / group["width"]
    tol = 2 / scale + 2  # a screen pixel or two, in picture pixels
    assert all(abs(a - b) <= tol for a, b in zip(added[0]["box"], target, strict=True)), added

    pg.keyboard.press("Control+z")  # undo removes the box again
    pg.wait_for_function(f"() => document.querySelectorAll('#regions li[data-region]').length"
                         f" === {n_regions}")
    assert len(server.file("graduation_group.jpg")["regions"]) == n_regions
    drag_box(pg, group, target)
    pg.keyboard.press("Enter")
    pg.wait_for_function(f"() => document.querySelectorAll('#regions li[data-region]').length"
                         f" === {n_regions + 1}")

    # The box just drawn is selected, with handles: drag its inside to move it, then
    # its bottom-right corner to resize it; each drag is one recorded decision.
    rid = next(r["id"] for r in server.file("graduation_group.jpg")["regions"]
               if r["source"] == "reviewer")
    pg.locator(f'#regions li[data-region="{rid}"].selected').wait_for()
    assert pg.locator("#overlay rect.handle").count() == 4
    moved = [target[0] + 120, target[1] - 200, target[2] + 120, target[3] - 200]
    cx, cy = (target[0] + target[2]) / 2, (target[1] + target[3]) / 2
    pg.mouse.move(*screen_point(pg, group, cx, cy))
    pg.mouse.down()
    pg.mouse.move(*screen_point(pg, group, cx + 60, cy - 100), steps=4)
    pg.mouse.move(*screen_point(pg, group, cx + 120, cy - 200), steps=4)
    pg.mouse.up()
    now = wait_box(pg, server, "graduation_group.jpg", rid, moved, tol)
    assert all(abs(a - b) <= tol for a, b in zip(now, moved, strict=True)), now
    # The page has taken the move in (it reloads the file after saving) once a handle
    # stands on the moved box's corner: only then does a drag there resize it.
    pg.wait_for_function(
        "([x, y, tol]) => [...document.querySelectorAll('#overlay rect.handle')].some(r =>"
        " Math.abs(+r.getAttribute('x') + r.getAttribute('width') / 2 - x) <= tol"
        " && Math.abs(+r.getAttribute('y') + r.getAttribute('height') / 2 - y) <= tol)",
        arg=[moved[2], moved[3], tol])
    pg.mouse.move(*screen_point(pg, group, moved[2], moved[3]))
    pg.mouse.down()
    pg.mouse.move(*screen_point(pg, group, moved[2] + 40, moved[3] + 30), steps=6)
    pg.mouse.up()
    grown = [moved[0], moved[1], moved[2] + 40, moved[3] + 30]
    now = wait_box(pg, server, "graduation_group.jpg", rid, grown, tol)
    assert all(abs(a - b) <= tol for a, b in zip(now, grown, strict=True)), now
    edits = [e for e in server.api("GET", "/api/audit")["entries"]
             if e["action"] == "edit" and e["target"] == rid]
    assert len(edits) == 2
    save_png(pg, shots / "review-box-edit.png")
    pg.locator(f'#regions li[data-region="{face["id"]}"]').click()  # shown selected
    pg.keyboard.press("2")  # the preview: the kept face sharp, the others masked
    pg.wait_for_selector('[data-view=preview][aria-selected="true"]')
    pg.wait_for_load_state("networkidle")
    wait_frame(pg)
    save_png(pg, shots / "review-en.png")

    # --- the revolver (went to review/): approve is refused while the flag is open.
    pg.click("[data-filter=review]")
    open_file(pg, "seized_revolver.jpg")
    pg.wait_for_selector("#flags li[data-flag]")
    pg.keyboard.press("a")
    pg.wait_for_selector("#refused-dialog[open]")
    assert "weapon" in pg.locator("#refused-list").inner_text()
    pg.click("#refused-dialog button")
    pg.click("#flags li[data-flag] button.clear-flag")
    pg.click('#reason-presets [data-preset="preset_sealed"]')
    pg.click("#reason-ok")
    pg.wait_for_selector("#flags li[data-flag].st-cleared")
    flag = server.file("seized_revolver.jpg")["flags"][0]
    assert flag["state"] == "cleared"

    pg.keyboard.press("a")  # approve with the keyboard: re-rendered in the background
    pg.wait_for_selector("#queue-list .qitem:has-text('seized_revolver.jpg')",
                         state="detached", timeout=120_000)
    assert "seized_revolver.jpg" not in pg.locator("#queue-list .qname").all_inner_texts()
    assert (run_folder / "safe" / "seized_revolver.jpg").is_file()
    assert not (run_folder / "review" / "seized_revolver.jpg").exists()
    assert server.file("seized_revolver.jpg")["status"] == "safe"

    # Everything came from this server, and every API call carried the token header.
    foreign = [u for u, _ in log.requests
               if not u.startswith((server.base + "/", "blob:" + server.base + "/", "data:"))]
    assert not foreign
    api_calls = [(u, h) for u, h in log.requests if u.startswith(server.base + "/api/")]
    assert api_calls
    assert all(h.get("authorization") == f"Bearer {server.token}" for _, h in api_calls)
    assert not log.errors


def test_hindi_switch_renders_devanagari(page: tuple, server: Server, shots: Path,
                                         run_folder: Path, tmp_path: Path) -> None:
    pg, log = page
    pg.goto(server.url)
    pg.wait_for_selector("#queue-list")
    pg.click("[data-filter=all]")
    open_file(pg, "graduation_group.jpg")
    pg.wait_for_selector("#regions li[data-region]")
    wait_frame(pg)
    # In English the page says why each file went where exactly as the report does
    # (the page builds it from the server's items, sanitize/summary.py from the same).
    listed = {f["input"]: f["why"] for f in server.api("GET", "/api/files")["files"]}
    for item in pg.locator("#queue-list .qitem").all():
        name = item.locator(".qname").inner_text()
        assert item.locator(".qwhy").inner_text() == listed[name], name
    english_why = pg.inner_text("#file-head .fwhy")
    assert "faces masked" in english_why

    pg.click("#lang")  # one click to Hindi
    assert pg.evaluate("document.documentElement.lang") == "hi"
    assert "स्वीकृत" in pg.locator("#approve").inner_text()
    hindi_why = pg.inner_text("#file-head .fwhy")  # the why line too, with its numbers
    assert "चेहरे ढके गए" in hindi_why and "faces" not in hindi_why, hindi_why
    assert [int(n) for n in re.findall(r"\d+", hindi_why)][:2] == \
        [int(n) for n in re.findall(r"\d+", english_why)][:2]
    # Metadata classes are named in Hindi too (English keeps the reports' names).
    assert "orientation" in english_why and "iptc" in english_why, english_why
    assert "घुमाव" in hindi_why and "orientation" not in hindi_why, hindi_why
    # The undo of test_keep_face_add_box_resolve_flag_approve says what it undid in
    # Hindi: the stored reason ("undo add ...") is English.
    history = pg.inner_text("#history")
    assert "पूर्ववत" in history and "बॉक्स जोड़ा" in history, history
    assert "undo add" not in history, history
    # The shipped font (not a system one) is what renders the Devanagari.
    assert pg.evaluate("document.fonts.check('16px \"Sanitize Devanagari\"', 'क्षेत्र')")
    assert any(u.endswith("/static/fonts/NotoSansDevanagari-Regular.woff2")
               for u, _ in log.requests)
    pg.keyboard.press("?")
    pg.wait_for_selector("#legend-dialog[open]")
    assert "अगली फ़ाइल" in pg.locator("#legend-table").inner_text()
    pg.keyboard.press("Escape")
    save_png(pg, shots / "review-hi.png")

    pg.click("#lang")  # and one click back
    assert pg.locator("#approve").inner_text().startswith("Approve")
    assert not log.errors

    # The report's Hindi clause texts use the same font, embedded in report.html.
    pg.goto((run_folder / "report.html").as_uri())
    assert pg.locator("td[lang=hi]").count() > 0
    pg.evaluate("document.fonts.ready")
    pg.wait_for_function("() => document.fonts.check('15px \"Sanitize Devanagari\"', 'खंड')")
    pg.locator("table.legend").screenshot(path=str(tmp_path / "report-legend.png"))


def test_video_frames_range_box_and_mute(page: tuple, server: Server, run_folder: Path,
                                         tmp_path: Path) -> None:
    pg, log = page
    pg.goto(server.url)
    pg.wait_for_selector("#queue-list")
    pg.click("[data-filter=all]")
    open_file(pg, "patrol.mp4")
    pg.wait_for_selector("#video-bar:not([hidden])")
    wait_frame(pg)
    clip = server.file("patrol.mp4")
    times = clip["frame_times"]
    assert clip["kind"] == "video" and len(times) == clip["frames"] >= 12

    # J/K step one frame, Shift ten; frames come from the server by index.
    pg.keyboard.press("Shift+K")
    pg.keyboard.press("k")
    pg.keyboard.press("j")
    pg.keyboard.press("k")
    pg.keyboard.press("k")
    pg.wait_for_function("() => document.querySelector('#frame-slider').value === '12'")
    wait_frame(pg)
    asked = {u.split("i=")[1].split("&")[0] for u, _ in log.requests if "/frame?" in u}
    assert {"0", "10", "11", "12"} <= asked
    pg.keyboard.press("i")  # start at frame 12
    pg.keyboard.press("k")
    pg.keyboard.press("k")
    pg.keyboard.press("o")  # end at frame 14

    before = {r["id"] for r in clip["regions"]}
    pg.check("input[name=kind][value=plate]")
    drag_box(pg, clip, [20, 20, 120, 80])
    assert float(pg.input_value("#box-t0")) == pytest.approx(times[12], abs=0.01)
    assert float(pg.input_value("#box-t1")) == pytest.approx(times[14], abs=0.01)
    pg.click("#add-confirm")
    pg.wait_for_selector("#regions li[data-region] .badge.added")
    added = [r for r in server.file("patrol.mp4")["regions"] if r["id"] not in before]
    assert len(added) == 1 and added[0]["kind"] == "plate"
    assert added[0]["t_start"] == pytest.approx(times[12], abs=0.01)
    assert added[0]["t_end"] == pytest.approx(times[14], abs=0.01)

    pg.click("#add-mute")  # mute the marked range
    pg.wait_for_selector("#mutes li .mono")
    mutes = server.file("patrol.mp4")["mutes"]
    assert len(mutes) == 1
    assert mutes[0] == pytest.approx([times[12], times[14]], abs=0.01)
    save_png(pg, tmp_path / "review-video.png")

    # A box moving between two keyframes (interpolated by the renderer).
    before = {r["id"] for r in server.file("patrol.mp4")["regions"]}
    for frame, box in ((2, [10, 10, 60, 50]), (6, [200, 100, 260, 150])):
        pg.eval_on_selector("#frame-slider", "(e, v) => { e.value = v;"
                            " e.dispatchEvent(new Event('input', {bubbles: true})); }", str(frame))
        pg.wait_for_function(f"() => document.querySelector('#frame-label').textContent"
                             f".includes('{frame + 1}/')")
        wait_frame(pg)
        drag_box(pg, clip, box)
        pg.click("#add-keyframe")
    assert "2" in pg.inner_text("#keyframes-label")
    pg.click("#add-confirm")
    pg.wait_for_function(f"() => document.querySelectorAll('#regions li[data-region]').length"
                         f" === {len(before) + 1}")
    moving = [r for r in server.file("patrol.mp4")["regions"] if r["id"] not in before]
    assert len(moving) == 1
    assert moving[0]["t_start"] == pytest.approx(times[2], abs=0.01)
    assert moving[0]["t_end"] == pytest.approx(times[6], abs=0.01)
    # Still on frame 6, the new box selected: dragging it moves its keyframe there only.
    rid = moving[0]["id"]
    pg.locator(f'#regions li[data-region="{rid}"].selected').wait_for()
    pg.mouse.move(*screen_point(pg, clip, 230, 125))
    pg.mouse.down()
    pg.mouse.move(*screen_point(pg, clip, 270, 155), steps=5)
    pg.mouse.up()
    scale = pg.locator("#frame").bounding_box()["width"] / clip["width"]
    tol = 2 / scale + 2
    keys: dict = {}
    for _ in range(100):
        region = next(r for r in server.file("patrol.mp4")["regions"] if r["id"] == rid)
        keys = {round(k["t"], 3): k["box"] for k in region["keyframes"]}
        if abs(keys[round(times[6], 3)][0] - 240) <= tol:
            break
        pg.wait_for_timeout(100)
    assert all(abs(a - b) <= tol for a, b in zip(keys[round(times[6], 3)], [240, 130, 300, 180],
                                                   strict=True)), keys
    assert keys[round(times[2], 3)] == [10, 10, 60, 50]

    pg.keyboard.press("r")  # reject, with a reason
    pg.click('#reason-presets [data-preset="preset_duplicate"]')
    pg.click("#reason-ok")
    pg.wait_for_function("() => document.querySelector('#file-head').textContent"
                         ".includes('duplicate of another file')")
    assert server.file("patrol.mp4")["status"] == "rejected"
    assert not log.errors


def test_team_photo_keep_officers_clear_uniforms_approve(page: tuple, server: Server,
                                                        run_folder: Path, tmp_path: Path) -> None:
    """The policy's main case: the police team photo. Keep every suggested officer in one
    action, clear the uniform flags with a reason, approve: the file reaches safe/."""
    name = TEAM_PHOTO.name
    pg, log = page
    pg.goto(server.url)
    pg.wait_for_selector("#queue-list .qitem")
    open_file(pg, name)
    pg.wait_for_selector("#flags li[data-flag]")
    before = server.file(name)
    suggested = {r["id"] for r in before["regions"] if r["suggested"] == "keep"}
    assert suggested, "the uniform detector should suggest officers on this photo"
    assert all(r["action"] == "blur" for r in before["regions"])  # blurred until a person keeps
    pg.keyboard.press("]")  # next open item: the first open flag
    pg.wait_for_selector("#flags li.selected.st-open")

    pg.click("#keep-officers")
    pg.click('#reason-presets [data-preset="preset_officer"]')
    pg.click("#reason-ok")
    pg.wait_for_function(f"() => document.querySelectorAll('#regions li[data-action=keep]').length"
                         f" === {len(suggested)}")
    after = server.file(name)
    assert {r["id"] for r in after["regions"] if r["action"] == "keep"} == suggested
    save_png(pg, tmp_path / "review-officers.png")  # a corpus photo: never in docs/

    def n_open() -> int:
        return sum(f["state"] == "open" for f in server.file(name)["flags"])

    while (left := n_open()) > 0:  # a kind with several flags is cleared in one go
        bulk = pg.locator("#flags-bulk button.clear-kind")
        (bulk.first if bulk.count() else pg.locator("#flags button.clear-flag").first).click()
        pg.click('#reason-presets [data-preset="preset_allowed"]')
        pg.click("#reason-ok")
        pg.wait_for_function("n => document.querySelectorAll('#flags li.st-open').length < n",
                             arg=left)
    assert all(f["reason"] for f in server.file(name)["flags"])

    pg.keyboard.press("a")
    pg.wait_for_selector(f"#queue-list .qitem:has-text('{name}')", state="detached",
                         timeout=120_000)
    assert (run_folder / "safe" / name).is_file()
    assert not (run_folder / "review" / name).exists()
    assert server.file(name)["approved"]["by"] == "browser-test"
    assert not log.errors


def test_refused_background_approval_is_shown_after_a_reload(page: tuple, server: Server,
                                                             run_folder: Path) -> None:
    """A queued approval refused while nobody looked (the original changed) is on
    record: a page opened later says who asked, when and why it was refused, in the
    header and in the history."""
    name = "graduation_group.jpg"
    original = run_folder.parent / "in" / name
    fid = server.file(name)["id"]
    data = original.read_bytes()
    original.write_bytes(data + b"\0")
    try:
        job = server.api("POST", f"/api/files/{fid}/approve", {"wait": False})
        for _ in range(300):
            job = next(j for j in server.api("GET", "/api/jobs")["jobs"] if j["id"] == job["id"])
            if job["state"] in ("done", "failed"):
                break
            time.sleep(0.2)
        assert job["state"] == "failed" and "changed" in job["error"], job
    finally:
        original.write_bytes(data)

    pg, log = page
    pg.goto(server.url)
    pg.wait_for_selector("#queue-list .qitem")
    pg.click("[data-filter=all]")
    open_file(pg, name)
    line = pg.locator("#file-head .fwhy.error").first
    line.wait_for()
    text = line.inner_text()
    assert "approval asked by browser-test refused" in text and "changed" in text, text
    history = pg.inner_text("#history")
    assert "approval asked" in history and "approval refused" in history, history
    assert not log.errors
