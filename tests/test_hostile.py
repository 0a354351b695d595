"""A folder built to hurt: empty, truncated and random files under media names,
a decompression bomb, a symlink loop, script-tag and Hindi names, nested
folders and a file that vanishes between listing and processing.

Whatever happens, every file is accounted for exactly once, failures carry a
reason and leave no output, originals keep their bytes, and the HTML report
shows hostile names as text.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import struct
import zlib
from pathlib import Path

import shared_paths

from sanitize.batch import collect_inputs, run_batch
from sanitize.config import Settings
from sanitize.types import Status

FACES = shared_paths.DATA / "faces" / "images"
SCRIPT = "<script>alert(1)</script>"


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def png_bomb(path: Path, side: int = 40_000) -> None:
    """A few hundred bytes that declare a side x side (1.6 gigapixel) picture:
    the IDAT holds a couple of rows of zeros, the header promises the rest."""
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)  # 8-bit greyscale
    rows = zlib.compress(b"\x00" * (side + 1) * 2, 9)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", rows)
                     + _chunk(b"IEND", b""))


def build_hostile_tree(root: Path) -> dict[str, str]:
    """Returns rel → what the file is; every rel must show up once in the results."""
    rng = random.Random(7)
    real = (FACES / "grace_hopper.jpg").read_bytes()
    kinds: dict[str, str] = {}

    def put(rel: str, data: bytes, what: str) -> None:
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        kinds[rel] = what

    for ext in ("jpg", "mp4", "heic"):
        put(f"empty/zero.{ext}", b"", "bad")
        put(f"random/noise.{ext}", rng.randbytes(4096), "bad")
    put("trunc/half.jpg", real[:2048], "bad")
    put("trunc/half.mp4", b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + rng.randbytes(300),
        "bad")
    put("trunc/half.heic", b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + rng.randbytes(300),
        "bad")
    png_bomb(root / "bomb.png")
    kinds["bomb.png"] = "bad"
    # "/" can't be in a file name, so this is folder "<script>alert(1)<" + file
    # "script>.jpg": the relative path a report prints is exactly the script tag.
    put(f"names/{SCRIPT}.jpg", real, "good")
    put("names/गिरफ्तारी.jpg", real, "good")
    put("a/b/c/d/deep.jpg", (FACES / "neg_landscape.jpg").read_bytes(), "good")
    put("vanishes.jpg", real, "vanish")
    (root / "a" / "b" / "loop").symlink_to(root, target_is_directory=True)
    (root / "a" / "self").symlink_to("self")  # a link to itself: unreadable, no hang
    kinds["a/self"] = "bad"
    return kinds


def test_hostile_folder(tmp_path: Path) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    kinds = build_hostile_tree(src)
    originals = {p: sha(p) for p in src.rglob("*") if p.is_file() and not p.is_symlink()}

    inputs = collect_inputs([src], out)
    rels = [i.rel.as_posix() for i in inputs]
    # Keyed by where the file is; rel is the real relative path (zero.jpg and
    # zero.heic get different output names: sanitize.naming).
    rel_of = {i.src.relative_to(src).as_posix(): i.rel.as_posix() for i in inputs}
    assert sorted(rel_of) == sorted(kinds)  # the loop added nothing, nothing was missed
    assert len(set(rels)) == len(rels)
    (src / "vanishes.jpg").unlink()  # gone between listing and processing
    results = run_batch(inputs, out, Settings(), jobs=2, progress=False)

    assert [r.input for r in results] == rels  # exactly once each, in order
    by = {r.input: r for r in results}
    for where, what in kinds.items():
        rel, r = rel_of[where], by[rel_of[where]]
        if what == "good":
            assert r.status in (Status.SAFE, Status.REVIEW), (rel, r.error)
            assert sha(out / r.output) == r.sha256_out
        else:
            assert r.status is Status.ERROR, (rel, r.status)
            assert r.error and "\n" not in r.error, (rel, r.error)
            assert r.output is None
    produced = {p.relative_to(out).as_posix() for top in ("safe", "review")
                for p in (out / top).rglob("*") if p.is_file()}
    assert produced == {r.output for r in results if r.output}

    del originals[src / "vanishes.jpg"]
    assert {p: sha(p) for p in originals} == originals  # inputs byte-identical

    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert sorted(f["input"] for f in report["files"]) == sorted(rels)
    html = (out / "report.html").read_text(encoding="utf-8")
    assert SCRIPT not in html
    assert "&lt;script&gt;" in html
    assert "गिरफ्तारी" in html
    assert not (out / ".tmp").exists() or not any((out / ".tmp").iterdir())


def test_bomb_is_refused_by_a_small_pixel_limit(tmp_path: Path) -> None:
    """The limit is the setting, not Pillow's default: a modest picture over a
    small max_pixels must be refused too."""
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    shutil.copyfile(FACES / "grace_hopper.jpg", src / "photo.jpg")
    results = run_batch(collect_inputs([src], out), out, Settings(max_pixels=10_000),
                        jobs=1, progress=False)
    assert results[0].status is Status.ERROR and results[0].error
    assert not any((out / "safe").rglob("*")) if (out / "safe").exists() else True
    assert os.listdir(src) == ["photo.jpg"]
