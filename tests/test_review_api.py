"""The review workstation's JSON API (Flask test client) on a real run: the J&K police
test photo (31 faces, uniforms → review), a group photo and a video clip made from a
real photo with a tone as its audio (all from tests/data)."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import av
import numpy as np
import pytest
import shared_paths
from PIL import Image
from videoclips import detail_kept, make_clip

from sanitize.batch import collect_inputs, run_batch
from sanitize.check import check_file
from sanitize.config import Settings
from sanitize.geometry import cover_box
from sanitize.redact import mask_reach
from sanitize.review.app import create_app
from sanitize.review.service import ReviewService, file_id
from sanitize.types import Box

TOKEN = "test-token-123"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
POLICE = shared_paths.DATA / "objects" / "uniform" / "isf_jk_police_test.jpg"
CROWD = shared_paths.DATA / "faces" / "images" / "friends_table.jpg"
SETTINGS = Settings()


def sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("review")
    inputs = d / "in"
    inputs.mkdir()
    shutil.copy(POLICE, inputs / POLICE.name)
    shutil.copy(CROWD, inputs / CROWD.name)
    make_clip(inputs / "clip.mp4", image="friends_table.jpg", seconds=2.0)
    out = d / "out"
    run_batch(collect_inputs([inputs], out), out, SETTINGS, jobs=1, progress=False)
    return {"in": inputs, "out": out}


@pytest.fixture(scope="module")
def client(run: dict[str, Path]):
    app = create_app(run["out"], TOKEN, "tester", "127.0.0.1")
    app.testing = True
    return app.test_client()


def get(client, url: str, **kw):
    return client.get(url, headers=AUTH, **kw)


def post(client, url: str, body: dict | None = None):
    return client.post(url, headers=AUTH, json=body if body is not None else {})


def files(client) -> dict[str, dict]:
    return {f["input"]: f for f in get(client, "/api/files").get_json()["files"]}


def rgb(p: Path) -> np.ndarray:
    with Image.open(p) as im:
        return np.asarray(im.convert("RGB"))


# ------------------------------------------------------------------ security


def test_api_needs_token(client) -> None:
    assert client.get("/api/files").status_code == 401
    assert client.get("/api/files", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/").status_code == 401
    assert get(client, "/api/files").status_code == 200


def test_cookie_from_link_allows_get_but_not_post(client, run) -> None:
    page = client.get(f"/?token={TOKEN}")
    assert page.status_code == 200
    cookie = page.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert client.get("/api/files").status_code == 200  # the cookie alone, for GET
    fid = file_id(POLICE.name)
    r = client.post(f"/api/files/{fid}/reject", json={"reason": "x"})
    assert r.status_code == 401  # POST needs the header (CSRF)
    client.delete_cookie(key="sanitize_review")


def test_foreign_host_refused(client) -> None:
    r = client.get("/api/files", headers={**AUTH, "Host": "evil.example:8000"})
    assert r.status_code == 403
    r = client.get("/api/files", headers={**AUTH, "Host": "localhost:5000"})
    assert r.status_code == 200


@pytest.mark.parametrize("bad", ["..%2F..%2Fetc%2Fpasswd", "../ledger.sqlite", "..",
                                 "%2E%2E", "0123456789abcdeg"])
def test_path_ids_not_found(client, bad: str) -> None:
    for url in (f"/api/files/{bad}", f"/api/files/{bad}/frame?i=0&view=output"):
        assert get(client, url).status_code == 404
    assert get(client, "/static/../ledger.sqlite").status_code == 404


def test_post_body_must_be_json(client) -> None:
    fid = file_id(POLICE.name)
    r = client.post(f"/api/files/{fid}/reject", headers=AUTH, data="reason=x",
                    content_type="application/x-www-form-urlencoded")
    assert r.status_code == 400


# ------------------------------------------------------------------ reading


def test_queue_lists_every_file_with_why(client) -> None:
    listed = files(client)
    assert set(listed) == {POLICE.name, CROWD.name, "clip.mp4"}
    police = listed[POLICE.name]
    assert police["status"] == "review" and police["open"] >= 1
    assert "uniform" in police["why"] and "officer?" in police["why"]


def test_file_detail_and_frames(client, run) -> None:
    fid = file_id(POLICE.name)
    d = get(client, f"/api/files/{fid}").get_json()
    assert d["kind"] == "image" and d["width"] > 0
    faces = [r for r in d["regions"] if r["kind"] == "face"]
    assert len(faces) >= 20
    assert all(r["action"] == "blur" for r in d["regions"])
    assert any(r["suggested"] == "keep" and r["label"] == "officer?" for r in faces)
    assert any(f["kind"] == "uniform" and f["state"] == "open" for f in d["flags"])
    for view in ("edit", "preview", "output"):
        r = get(client, f"/api/files/{fid}/frame?i=0&view={view}")
        assert r.status_code == 200 and r.mimetype == "image/jpeg"
        assert r.data[:2] == b"\xff\xd8"
    assert get(client, f"/api/files/{fid}/frame?i=1&view=preview").status_code == 404


def test_edit_view_only_on_loopback(run) -> None:
    app = create_app(run["out"], TOKEN, "tester", "0.0.0.0")
    c = app.test_client()
    fid = file_id(POLICE.name)
    assert get(c, f"/api/files/{fid}/frame?i=0&view=edit").status_code == 403
    assert get(c, f"/api/files/{fid}/frame?i=0&view=preview").status_code == 200


# ------------------------------------------------------------------ decisions


def test_keep_needs_reason_and_undo(client) -> None:
    fid = file_id(CROWD.name)
    rid = get(client, f"/api/files/{fid}").get_json()["regions"][0]["id"]
    assert post(client, f"/api/files/{fid}/regions/{rid}", {"action": "keep"}).status_code == 400
    assert post(client, f"/api/files/{fid}/regions/nope", {"action": "blur"}).status_code == 404
    r = post(client, f"/api/files/{fid}/regions/{rid}", {"action": "keep", "reason": "r"})
    assert r.status_code == 200 and r.get_json()["action"] == "keep"
    assert post(client, f"/api/files/{fid}/undo").status_code == 200
    d = get(client, f"/api/files/{fid}").get_json()
    assert d["regions"][0]["action"] == "blur"
    assert [h["action"] for h in d["history"]][-2:] == ["keep", "undo"]
    entries = get(client, "/api/audit").get_json()["entries"]
    assert {"time", "reviewer", "file", "target", "action", "reason"} <= set(entries[-1])
    assert entries[-1]["reviewer"] == "tester"


def test_keep_all_officers_is_one_decision(client) -> None:
    fid = file_id(POLICE.name)
    assert post(client, f"/api/files/{fid}/officers", {}).status_code == 400
    r = post(client, f"/api/files/{fid}/officers", {"reason": "police team on duty"})
    kept = {x["id"] for x in r.get_json()["regions"]}
    d = get(client, f"/api/files/{fid}").get_json()
    officers = {x["id"] for x in d["regions"] if x["suggested"] == "keep"}
    assert kept == officers and officers
    assert all(x["action"] == "keep" for x in d["regions"] if x["id"] in officers)
    assert post(client, f"/api/files/{fid}/undo").status_code == 200
    d = get(client, f"/api/files/{fid}").get_json()
    assert all(x["action"] == "blur" for x in d["regions"])


def test_flag_fixed_by_an_added_box(client) -> None:
    fid = file_id(POLICE.name)
    flag = next(f for f in get(client, f"/api/files/{fid}").get_json()["flags"] if f["box"])
    r = post(client, f"/api/files/{fid}/regions", {"kind": "other", "box": flag["box"]})
    assert r.status_code == 200
    d = get(client, f"/api/files/{fid}").get_json()
    now = next(f for f in d["flags"] if f["id"] == flag["id"])
    assert now["state"] == "cleared" and "added box" in now["reason"]
    assert post(client, f"/api/files/{fid}/undo").status_code == 200
    d = get(client, f"/api/files/{fid}").get_json()
    assert next(f for f in d["flags"] if f["id"] == flag["id"])["state"] == "open"
    assert not any(r["id"] == "a0" for r in d["regions"])


def test_approve_keeps_one_officer_and_masks_the_rest(client, run) -> None:
    out, src = run["out"], run["in"] / POLICE.name
    before = sha(src)
    fid = file_id(POLICE.name)
    d = get(client, f"/api/files/{fid}").get_json()
    review_copy = out / d["output"]
    assert d["output"].startswith("review/")
    # The review copy never passes check; the approved file will.
    assert not check_file(review_copy, SETTINGS).safe

    r = post(client, f"/api/files/{fid}/approve")
    assert r.status_code == 409 and r.get_json()["open"]

    w, h = d["width"], d["height"]
    faces = [r for r in d["regions"] if r["kind"] == "face"]
    grown = {r["id"]: cover_box("face", Box(*r["box"]), w, h) for r in d["regions"]}

    def reach(g: Box) -> Box:  # what a mask over g changes: its box and the feather
        m = mask_reach(g)
        return Box(g.x1 - m, g.y1 - m, g.x2 + m, g.y2 + m)

    def touched(r: dict) -> float:  # how much of r's face the other masks reach
        return sum(_inter(Box(*r["box"]), reach(o)) for k, o in grown.items() if k != r["id"])

    # The largest face no other mask reaches (blur wins where masks overlap).
    clear = [r for r in faces if touched(r) == 0]
    assert clear, "no face of the photo stands clear of the others"
    kept = max(clear, key=lambda r: r["box"][2] - r["box"][0])
    r = post(client, f"/api/files/{fid}/regions/{kept['id']}",
             {"action": "keep", "reason": "police officer on duty"})
    assert r.status_code == 200
    # A box added over a patch of the picture with no region in it.
    added_box = _free_patch(grown, w, h)
    r = post(client, f"/api/files/{fid}/regions", {"kind": "other", "box": added_box})
    assert r.status_code == 200 and r.get_json()["id"] == "a1"  # a0 was added and undone
    for f in d["flags"]:
        assert post(client, f"/api/files/{fid}/flags/{f['id']}",
                    {"state": "cleared"}).status_code == 400
        r = post(client, f"/api/files/{fid}/flags/{f['id']}",
                 {"state": "cleared", "reason": "police team on duty, allowed post"})
        assert r.status_code == 200 and r.get_json()["state"] == "cleared"

    r = post(client, f"/api/files/{fid}/approve")
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["status"] == "safe" and body["output"].startswith("safe/")
    approved = out / body["output"]
    assert approved.is_file() and not review_copy.exists()
    assert sha(src) == before, "original modified"

    orig, new = rgb(src), rgb(approved)
    assert detail_kept(orig, new, tuple(kept["box"])) > 0.8  # the kept face is unchanged
    assert np.abs(_crop(orig, kept["box"]).astype(int)
                  - _crop(new, kept["box"]).astype(int)).mean() < 6
    for f in faces:
        if f["id"] != kept["id"]:
            assert detail_kept(orig, new, tuple(f["box"])) < 0.5, f
    assert detail_kept(orig, new, tuple(added_box)) < 0.5

    lc = subprocess.run([sys.executable, str(shared_paths.LEAKCHECK), "--pair", str(src),
                         str(approved)], capture_output=True, text=True, timeout=300)
    assert lc.returncode == 0, lc.stdout + lc.stderr
    res = check_file(approved, SETTINGS)
    assert res.safe and res.known, res.problems
    copy_elsewhere = run["out"].parent / "posted.jpg"
    shutil.copy(approved, copy_elsewhere)
    assert check_file(copy_elsewhere, SETTINGS, ledger=out / "ledger.sqlite").safe

    listed = files(client)[POLICE.name]
    assert listed["status"] == "safe" and listed["output"] == body["output"]
    report = (out / "report.json").read_text(encoding="utf-8")
    assert '"approval"' in report and "tester" in report and "police officer on duty" in report


def test_reject_records_reason(client) -> None:
    fid = file_id(CROWD.name)
    assert post(client, f"/api/files/{fid}/reject", {}).status_code == 400
    r = post(client, f"/api/files/{fid}/reject", {"reason": "not for posting"})
    assert r.get_json() == {"status": "rejected"}
    assert files(client)[CROWD.name]["status"] == "rejected"
    assert get(client, f"/api/files/{fid}").get_json()["rejected"] == "not for posting"


def test_video_added_box_and_mute(client, run) -> None:
    out, src = run["out"], run["in"] / "clip.mp4"
    fid = file_id("clip.mp4")
    d = get(client, f"/api/files/{fid}").get_json()
    assert d["kind"] == "video" and d["frames"] == len(d["frame_times"]) > 30
    for i in (0, 17, d["frames"] - 1):
        r = get(client, f"/api/files/{fid}/frame?i={i}&view=preview")
        assert r.status_code == 200 and r.mimetype == "image/jpeg"
    assert get(client, f"/api/files/{fid}/frame?i={d['frames']}&view=edit").status_code == 404
    grown = {r["id"]: Box(*r["box"]) for r in d["regions"]}
    box = _free_patch({k: cover_box("face", b, d["width"], d["height"])
                       for k, b in grown.items()}, d["width"], d["height"], size=60)
    r = post(client, f"/api/files/{fid}/regions",
             {"kind": "plate", "box": box, "t_start": 0.0, "t_end": 2.0})
    assert r.status_code == 200
    assert post(client, f"/api/files/{fid}/mutes", {"ranges": [[0.5, "x"]]}).status_code == 400
    r = post(client, f"/api/files/{fid}/mutes", {"ranges": [[0.5, 1.0]]})
    assert r.status_code == 200 and r.get_json()["mutes"] == [[0.5, 1.0]]
    # Keep a face track on a frame where it stands clear of every other masked box.
    faces = {r["id"] for r in d["regions"] if r["kind"] == "face"}
    clear = None
    for i in range(0, d["frames"], 3):
        on = get(client, f"/api/files/{fid}/boxes?i={i}").get_json()["boxes"]
        for mine in (b for b in on if b["id"] in faces):
            others = [Box(*b["box"]) for b in on if b is not mine]
            if others and all(_inter(Box(*mine["box"]), o) == 0 for o in others):
                clear = (i, mine["id"], Box(*mine["box"]), others)
                break
        if clear:
            break
    assert clear is not None, "no face is ever clear of the others"
    assert post(client, f"/api/files/{fid}/regions/{clear[1]}",
                {"action": "keep", "reason": "police officer on duty"}).status_code == 200
    for f in d["flags"]:
        post(client, f"/api/files/{fid}/flags/{f['id']}", {"state": "cleared", "reason": "ok"})
    before = sha(src)
    r = post(client, f"/api/files/{fid}/approve")
    assert r.status_code == 200, r.get_json()
    approved = out / r.get_json()["output"]
    assert sha(src) == before
    i, _, mine, others = clear
    a_frame, b_frame = _frame(src, i), _frame(approved, i)
    box_of = lambda b: (b.x1, b.y1, b.x2, b.y2)  # noqa: E731
    assert detail_kept(a_frame, b_frame, box_of(mine)) > 0.6
    assert all(detail_kept(a_frame, b_frame, box_of(o)) < 0.5 for o in others)
    # The added box is masked on every frame; the audio is silent only in the muted range.
    with av.open(str(src)) as a, av.open(str(approved)) as b:
        pairs = zip(a.decode(video=0), b.decode(video=0), strict=True)
        kept = [detail_kept(x.to_ndarray(format="rgb24"), y.to_ndarray(format="rgb24"),
                            tuple(box)) for x, y in pairs]
    assert max(kept) < 0.5
    samples, rate = _audio(approved)
    assert _rms(samples, rate, 0.6, 0.9) < 0.005
    assert _rms(samples, rate, 1.3, 1.8) > 0.1 and _rms(samples, rate, 0.1, 0.4) > 0.1
    assert check_file(approved, SETTINGS).safe


def test_drawn_box_moves_and_resizes(client) -> None:
    """A reviewer's own box can be moved and resized (recorded, undoable); on a video
    the change is a keyframe at the frame shown.  A detector's box cannot be shrunk."""
    fid = file_id(CROWD.name)
    rid = post(client, f"/api/files/{fid}/regions",
               {"kind": "other", "box": [10, 10, 60, 60]}).get_json()["id"]
    r = post(client, f"/api/files/{fid}/regions/{rid}/box",
             {"box": [180, 160, 100, 100], "reason": "cover the badge"})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["box"] == [100, 100, 180, 160]
    region = next(x for x in get(client, f"/api/files/{fid}").get_json()["regions"]
                  if x["id"] == rid)
    assert region["box"] == [100, 100, 180, 160]
    on = next(b["box"] for b in get(client, f"/api/files/{fid}/boxes?i=0").get_json()["boxes"]
              if b["id"] == rid)
    assert on[0] <= 100 and on[2] >= 180 and on[1] <= 100 and on[3] >= 160
    row = get(client, "/api/audit").get_json()["entries"][-1]
    assert (row["action"], row["target"], row["reviewer"], row["reason"]) == \
        ("edit", rid, "tester", "cover the badge")
    detected = next(x for x in get(client, f"/api/files/{fid}").get_json()["regions"]
                    if x["source"] == "detector")
    r = post(client, f"/api/files/{fid}/regions/{detected['id']}/box", {"box": [0, 0, 5, 5]})
    assert r.status_code == 400 and "drew" in r.get_json()["error"]
    r = post(client, f"/api/files/{fid}/regions/zz/box", {"box": [0, 0, 5, 5]})
    assert r.status_code == 404
    assert post(client, f"/api/files/{fid}/regions/{rid}/box", {"box": [1, 2]}).status_code == 400
    assert post(client, f"/api/files/{fid}/undo").status_code == 200  # the edit
    region = next(x for x in get(client, f"/api/files/{fid}").get_json()["regions"]
                  if x["id"] == rid)
    assert region["box"] == [10, 10, 60, 60]
    assert post(client, f"/api/files/{fid}/undo").status_code == 200  # the box

    fid = file_id("clip.mp4")
    times = get(client, f"/api/files/{fid}").get_json()["frame_times"]
    rid = post(client, f"/api/files/{fid}/regions",
               {"kind": "other", "box": [10, 10, 50, 50], "t": 0.0}).get_json()["id"]
    late = min(range(len(times)), key=lambda i: abs(times[i] - 1.0))
    r = post(client, f"/api/files/{fid}/regions/{rid}/box",
             {"box": [210, 10, 250, 50], "t": times[late]})
    assert r.status_code == 200, r.get_json()

    def x1_at(i: int) -> float:
        on = get(client, f"/api/files/{fid}/boxes?i={i}").get_json()["boxes"]
        return next(b["box"][0] for b in on if b["id"] == rid)

    mid = late // 2
    assert x1_at(0) < 15 and 200 < x1_at(late) < 215  # each keyframe where it was put
    assert x1_at(0) + 50 < x1_at(mid) < x1_at(late) - 50  # moved between them
    assert x1_at(len(times) - 1) == x1_at(late)  # held after the last keyframe
    for _ in range(2):
        assert post(client, f"/api/files/{fid}/undo").status_code == 200


