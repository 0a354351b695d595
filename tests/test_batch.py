"""Batch runs: walking, resume from the ledger, kill-safety, engines, watch, CSV.

Most tests use the real pipeline on real photos from tests/data.  A few
use `fake_process` (below): it is the only way to make a worker segfault, or to
flip a file's status, on demand.  It lives at module level so spawned workers
can import it by name.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import shared_paths

from sanitize.batch import InputFile, collect_inputs, run_batch
from sanitize.config import Settings
from sanitize.csv_export import export_csv
from sanitize.engines import CRASH_REASON
from sanitize.ledger import Ledger
from sanitize.types import FileResult, Status

REPO = Path(__file__).resolve().parents[1]
DATA = shared_paths.DATA
FACES = DATA / "faces" / "images"
FAKE = f"{__name__}:fake_process"


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fake_process(src: Path, rel: Path, out_root: Path, settings: Settings) -> FileResult:
    """Stand-in pipeline: copies the bytes; 'crash' in the name kills the worker
    with SIGSEGV; mask='solid' sends everything to review.  Unlike the real
    pipeline it does not remove the copy in the other folder, so the batch's
    own cleanup is what the tests see."""
    if "crash" in rel.name:
        os.kill(os.getpid(), signal.SIGSEGV)
    res = FileResult(input=rel.as_posix(), status=Status.ERROR)
    try:
        data = src.read_bytes()
    except OSError as e:
        res.error = f"cannot read: {e.strerror}"
        return res
    res.sha256_in = hashlib.sha256(data).hexdigest()
    if not data.startswith((b"\xff\xd8", b"\x89PNG")):
        res.error = "not an image"
        return res
    res.status = Status.REVIEW if settings.mask == "solid" else Status.SAFE
    tmp = out_root / ".tmp" / f"part-{os.getpid()}"
    tmp.parent.mkdir(parents=True, exist_ok=True)
    tmp.write_bytes(data + b"fake")
    dst = out_root / res.status.value / rel
    dst.parent.mkdir(parents=True, exist_ok=True)
    res.sha256_out = sha(tmp)
    os.replace(tmp, dst)
    res.output = (Path(res.status.value) / rel).as_posix()
    return res


def photos(dst: Path, n: int) -> list[Path]:
    """Copy n real photos (faces, metadata-rich camera files, objects) into dst/."""
    pool = (sorted(FACES.glob("*.jpg")) + sorted((DATA / "metadata").glob("*.jpg"))
            + sorted((DATA / "objects").glob("*/*.jpg")))
    assert len(pool) >= n
    dst.mkdir(parents=True, exist_ok=True)
    out = []
    for i, p in enumerate(pool[:n]):
        sub = dst / ("nested" if i % 3 == 0 else "") / p.name
        sub.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(p, sub)
        out.append(sub)
    return out


def ledger_rows(out: Path) -> dict[str, tuple]:
    with sqlite3.connect(out / "ledger.sqlite") as db:
        cur = db.execute("SELECT rel, status, output, sha256_in, sha256_out, fingerprint,"
                         " result_json FROM files ORDER BY rel")
        rows = {}
        for rel, st, o, si, so, fp, rj in cur.fetchall():
            d = json.loads(rj)
            d.pop("seconds")
            rows[rel] = (st, o, si, so, fp, json.dumps(d, sort_keys=True))
        return rows


def outputs(out: Path) -> dict[str, str]:
    return {p.relative_to(out).as_posix(): sha(p)
            for top in ("safe", "review") if (out / top).is_dir()
            for p in sorted((out / top).rglob("*")) if p.is_file()}


# ---------------------------------------------------------------- walking


def test_collect_inputs_walks_mirrors_and_skips(tmp_path: Path) -> None:
    src = tmp_path / "in"
    (src / "a" / "b").mkdir(parents=True)
    (src / "z.jpg").write_bytes(b"1")
    (src / "a" / "b" / "गिरफ्तारी.jpg").write_bytes(b"2")
    # "/" cannot be in a file name: this is folder "<script>alert(1)<" + "script>.jpg",
    # which gives exactly the relative path a report must escape.
    (src / "a" / "<script>alert(1)<").mkdir()
    (src / "a" / "<script>alert(1)</script>.jpg").write_bytes(b"3")
    (src / "a" / "loop").symlink_to(src, target_is_directory=True)  # a loop if followed
    os.mkfifo(src / "pipe.jpg")  # opening it would hang the batch
    out = src / "out"  # OUT inside the input folder: its files must never be inputs
    (out / "safe").mkdir(parents=True)
    (out / "safe" / "z.jpg").write_bytes(b"old output")
    single = tmp_path / "single.jpg"
    single.write_bytes(b"4")

    got = collect_inputs([src, single, src / "z.jpg"], out)
    rels = [f.rel.as_posix() for f in got]
    assert rels == ["a/<script>alert(1)</script>.jpg", "a/b/गिरफ्तारी.jpg", "z.jpg",
                    "single.jpg"]
    assert all(f.src.is_absolute() and f.src.is_file() for f in got)
    assert collect_inputs([src, single], out) == got  # stable


def test_collect_inputs_same_name_from_two_folders(tmp_path: Path) -> None:
    for d in ("x", "y"):
        (tmp_path / d).mkdir()
        (tmp_path / d / "p.jpg").write_bytes(d.encode())
    (tmp_path / "x" / "p.HEIC").write_bytes(b"phone")  # output p-heic.jpg (sanitize.naming)
    got = collect_inputs([tmp_path / "x", tmp_path / "y"], tmp_path / "out")
    # rel is always the real relative path; `plan` refuses the second p.jpg (test_trust).
    assert [(f.src.relative_to(tmp_path).as_posix(), f.rel.as_posix()) for f in got] == [
        ("x/p.HEIC", "p.HEIC"), ("x/p.jpg", "p.jpg"), ("y/p.jpg", "p.jpg")]


# ---------------------------------------------------------------- resume (fake worker)


def _run(inputs: list[InputFile], out: Path, settings: Settings | None = None,
         jobs: int = 1) -> list[FileResult]:
    return run_batch(inputs, out, settings or Settings(), jobs=jobs, progress=False,
                     worker=FAKE)


def _jpegs(d: Path, names: list[str]) -> list[Path]:
    d.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, n in enumerate(names):
        (d / n).write_bytes(b"\xff\xd8" + bytes([i]) * 100)
        paths.append(d / n)
    return paths


def test_resume_skips_done_and_redoes_changed(tmp_path: Path) -> None:
    _jpegs(tmp_path / "in", ["a.jpg", "b.jpg", "c.jpg"])
    out = tmp_path / "out"
    inputs = collect_inputs([tmp_path / "in"], out)
    _run(inputs, out)
    first = {r.rel: r.finished_at for r in Ledger.open(out).rows()}

    _run(inputs, out)  # nothing changed: nothing redone
    assert {r.rel: r.finished_at for r in Ledger.open(out).rows()} == first

    (tmp_path / "in" / "a.jpg").write_bytes(b"\xff\xd8changed")  # input changed
    (out / "safe" / "b.jpg").write_bytes(b"tampered")              # output altered
    (out / "safe" / "c.jpg").unlink()                              # output lost
    (out / ".tmp").mkdir(exist_ok=True)
    (out / ".tmp" / "part-stale.jpg").write_bytes(b"x")             # killed mid-write
    results = _run(inputs, out)
    again = {r.rel: r.finished_at for r in Ledger.open(out).rows()}
    assert all(again[k] > first[k] for k in first)
    assert [r.status for r in results] == [Status.SAFE] * 3
    assert not any((out / ".tmp").iterdir())
    for r in Ledger.open(out).rows():
        assert sha(out / r.output) == r.sha256_out


def test_orphan_output_and_status_flip_leave_one_copy(tmp_path: Path) -> None:
    _jpegs(tmp_path / "in", ["a.jpg", "b.jpg"])
    out = tmp_path / "out"
    inputs = collect_inputs([tmp_path / "in"], out)
    # Killed between rename and ledger commit: an output nobody vouches for,
    # in the folder a clean run would not even use.
    (out / "review").mkdir(parents=True)
    (out / "review" / "a.jpg").write_bytes(b"orphan")
    (out / "safe").mkdir(parents=True)
    (out / "safe" / "b.jpg").write_bytes(b"orphan")
    _run(inputs, out)
    assert outputs(out).keys() == {"safe/a.jpg", "safe/b.jpg"}
    assert outputs(out)["safe/b.jpg"] != sha_bytes(b"orphan")

    _run(inputs, out, Settings(mask="solid"))  # new settings: both now go to review
    assert outputs(out).keys() == {"review/a.jpg", "review/b.jpg"}
    report = json.loads((out / "report.json").read_text())
    assert sorted(f["input"] for f in report["files"]) == ["a.jpg", "b.jpg"]


def sha_bytes(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def test_second_folder_with_same_names_does_not_overwrite_the_first(tmp_path: Path) -> None:
    _jpegs(tmp_path / "day1", ["a.jpg", "b.jpg"])
    (tmp_path / "day2").mkdir()
    (tmp_path / "day2" / "a.jpg").write_bytes(b"\xff\xd8 another picture")
    (tmp_path / "day2" / "c.jpg").write_bytes(b"\xff\xd8 new")
    out = tmp_path / "out"
    _run(collect_inputs([tmp_path / "day1"], out), out)
    before = outputs(out)
    results = _run(collect_inputs([tmp_path / "day2"], out), out)
    by = {r.input: r for r in results}
    assert by["a.jpg"].status is Status.ERROR and "day1" in (by["a.jpg"].error or "")
    assert by["c.jpg"].status is Status.SAFE
    assert outputs(out)["safe/a.jpg"] == before["safe/a.jpg"]  # day1's output kept
    assert Ledger.open(out).get("a.jpg").src == str(tmp_path / "day1" / "a.jpg")
    report = json.loads((out / "report.json").read_text())
    assert sorted(f["input"] for f in report["files"]) == ["a.jpg", "c.jpg"]


def test_worker_crash_is_one_error_not_a_dead_batch(tmp_path: Path) -> None:
    _jpegs(tmp_path / "in", ["a.jpg", "b_crash.jpg", "c.jpg", "d.jpg", "e.jpg"])
    out = tmp_path / "out"
    results = _run(collect_inputs([tmp_path / "in"], out), out, jobs=2)
    by = {r.input: r for r in results}
    assert len(results) == 5
    assert by["b_crash.jpg"].status is Status.ERROR
    assert by["b_crash.jpg"].error == CRASH_REASON
    assert all(by[n].status is Status.SAFE for n in ("a.jpg", "c.jpg", "d.jpg", "e.jpg"))
    assert outputs(out).keys() == {f"safe/{n}" for n in ("a.jpg", "c.jpg", "d.jpg", "e.jpg")}


def test_csv_register_defuses_formulas_and_keeps_hindi(tmp_path: Path) -> None:
    _jpegs(tmp_path / "in", ["=HYPERLINK(1).jpg", "गिरफ्तारी.jpg"])
    (tmp_path / "in" / "bad.jpg").write_bytes(b"garbage")
    out = tmp_path / "out"
    _run(collect_inputs([tmp_path / "in"], out), out)
    path = export_csv(out)
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")  # BOM: Excel reads UTF-8
    with open(path, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["input"] for r in rows] == ["'=HYPERLINK(1).jpg", "bad.jpg", "गिरफ्तारी.jpg"]
    assert rows[1]["status"] == "error" and rows[1]["error"] == "not an image"
    assert rows[2]["output"] == "safe/गिरफ्तारी.jpg" and len(rows[2]["sha256_out"]) == 64


# ---------------------------------------------------------------- real pipeline


def test_real_batch_two_workers_and_rerun_skips(tmp_path: Path) -> None:
    srcs = photos(tmp_path / "in", 4)
    before = {p: sha(p) for p in srcs}
    out = tmp_path / "out"
    inputs = collect_inputs([tmp_path / "in"], out)
    results = run_batch(inputs, out, Settings(), jobs=2, progress=False)
    assert [r.input for r in results] == [i.rel.as_posix() for i in inputs]
    assert all(r.status in (Status.SAFE, Status.REVIEW) for r in results), \
        [(r.input, r.error) for r in results]
    for r in results:
        assert sha(out / r.output) == r.sha256_out
    assert {p: sha(p) for p in srcs} == before  # originals untouched
    rows = ledger_rows(out)
    run_batch(inputs, out, Settings(), jobs=2, progress=False)
    assert ledger_rows(out) == rows


def test_dask_engine_on_a_local_cluster(tmp_path: Path) -> None:
    from distributed import LocalCluster

    photos(tmp_path / "in", 2)
    (tmp_path / "in" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    out = tmp_path / "out"
    inputs = collect_inputs([tmp_path / "in"], out)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster:
        results = run_batch(inputs, out, Settings(), engine="dask",
                            scheduler=cluster.scheduler_address, progress=False)
    by = {r.input: r for r in results}
    assert len(results) == 3
    assert by["broken.jpg"].status is Status.ERROR and by["broken.jpg"].error
    ok = [r for r in results if r.input != "broken.jpg"]
    assert all(r.status in (Status.SAFE, Status.REVIEW) for r in ok)
    assert {r.output for r in ok} == set(outputs(out))
    assert {r.rel for r in Ledger.open(out).rows()} == set(by)  # driver wrote the ledger


def test_watch_processes_dropped_files_and_survives_restart(tmp_path: Path) -> None:
    from sanitize.watch import watch

    inbox, out = tmp_path / "inbox", tmp_path / "out"
    photos(inbox, 1)  # already waiting when the watcher starts

    def start() -> tuple[threading.Thread, threading.Event]:
        stop = threading.Event()
        t = threading.Thread(target=watch, args=(inbox, out, Settings(), 0.5, stop),
                             kwargs={"poll_seconds": 0.2}, daemon=True)
        t.start()
        return t, stop

    def wait_rows(n: int, timeout: float = 120.0) -> list:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if (out / "ledger.sqlite").exists():
                rows = Ledger.open(out).rows()
                if len(rows) >= n:
                    return rows
            time.sleep(0.3)
        raise AssertionError(f"watch did not record {n} files in time")

    t, stop = start()
    wait_rows(1)
    # Dropped in two pieces, like a slow copy: must be taken only when complete.
    data = (FACES / "grace_hopper.jpg").read_bytes()
    target = inbox / "drop" / "गिरफ्तारी.jpg"
    target.parent.mkdir()
    with open(target, "wb") as fh:
        fh.write(data[: len(data) // 2])
        fh.flush()
        time.sleep(0.2)
        fh.write(data[len(data) // 2:])
    rows = wait_rows(2)
    stop.set()
    t.join(30)
    assert not t.is_alive()
    row = {r.rel: r for r in rows}["drop/गिरफ्तारी.jpg"]
    assert row.sha256_in == sha(target) and row.status in (Status.SAFE, Status.REVIEW)
    assert sha(out / row.output) == row.sha256_out
    done = {r.rel: r.finished_at for r in Ledger.open(out).rows()}

    t, stop = start()  # restart: nothing is redone
    time.sleep(3)
    stop.set()
    t.join(30)
    assert {r.rel: r.finished_at for r in Ledger.open(out).rows()} == done
    report = json.loads((out / "report.json").read_text())
    assert sorted(f["input"] for f in report["files"]) == sorted(done)


# ---------------------------------------------------------------- kill and resume

def _batch_cmd(src: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "sanitize", "run", str(src), "-o", str(out),
            "--jobs", "2", "--no-progress"]


def _finish(src: Path, out: Path, env: dict[str, str]) -> None:
    proc = subprocess.run(_batch_cmd(src, out), env=env, timeout=900,
                          capture_output=True, text=True)
    assert proc.returncode in (0, 1), proc.stderr  # 1: some need review; 2 would be failures


def _kill_tree(proc: subprocess.Popen) -> None:
    # SIGKILL the whole group: the driver and its pool workers, like a power cut.
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


@pytest.mark.slow
def test_sigkill_at_random_moments_then_resume_equals_clean_run(tmp_path: Path) -> None:
    src = tmp_path / "in"
    srcs = photos(src, 12)
    before = {p: sha(p) for p in srcs}
    env = {**os.environ, "PYTHONPATH": str(REPO)}

    clean = tmp_path / "clean"
    started = time.monotonic()
    _finish(src, clean, env)
    # Kill moments scaled to this machine's clean run (start-up included), so that
    # a faster tool or machine still gets killed mid-batch, at random moments.
    whole = time.monotonic() - started

    out = tmp_path / "killed"
    rng = random.Random(1234)
    kills = 0
    for _ in range(5):
        proc = subprocess.Popen(_batch_cmd(src, out), env=env, start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.2, 0.55) * whole)
        if proc.poll() is not None:
            break
        _kill_tree(proc)
        kills += 1
    assert kills >= 2, "the batch finished before it could be killed twice"
    _finish(src, out, env)

    assert outputs(out) == outputs(clean)
    assert ledger_rows(out) == ledger_rows(clean)
    assert len(ledger_rows(out)) == 12
    assert not any((out / ".tmp").iterdir()) if (out / ".tmp").exists() else True
    assert {p: sha(p) for p in srcs} == before
    report = json.loads((out / "report.json").read_text())
    assert sorted(f["input"] for f in report["files"]) == sorted(ledger_rows(clean))
