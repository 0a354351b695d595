"""Corrupted files, in the manner of mat2's tests: every parser, real files broken on purpose.

Truncations, garbage segments, wrong lengths, loops and runaway nesting, zero-size
boxes.  For each: inventory() and residual() return (never raise), and a file whose
walk failed is never metadata-free: inventory() names the failure (`unparsed`, or
the block it could not place) and residual() is never empty.  The second half breaks
clean outputs we write ourselves: the re-check must stop passing them.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import shared_paths
from PIL import Image

from sanitize.media.metadata import inventory, residual
from sanitize.types import MetadataItem

CORPUS = shared_paths.METADATA
Mutation = Callable[[bytes], bytes]


def classes(items: list[MetadataItem]) -> set[str]:
    return {i.cls for i in items}


def _check(path: Path, data: bytes, expect: str | None = "unparsed") -> set[str]:
    """Write `data`, run both re-reads, assert fail-closed; returns inventory classes."""
    path.write_bytes(data)
    found = inventory(path)
    assert all(isinstance(i, MetadataItem) for i in found)
    assert residual(path) != [], f"{path.name}: a broken file passed the re-check as clean"
    if expect is not None:
        assert expect in classes(found), f"{path.name}: {sorted(classes(found))}"
    return classes(found)


def _corpus(name: str) -> bytes:
    """A real file: from the committed subset (tests/data) where it is there, else
    from the full corpus; skipped, with its name, when neither has it."""
    data = getattr(shared_paths, "DATA", None)
    for folder in ([data / "metadata"] if data else []) + [CORPUS]:
        if (folder / name).is_file():
            return (folder / name).read_bytes()
    pytest.skip(f"corpus file not found: {name}")


# ----------------------------------------------------------------- structure finders
# Tiny independent readers, so a mutation lands on a real segment, chunk or box.

def _jpeg_segments(data: bytes) -> dict[int, int]:
    """First position of each marker before SOS."""
    pos, found = 2, {}
    while pos + 4 <= len(data) and data[pos] == 0xFF and data[pos + 1] != 0xDA:
        found.setdefault(data[pos + 1], pos)
        pos += 2 + struct.unpack_from(">H", data, pos + 2)[0]
    return found


def _png_chunks(data: bytes) -> dict[bytes, int]:
    pos, found = 8, {}
    while pos + 8 <= len(data):
        length, typ = struct.unpack_from(">I4s", data, pos)
        found.setdefault(typ, pos)
        pos += 12 + length
    return found


def _riff_chunks(data: bytes) -> dict[bytes, int]:
    pos, found = 12, {}
    while pos + 8 <= len(data):
        typ, length = struct.unpack_from("<4sI", data, pos)
        found.setdefault(typ, pos)
        pos += 8 + length + (length & 1)
    return found


def _boxes(data: bytes, start: int = 0, end: int | None = None) -> dict[bytes, int]:
    pos, end, found = start, len(data) if end is None else end, {}
    while pos + 8 <= end:
        size, typ = struct.unpack_from(">I4s", data, pos)
        found.setdefault(typ, pos)
        if size < 8:
            break
        pos += size
    return found


def _box(typ: bytes, body: bytes) -> bytes:
    return struct.pack(">I", 8 + len(body)) + typ + body


def _set_u32(data: bytes, pos: int, value: int, order: str = ">") -> bytes:
    return data[:pos] + struct.pack(order + "I", value) + data[pos + 4:]


def _insert(data: bytes, pos: int, extra: bytes) -> bytes:
    return data[:pos] + extra + data[pos:]


GARBAGE = bytes(range(7, 250, 3)) * 3


def _truncations(data: bytes) -> list[bytes]:
    return [data[: int(len(data) * f)] for f in (0.1, 0.5, 0.9)] + [data[:-1]]


# ----------------------------------------------------------------- JPEG

def _exif_tiff(data: bytes) -> tuple[int, str, int]:
    """(TIFF header position, byte order, IFD0 position) of the EXIF block."""
    app1 = _jpeg_segments(data)[0xE1]
    base = app1 + 10
    order = "<" if data[base:base + 2] == b"II" else ">"
    return base, order, base + struct.unpack_from(order + "I", data, base + 4)[0]


def _ifd_loop(data: bytes) -> bytes:
    base, order, ifd0 = _exif_tiff(data)
    count = struct.unpack_from(order + "H", data, ifd0)[0]
    return _set_u32(data, ifd0 + 2 + 12 * count, ifd0 - base, order)  # IFD0 → next is IFD0


def _gps_ifd_loop(data: bytes) -> bytes:
    base, order, ifd0 = _exif_tiff(data)
    count = struct.unpack_from(order + "H", data, ifd0)[0]
    for e in range(ifd0 + 2, ifd0 + 2 + 12 * count, 12):
        if struct.unpack_from(order + "H", data, e)[0] == 0x8825:
            return _set_u32(data, e + 8, ifd0 - base, order)  # GPS IFD → IFD0
    raise AssertionError("no GPS IFD")


JPEG_CASES: dict[str, tuple[Mutation, str]] = {
    "inside_app1": (lambda d: d[: _jpeg_segments(d)[0xE1] + 40], "unparsed"),
    "garbage_between_segments": (lambda d: _insert(d, _jpeg_segments(d)[0xDB], GARBAGE),
                                 "unparsed"),
    "garbage_app9": (lambda d: _insert(d, 2, b"\xff\xe9" + struct.pack(">H", len(GARBAGE) + 2)
                                       + GARBAGE), "unknown_block"),
    "app1_length_past_end": (lambda d: d[:_jpeg_segments(d)[0xE1] + 2] + b"\xff\xff"
                             + d[_jpeg_segments(d)[0xE1] + 4:], "unparsed"),
    "app1_length_one": (lambda d: d[:_jpeg_segments(d)[0xE1] + 2] + b"\x00\x01"
                        + d[_jpeg_segments(d)[0xE1] + 4:], "unparsed"),
    "ifd_chain_loop": (_ifd_loop, "unparsed"),
    "gps_ifd_points_back": (_gps_ifd_loop, "unparsed"),
    "exif_offset_past_end": (lambda d: _set_u32(d, _exif_tiff(d)[0] + 4, 0x7FFFFFF0,
                                                _exif_tiff(d)[1]), "unparsed"),
}


@pytest.mark.parametrize("case", sorted(JPEG_CASES))
def test_jpeg_corrupted(case: str, tmp_path: Path) -> None:
    mutate, expect = JPEG_CASES[case]
    _check(tmp_path / f"{case}.jpg", mutate(_corpus("et__GPS.jpg")), expect)


def test_jpeg_loops_keep_what_was_read(tmp_path: Path) -> None:
    found = _check(tmp_path / "loop.jpg", _ifd_loop(_corpus("et__GPS.jpg")))
    assert "gps" in found  # the walk stops at the loop, it does not forget what it saw


@pytest.mark.parametrize("i", range(4))
def test_jpeg_truncated(i: int, tmp_path: Path) -> None:
    _check(tmp_path / f"t{i}.jpg", _truncations(_corpus("ian__DSCN0010.jpg"))[i])


def test_jpeg_trailer_chain_is_bounded(tmp_path: Path) -> None:
    one = _corpus("et__GPS.jpg")
    found = _check(tmp_path / "chain.jpg", one * 40, expect="embedded_image")
    assert "gps" in found


# ----------------------------------------------------------------- PNG

PNG_CASES: dict[str, tuple[Mutation, str]] = {
    "garbage_chunk": (lambda d: _insert(d, _png_chunks(d)[b"IEND"], _png_chunk(b"zzZz", GARBAGE)),
                      "unknown_block"),
    "chunk_length_past_end": (lambda d: _set_u32(d, _png_chunks(d)[b"IHDR"], 0x7FFFFFF0),
                              "unparsed"),
    "bad_ztxt": (lambda d: _insert(d, _png_chunks(d)[b"IEND"], _png_chunk(
        b"zTXt", b"Comment\x00\x00" + GARBAGE)), "unparsed"),
    "after_iend": (lambda d: d + GARBAGE, "embedded_image"),
}


def _png_chunk(typ: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + typ + body + struct.pack(">I", zlib.crc32(typ + body))


@pytest.mark.parametrize("case", sorted(PNG_CASES))
def test_png_corrupted(case: str, tmp_path: Path) -> None:
    mutate, expect = PNG_CASES[case]
    _check(tmp_path / f"{case}.png", mutate(_corpus("et__PNG.png")), expect)


@pytest.mark.parametrize("i", range(4))
def test_png_truncated(i: int, tmp_path: Path) -> None:
    _check(tmp_path / f"t{i}.png", _truncations(_corpus("et__PNG.png"))[i])


# ----------------------------------------------------------------- WebP

def _riff_size(data: bytes, delta: int) -> bytes:
    return _set_u32(data, 4, struct.unpack_from("<I", data, 4)[0] + delta, "<")


def _riff_chunk(typ: bytes, body: bytes) -> bytes:
    return typ + struct.pack("<I", len(body)) + body + b"\x00" * (len(body) & 1)


WEBP_CASES: dict[str, tuple[Mutation, str]] = {
    "riff_size_past_end": (lambda d: _riff_size(d, 4096), "unparsed"),
    "riff_size_short": (lambda d: _riff_size(d, -(len(d) - 8 - 4)), "embedded_image"),
    "chunk_length_past_end": (lambda d: _set_u32(d, 16, 0x7FFFFFF0, "<"), "unparsed"),
    "garbage_chunk": (lambda d: _riff_size(d + _riff_chunk(b"JUNQ", GARBAGE), len(
        _riff_chunk(b"JUNQ", GARBAGE))), "unknown_block"),
    "cut_at_chunk_boundary": (lambda d: d[:max(_riff_chunks(d).values())], "unparsed"),
}


@pytest.mark.parametrize("case", sorted(WEBP_CASES))
def test_webp_corrupted(case: str, tmp_path: Path) -> None:
    mutate, expect = WEBP_CASES[case]
    _check(tmp_path / f"{case}.webp", mutate(_corpus("et__RIFF.webp")), expect)


@pytest.mark.parametrize("i", range(4))
def test_webp_truncated(i: int, tmp_path: Path) -> None:
    _check(tmp_path / f"t{i}.webp", _truncations(_corpus("et__RIFF.webp"))[i])


# ----------------------------------------------------------------- TIFF (Pillow writes a real one)

def _tiff_ifd0(data: bytes) -> tuple[str, int]:
    order = "<" if data[:2] == b"II" else ">"
    return order, struct.unpack_from(order + "I", data, 4)[0]


def _tiff_loop(data: bytes) -> bytes:
    order, ifd0 = _tiff_ifd0(data)
    count = struct.unpack_from(order + "H", data, ifd0)[0]
    return _set_u32(data, ifd0 + 2 + 12 * count, ifd0, order)


TIFF_CASES: dict[str, tuple[Mutation, str]] = {
    "ifd_offset_past_end": (lambda d: _set_u32(d, 4, 0x7FFFFFF0, _tiff_ifd0(d)[0]), "unparsed"),
    "ifd_chain_loop": (_tiff_loop, "unparsed"),
    "entry_count_huge": (lambda d: d[:_tiff_ifd0(d)[1]] + struct.pack(_tiff_ifd0(d)[0] + "H",
                                                                        0xFFFF)
                         + d[_tiff_ifd0(d)[1] + 2:], "unparsed"),
    "header_only": (lambda d: d[:12], "unparsed"),
}


def _tiff() -> bytes:
    exif = Image.Exif()
    exif[0x010F], exif[0x8298] = "ACME", "someone"  # Make, Copyright
    buf = io.BytesIO()
    _pixels().save(buf, "TIFF", exif=exif)
    return buf.getvalue()


@pytest.mark.parametrize("case", sorted(TIFF_CASES))
def test_tiff_corrupted(case: str, tmp_path: Path) -> None:
    mutate, expect = TIFF_CASES[case]
    assert {"device", "owner"} <= classes(inventory(_write(tmp_path / "ok.tif", _tiff())))
    _check(tmp_path / f"{case}.tif", mutate(_tiff()), expect)


# ----------------------------------------------------------------- BMP (Pillow writes a real one)

def _bmp() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((32, 40, 3), 90, np.uint8)).save(buf, "BMP")
    return buf.getvalue()


@pytest.mark.parametrize("case,mutate,expect", [
    ("truncated", lambda d: d[: len(d) // 2], "unparsed"),
    ("appended", lambda d: d + GARBAGE, "embedded_image"),
    ("declared_size_huge", lambda d: _set_u32(d, 2, 0x7FFFFFF0, "<"), "unparsed"),
])
def test_bmp_corrupted(case: str, mutate: Mutation, expect: str, tmp_path: Path) -> None:
    assert classes(inventory(_write(tmp_path / "ok.bmp", _bmp()))) == set()
    _check(tmp_path / f"{case}.bmp", mutate(_bmp()), expect)


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


# ----------------------------------------------------------------- HEIF

def _deep(typ: bytes, depth: int, leaf: bytes = b"") -> bytes:
    box = leaf
    for _ in range(depth):
        box = _box(typ, box)
    return box


HEIF_CASES: dict[str, tuple[Mutation, str]] = {
    "meta_size_past_end": (lambda d: _set_u32(d, _boxes(d)[b"meta"], 0x7FFFFFF0), "unparsed"),
    "meta_size_below_header": (lambda d: _set_u32(d, _boxes(d)[b"meta"], 4), "unparsed"),
    # size 0 ("to the end of the file") makes the image data a child of 'meta'
    "meta_size_zero": (lambda d: _set_u32(d, _boxes(d)[b"meta"], 0), "unknown_block"),
    "garbage_box": (lambda d: d + _box(b"junq", GARBAGE), "unknown_block"),
    "largesize_past_end": (lambda d: d + struct.pack(">I4sQ", 1, b"free", 1 << 62), "unparsed"),
    "deep_moov": (lambda d: d + _box(b"moov", _deep(b"trak", 400)), "unparsed"),
}


@pytest.mark.parametrize("case", sorted(HEIF_CASES))
def test_heif_corrupted(case: str, tmp_path: Path) -> None:
    mutate, expect = HEIF_CASES[case]
    _check(tmp_path / f"{case}.heic", mutate(_corpus("ian__IMG_5195.HEIC")), expect)


@pytest.mark.parametrize("i", range(4))
def test_heif_truncated(i: int, tmp_path: Path) -> None:
    _check(tmp_path / f"t{i}.heic", _truncations(_corpus("ian__IMG_5195.HEIC"))[i])


# ----------------------------------------------------------------- MP4 / QuickTime

def _moov_child(data: bytes, typ: bytes) -> int:
    moov = _boxes(data)[b"moov"]
    return _boxes(data, moov + 8, moov + struct.unpack_from(">I", data, moov)[0])[typ]


MP4_CASES: dict[str, tuple[Mutation, str]] = {
    "moov_size_past_end": (lambda d: _set_u32(d, _boxes(d)[b"moov"], 0x7FFFFFF0), "unparsed"),
    "moov_child_past_parent": (lambda d: _set_u32(d, _moov_child(d, b"mvhd"), 0x7FFFFFF0),
                               "unparsed"),
    "moov_child_size_zero": (lambda d: _set_u32(d, _moov_child(d, b"mvhd"), 0), None),
    "garbage_box": (lambda d: d + _box(b"junq", GARBAGE), "unknown_block"),
    "largesize_past_end": (lambda d: d + struct.pack(">I4sQ", 1, b"free", 1 << 62), "unparsed"),
    "deep_nesting": (lambda d: d + _box(b"moov", _deep(b"trak", 400)), "unparsed"),
    "deep_meta_in_udta": (lambda d: d + _box(b"moov", _box(b"udta", _deep(b"meta", 3000))),
                          "unknown_block"),
    "box_size_below_header": (lambda d: d + struct.pack(">I4s", 5, b"udta") + GARBAGE,
                              "unparsed"),
}


@pytest.mark.parametrize("source", ["mex__with-gps.mp4", "mex__with-gps.mov"])
@pytest.mark.parametrize("case", sorted(MP4_CASES))
def test_mp4_corrupted(source: str, case: str, tmp_path: Path) -> None:
    mutate, expect = MP4_CASES[case]
    _check(tmp_path / f"{case}{Path(source).suffix}", mutate(_corpus(source)), expect)


@pytest.mark.parametrize("i", range(4))
def test_mp4_truncated(i: int, tmp_path: Path) -> None:
    _check(tmp_path / f"t{i}.mp4", _truncations(_corpus("mex__with-gps.mp4"))[i])


# ----------------------------------------------------------------- Matroska / demuxer-only

def _mkv(path: Path) -> bytes:
    with av.open(str(path), "w", format="matroska") as out:
        out.metadata["title"] = "scene"
        video = out.add_stream("mpeg4", rate=10)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        for i in range(20):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), i * 9, np.uint8),
                                               format="rgb24")
            out.mux(video.encode(frame))
        out.mux(video.encode())
    return path.read_bytes()


def test_matroska_truncated_and_garbled(tmp_path: Path) -> None:
    data = _mkv(tmp_path / "ok.mkv")
    assert "comment" in classes(inventory(tmp_path / "ok.mkv"))
    assert "unparsed" not in classes(inventory(tmp_path / "ok.mkv"))
    for frac in (0.3, 0.6, 0.95):
        _check(tmp_path / f"t{frac}.mkv", data[: int(len(data) * frac)])
    _check(tmp_path / "garbled.mkv", data[:4] + GARBAGE + data[4 + len(GARBAGE):])


# ----------------------------------------------------------------- our own outputs, broken

def _pixels() -> Image.Image:
    rng = np.random.default_rng(3)
    return Image.fromarray(rng.integers(0, 255, (40, 56, 3), dtype=np.uint8))


def _saved(fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    _pixels().save(buf, fmt, **kw)
    return buf.getvalue()


def _mp4(path: Path) -> bytes:
    with av.open(str(path), "w", options={"fflags": "+bitexact"}) as out:
        video = out.add_stream("mpeg4", rate=10)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        audio = out.add_stream("aac", rate=8000)
        for _ in range(3):
            frame = av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="rgb24")
            out.mux(video.encode(frame))
        out.mux(video.encode())
        samples = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp",
                                             layout="mono")
        samples.sample_rate, samples.pts, samples.time_base = 8000, 0, Fraction(1, 8000)
        out.mux(audio.encode(samples))
        out.mux(audio.encode())
    return path.read_bytes()


OUTPUT_CASES: dict[str, Mutation] = {
    "jpeg_truncated": lambda d: d[: len(d) // 2],
    "jpeg_no_eoi": lambda d: d[:-2],
    "jpeg_dqt_length_wrong": lambda d: d[:_jpeg_segments(d)[0xDB] + 2] + b"\x00\x03"
    + d[_jpeg_segments(d)[0xDB] + 4:],
    "jpeg_tem_marker": lambda d: _insert(d, 2, b"\xff\x01"),
    "jpeg_zero_padding_after_eoi": lambda d: d + b"\x00" * 16,
    "png_truncated": lambda d: d[: len(d) // 2],
    "png_idat_length_wrong": lambda d: _set_u32(d, _png_chunks(d)[b"IDAT"], 0x7FFFFFF0),
    "png_garbage_chunk": lambda d: _insert(d, _png_chunks(d)[b"IEND"], _png_chunk(b"zzZz",
                                                                               GARBAGE)),
    "webp_truncated": lambda d: d[: len(d) // 2],
    "webp_riff_size_past_end": lambda d: _riff_size(d, 64),
    "webp_riff_size_short": lambda d: _riff_size(d, -8),
}
OUTPUT_SOURCE = {"jpeg": lambda: _saved("JPEG"), "png": lambda: _saved("PNG"),
                 "webp": lambda: _saved("WEBP")}


@pytest.mark.parametrize("case", sorted(OUTPUT_CASES))
def test_broken_outputs_fail_the_recheck(case: str, tmp_path: Path) -> None:
    fmt = case.split("_")[0]
    clean = OUTPUT_SOURCE[fmt]()
    assert residual(_write(tmp_path / f"clean.{fmt}", clean)) == []
    broken = _write(tmp_path / f"{case}.{fmt}", OUTPUT_CASES[case](clean))
    assert residual(broken) != [], case
    inventory(broken)


MP4_OUTPUT_CASES: dict[str, Mutation] = {
    "truncated": lambda d: d[: len(d) // 2],
    "ftyp_size_zero": lambda d: _set_u32(d, 0, 0),  # 'ftyp' swallows the whole file
    "ftyp_grown_over_mdat": lambda d: _set_u32(d, 0, _boxes(d)[b"moov"]),
    "mdat_size_zero": lambda d: _set_u32(d, _boxes(d)[b"mdat"], 0),  # swallows the moov
    "moov_size_below_header": lambda d: _set_u32(d, _boxes(d)[b"moov"], 4),
    "big_zero_free": lambda d: d + _box(b"free", b"\x00" * 70000),
    "free_with_payload": lambda d: d + _box(b"free", GARBAGE),
    "trailing_bytes": lambda d: d + b"\x00\x00\x00",
}


@pytest.mark.parametrize("case", sorted(MP4_OUTPUT_CASES))
def test_broken_mp4_output_fails_the_recheck(case: str, tmp_path: Path) -> None:
    clean = _mp4(tmp_path / "clean.mp4")
    assert residual(tmp_path / "clean.mp4") == []
    broken = _write(tmp_path / f"{case}.mp4", MP4_OUTPUT_CASES[case](clean))
    assert residual(broken) != [], case
    inventory(broken)