def test_video_keyframes_and_tracked_box(client) -> None:
    fid = file_id("clip.mp4")
    d = get(client, f"/api/files/{fid}").get_json()
    times = d["frame_times"]
    r = post(client, f"/api/files/{fid}/regions", {"kind": "other", "keyframes": [
        {"t": 0.0, "box": [10, 10, 50, 50]}, {"t": 1.0, "box": [110, 10, 150, 50]}]})
    rid = r.get_json()["id"]

    def box_at(i: int, rid: str) -> list[float] | None:
        on = get(client, f"/api/files/{fid}/boxes?i={i}").get_json()["boxes"]
        return next((b["box"] for b in on if b["id"] == rid), None)

    mid = min(range(len(times)), key=lambda i: abs(times[i] - 0.5))
    x1 = box_at(mid, rid)[0]  # type: ignore[index]
    assert 10 + 100 * times[mid] - 10 < x1 < 10 + 100 * times[mid]  # linear, 10 % margin
    assert box_at(len(times) - 1, rid) is None  # after the last keyframe's time
    # Tracked from one frame, forward and backward: a face of the panning clip.
    face = max((r for r in d["regions"] if r["kind"] == "face"),
               key=lambda r: r["last_frame"] - r["first_frame"])
    anchor = face["frame"]
    r = post(client, f"/api/files/{fid}/regions", {"kind": "face", "box": face["box"],
                                                   "t": times[anchor], "track": True})
    assert r.status_code == 200
    tid = r.get_json()["id"]
    seen = [box_at(i, tid) for i in range(0, len(times), 10)]
    assert all(b is not None for b in seen)
    assert len({round(b[0]) for b in seen if b}) > 1  # it moves with the camera
    for _ in range(2):
        assert post(client, f"/api/files/{fid}/undo").status_code == 200


def test_approve_refused_when_original_changed(client, run) -> None:
    fid = file_id(CROWD.name)
    for f in get(client, f"/api/files/{fid}").get_json()["flags"]:
        post(client, f"/api/files/{fid}/flags/{f['id']}", {"state": "cleared", "reason": "ok"})
    path = run["in"] / CROWD.name
    data = path.read_bytes()
    path.write_bytes(data + b"\0")
    try:
        r = post(client, f"/api/files/{fid}/approve")
        assert r.status_code == 409 and "changed" in r.get_json()["error"]
        path.unlink()
        r = post(client, f"/api/files/{fid}/approve")
        assert r.status_code == 409 and "gone" in r.get_json()["error"]
    finally:
        path.write_bytes(data)


def test_approve_in_the_background(client, run) -> None:
    """The page's approval is queued (202) and ends in /api/jobs; while it is pending
    the file's decisions are frozen, and a refused approval says why there."""
    fid = file_id(CROWD.name)  # flags cleared by test_approve_refused_when_original_changed
    svc = client.application.extensions["sanitize_review"]

    def wait_job(job_id: str) -> dict:
        for _ in range(600):
            job = next(j for j in get(client, "/api/jobs").get_json()["jobs"]
                       if j["id"] == job_id)
            if job["state"] in ("done", "failed"):
                return job
            time.sleep(0.2)
        raise AssertionError(f"job {job_id} did not end")

    path = run["in"] / CROWD.name
    data = path.read_bytes()
    path.write_bytes(data + b"\0")
    try:
        r = post(client, f"/api/files/{fid}/approve", {"wait": False})
        assert r.status_code == 202, r.get_json()
        job = wait_job(r.get_json()["id"])
        assert job["state"] == "failed" and "changed" in job["error"]
    finally:
        path.write_bytes(data)
    # The refusal is on record (who, why) and ends the request: a later start of
    # the server does not queue it again.
    refused = get(client, f"/api/files/{fid}").get_json()["approval_refused"]
    assert refused["by"] == "tester" and "changed" in refused["reason"]
    again = ReviewService(run["out"], "someone else")
    try:
        assert again.jobs() == []
    finally:
        again.close()

    with svc.render_lock:  # an approval already rendering: this one waits its turn
        r = post(client, f"/api/files/{fid}/approve", {"wait": False})
        assert r.status_code == 202
        job = r.get_json()
        assert job["state"] in ("queued", "running") and job["input"] == CROWD.name
        assert files(client)[CROWD.name]["approving"] in ("queued", "running")
        assert get(client, f"/api/files/{fid}").get_json()["approving"] in ("queued", "running")
        r = post(client, f"/api/files/{fid}/regions", {"kind": "other", "box": [5, 5, 40, 40]})
        assert r.status_code == 409 and "being approved" in r.get_json()["error"]
        assert post(client, f"/api/files/{fid}/undo").status_code == 409
        assert post(client, f"/api/files/{fid}/approve", {"wait": False}).status_code == 409
    done = wait_job(job["id"])
    assert done["state"] == "done", done
    assert done["output"].startswith("safe/") and (run["out"] / done["output"]).is_file()
    f = files(client)[CROWD.name]
    assert f["status"] == "safe" and f["approving"] is None
    assert get(client, f"/api/files/{fid}").get_json()["approved"]["by"] == "tester"
    assert get(client, f"/api/files/{fid}").get_json()["approval_refused"] is None


def test_queued_approval_survives_a_stopped_server(tmp_path) -> None:
    """An approval still queued when the server stops is not lost: the next start
    renders it, in the name of the reviewer who asked for it."""
    inputs, out = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    shutil.copy(POLICE, inputs / POLICE.name)
    run_batch(collect_inputs([inputs], out), out, SETTINGS, jobs=1, progress=False)
    app = create_app(out, TOKEN, "asha", "127.0.0.1")
    app.testing = True
    first = app.test_client()
    svc = app.extensions["sanitize_review"]
    fid = file_id(POLICE.name)
    assert files(first)[POLICE.name]["status"] == "review"
    for f in get(first, f"/api/files/{fid}").get_json()["flags"]:
        post(first, f"/api/files/{fid}/flags/{f['id']}", {"state": "cleared", "reason": "ok"})

    busy = threading.Event()
    svc.approvals.submit("other", "other.jpg", lambda: busy.wait(60) and "")
    r = post(first, f"/api/files/{fid}/approve", {"wait": False})
    assert r.status_code == 202 and r.get_json()["state"] == "queued"
    # The server stops while the approval waits its turn (the window closed, the
    # PC shut down): the queued render never starts.
    svc.approvals._pool.shutdown(wait=False, cancel_futures=True)
    busy.set()
    svc.store.close()
    assert not (out / "safe" / POLICE.name).exists()

    later = ReviewService(out, "ravi")  # the next start, by someone else
    try:
        jobs = later.jobs()
        assert [(j["input"], j["state"] in ("queued", "running", "done")) for j in jobs] == [
            (POLICE.name, True)]
        for _ in range(600):
            if later.jobs()[0]["state"] in ("done", "failed"):
                break
            time.sleep(0.2)
        job = later.jobs()[0]
        assert job["state"] == "done", job
        assert (out / job["output"]).is_file()
        detail = later.file(fid)
        assert detail["status"] == "safe" and detail["approved"]["by"] == "asha"
        actions = [(h["action"], h["reviewer"]) for h in detail["history"]]
        assert actions[-2:] == [("approve_queued", "asha"), ("approve", "asha")]
    finally:
        later.close()
    third = ReviewService(out, "ravi")  # done: nothing to take up again
    try:
        assert third.jobs() == []
    finally:
        third.close()


# ------------------------------------------------------------------ helpers


def _inter(a: Box, b: Box) -> float:
    return (max(0.0, min(a.x2, b.x2) - max(a.x1, b.x1))
            * max(0.0, min(a.y2, b.y2) - max(a.y1, b.y1)))


def _free_patch(grown: dict[str, Box], w: int, h: int, size: int = 80) -> list[float]:
    """A size x size box that overlaps no region (scanning from the bottom right)."""
    for y in range(h - size - 4, 0, -size // 2):
        for x in range(w - size - 4, 0, -size // 2):
            b = Box(x, y, x + size, y + size)
            if all(_inter(b, g) == 0 for g in grown.values()):
                return [float(x), float(y), float(x + size), float(y + size)]
    raise AssertionError("no free patch")


def _crop(a: np.ndarray, box: list[float]) -> np.ndarray:
    x1, y1, x2, y2 = (round(v) for v in box)
    return a[y1:y2, x1:x2]


def _frame(path: Path, index: int) -> np.ndarray:
    with av.open(str(path)) as c:
        for k, f in enumerate(c.decode(video=0)):
            if k == index:
                return f.to_ndarray(format="rgb24")
    raise AssertionError(f"no frame {index}")


def _audio(path: Path) -> tuple[np.ndarray, int]:
    with av.open(str(path)) as c:
        s = c.streams.audio[0]
        chunks = [f.to_ndarray().mean(axis=0) for f in c.decode(s)]
        return np.concatenate(chunks), s.rate


def _rms(samples: np.ndarray, rate: int, t0: float, t1: float) -> float:
    part = samples[int(t0 * rate):int(t1 * rate)]
    return float(np.sqrt(np.mean(part.astype(np.float64) ** 2)))


def test_decisions_exported_to_csv(client, run) -> None:
    from sanitize.csv_export import export_decisions_csv

    text = export_decisions_csv(run["out"]).read_text(encoding="utf-8-sig")
    lines = text.splitlines()
    assert lines[0] == "time,reviewer,input,target,action,reason,details"
    assert any(POLICE.name in line and ",keep," in line and "police officer on duty" in line
               for line in lines)
    assert any(",approve," in line and "safe/" in line for line in lines)
    # test_approve_in_the_background's refused approval: asked for, then why refused.
    assert any(",approve_queued," in line for line in lines)
    assert any(",approve_refused," in line and "changed" in line for line in lines)
    # The moved box of test_drawn_box_moves_and_resizes, with where it went.
    assert any(",edit," in line and "cover the badge" in line
               and "box 100,100,180,160 on frame 0" in line for line in lines)


def test_cli_serves_and_prints_one_line(run) -> None:
    import re
    import urllib.error
    import urllib.request

    proc = subprocess.Popen([sys.executable, "-m", "sanitize", "review", str(run["out"]),
                             "--no-browser", "--reviewer", "cli"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        m = re.fullmatch(r"review: http://127\.0\.0\.1:(\d+)/\?token=([\w-]+)\n", line)
        assert m, line
        port, token = m.groups()
        req = urllib.request.Request(f"http://127.0.0.1:{port}/api/files",
                                     headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(req, timeout=30) as r:
            assert r.status == 200
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/files", timeout=30)
        assert e.value.code == 401
    finally:
        proc.terminate()
        proc.wait(timeout=30)
