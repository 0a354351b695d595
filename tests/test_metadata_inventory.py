"""inventory() against exiftool on real device files; residual() on clean and dirty outputs.

exiftool is the independent witness: every tag it reports in a group we parse must
show up as an item of the matching class, so a gap in our parsers fails here.
"""

from __future__ import annotations

import io
import json
import random
import re
import shutil
import struct
import subprocess
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
import shared_paths
from PIL import Image, PngImagePlugin

from sanitize.media.metadata import inventory, residual
from sanitize.types import MetadataItem

CORPUS = shared_paths.METADATA
FILES = shared_paths.corpus_files(CORPUS)

needs_corpus = pytest.mark.needs_corpus
needs_exiftool = pytest.mark.skipif(shutil.which("exiftool") is None, reason="needs exiftool")


def classes(items: list[MetadataItem]) -> set[str]:
    return {i.cls for i in items}


# ----------------------------------------------------------------- exiftool as the witness

@pytest.fixture(scope="module")
def exif_json() -> dict[str, dict[str, Any]]:
    # One exiftool run for the whole corpus keeps the suite light.
    out = subprocess.run(["exiftool", "-j", "-n", "-G", *map(str, FILES)],
                         capture_output=True, check=False, timeout=120).stdout
    return {Path(d["SourceFile"]).name: d for d in json.loads(out or b"[]")}


# Groups we parse tag by tag; other groups are vendor blocks, checked as a whole.
PARSED_GROUPS = {"EXIF", "XMP", "IPTC", "QuickTime", "PNG", "RIFF", "JFIF", "Photoshop"}
IGNORED_GROUPS = {"File", "ExifTool", "Composite", "System", "PrintIM", "APP14"}
GROUP_CLASS = {"MakerNotes": "makernote", "XMP": "xmp", "IPTC": "iptc",
               "ICC_Profile": "icc_profile", "FlashPix": "embedded_image",
               "JUMBF": "embedded_image",
               "PhotoMechanic": "embedded_image", "Ducky": "owner"}
VENDOR_CLASSES = {"unknown_block", "serial", "device", "embedded_image", "owner", "makernote"}

TAG_RULES: list[tuple[re.Pattern[str], set[str]]] = [
    (re.compile(r"^GPS"), {"gps"}),
    (re.compile(r"^(City|Country|Province-State|State|Sub-location|Country-Primary\w+|"
                r"CountryCode|Location)$"), {"location", "gps"}),
    (re.compile(r"^(ThumbnailImage|ThumbnailOffset|PhotoshopThumbnail)$"), {"thumbnail"}),
    (re.compile(r"SerialNumber|^(ImageUniqueID|CameraOwnerName|OwnerName|DocumentID|InstanceID)$"),
     {"serial"}),
    (re.compile(r"^(Make|Model|LensMake|LensModel|Software|HostComputer|CreatorTool|"
                r"FirmwareVersion|AndroidVersion)$"), {"device"}),
    (re.compile(r"^(Artist|Copyright|Creator|By-line|CopyrightNotice|Rights|Author|Credit)$"),
     {"owner"}),
    (re.compile(r"^(UserComment|ImageDescription|Comment|Caption-Abstract|Description|Title|"
                r"Headline|Keywords|Subject|ObjectName)$"), {"comment"}),
    (re.compile(r"DateTime|^(CreateDate|ModifyDate|DateCreated|TimeCreated|CreationDate|"
                r"MetadataDate|DigitalCreationDate)$"), {"datetime"}),
    (re.compile(r"^(MetaFormat|OtherFormat)$"), {"telemetry"}),
    (re.compile(r"^(HasExtendedXMP|DirectoryItemSemantic|HDRGainMapVersion)$"), {"embedded_image"}),
]


def _empty(value: Any) -> bool:
    text = str(value).strip()
    return text == "" or not re.search(r"[1-9A-Za-z]", text)


def expected(tags: dict[str, Any]) -> Iterator[tuple[str, set[str]]]:
    """(exiftool tag, classes of which inventory must report at least one)."""
    for key, value in tags.items():
        group, _, name = key.rpartition(":")
        if group in IGNORED_GROUPS or not group:
            continue
        if group in GROUP_CLASS:
            yield key, {GROUP_CLASS[group]}
        if group == "MPF" and name == "NumberOfImages" and int(value) > 1:
            yield key, {"embedded_image"}
        if group not in PARSED_GROUPS and group not in GROUP_CLASS and group != "MPF":
            yield key, VENDOR_CLASSES
        if group not in PARSED_GROUPS or _empty(value):
            continue
        if name == "Orientation" and group == "EXIF":
            yield key, {"orientation"}
        for rule, want in TAG_RULES:
            if rule.search(name):
                yield key, want
                break


@needs_corpus
@needs_exiftool
@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_inventory_covers_everything_exiftool_sees(path: Path, exif_json: dict) -> None:
    found = classes(inventory(path))
    missing = sorted({f"{tag} -> {'/'.join(sorted(want))}"
                      for tag, want in expected(exif_json[path.name]) if not want & found})
    assert not missing, f"{path.name}: inventory {sorted(found)} misses {missing}"


@needs_corpus
@needs_exiftool
def test_gps_found_wherever_exiftool_has_gps(exif_json: dict) -> None:
    with_gps = [name for name, tags in exif_json.items()
                if any(k.split(":")[-1].startswith("GPS") and not k.startswith("Composite:")
                       for k in tags)]
    assert len(with_gps) >= 12  # the corpus is built around geotagged files
    assert [n for n in with_gps if "gps" not in classes(inventory(CORPUS / n))] == []


SPECIFIC = {
    "gopro__max-heromode.mp4": {"telemetry", "gps", "serial", "datetime", "container_tags"},
    "mex__with-gps.mov": {"telemetry", "gps", "device"},
    "mex__with-gps.mp4": {"gps", "datetime"},
    "mex__uuid540.mp4": {"xmp", "thumbnail"},
    "et__GoPro.jpg": {"serial", "gps", "thumbnail"},
    "et__ExifTool.jpg": {"embedded_image", "thumbnail", "icc_profile", "iptc", "xmp", "makernote"},
    "et__Google.jpg": {"embedded_image", "xmp", "gps"},
    "ian__iphone_13_pro_max.HEIC": {"thumbnail", "embedded_image", "orientation", "makernote"},
    "ian__Nokia83_hdr.heif": {"gps"},
    "mex__exif-at-eof.heic": {"gps", "xmp"},
    "et__ExifTool.tif": {"iptc", "icc_profile", "device"},
    "et__PNG.png": {"comment", "xmp"},
    "et__RIFF.webp": {"xmp", "owner"},
    "ian__canon_hdr_YES.jpg": {"serial", "owner", "thumbnail"},
}


@needs_corpus
@pytest.mark.parametrize("name", sorted(SPECIFIC))
def test_inventory_specific_classes(name: str) -> None:
    assert SPECIFIC[name] <= classes(inventory(CORPUS / name))


@needs_corpus
@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_items_carry_names_not_values(path: Path) -> None:
    for item in inventory(path):
        assert not re.search(r"\d+\.\d{3,}", item.name), item  # no coordinates
        assert len(item.name) <= 64 and item.cls and item.where


# ----------------------------------------------------------------- residual: clean outputs

def _pixels(mode: str = "RGB") -> Image.Image:
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 255, (40, 56, len(mode)), dtype=np.uint8)
    return Image.fromarray(pixels.squeeze(), mode)


CLEAN_SAVES = {
    "base.jpg": lambda p: _pixels().save(p, quality=90),
    "prog.jpg": lambda p: _pixels().save(p, progressive=True, optimize=True),
    "dpi.jpg": lambda p: _pixels().save(p, dpi=(300, 300)),
    "gray.jpg": lambda p: _pixels().convert("L").save(p),
    "plain.png": lambda p: _pixels().save(p),
    "dpi.png": lambda p: _pixels().save(p, dpi=(96, 96)),
    "rgba.png": lambda p: _pixels("RGBA").save(p),
    "pal.png": lambda p: _pixels().convert("P").save(p),
    "lossy.webp": lambda p: _pixels().save(p),
    "lossless.webp": lambda p: _pixels().save(p, lossless=True),
    "alpha.webp": lambda p: _pixels("RGBA").save(p),
}


@pytest.mark.parametrize("name", sorted(CLEAN_SAVES))
def test_residual_empty_on_pillow_output(name: str, tmp_path: Path) -> None:
    out = tmp_path / name
    CLEAN_SAVES[name](out)
    assert residual(out) == []


def _write_mp4(path: Path, *, bitexact: bool = True, audio: bool = True,
               tags: dict[str, str] | None = None) -> None:
    options = {"fflags": "+bitexact"} if bitexact else {}
    with av.open(str(path), "w", options=options) as out:
        out.metadata.update(tags or {})
        codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
        video = out.add_stream(codec, rate=10)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        sound = out.add_stream("aac", rate=8000) if audio else None
        for _ in range(3):
            frame = av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="rgb24")
            out.mux(video.encode(frame))
        out.mux(video.encode())
        if sound is not None:
            samples = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp",
                                                 layout="mono")
            samples.sample_rate, samples.pts, samples.time_base = 8000, 0, Fraction(1, 8000)
            out.mux(sound.encode(samples))
            out.mux(sound.encode())


@pytest.mark.parametrize("audio", [False, True])
def test_residual_empty_on_bitexact_mp4(audio: bool, tmp_path: Path) -> None:
    out = tmp_path / "clean.mp4"
    _write_mp4(out, audio=audio)
    assert residual(out) == []


# ----------------------------------------------------------------- residual: dirty outputs

@needs_corpus
@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_residual_flags_every_corpus_original(path: Path) -> None:
    assert residual(path) != []


def _png_with_text(p: Path) -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "hello")
    _pixels().save(p, pnginfo=info)


def _exif_bytes() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "ACME"  # Make
    return exif.tobytes()


def _with_trailer(p: Path) -> None:
    _pixels().save(p)
    with p.open("ab") as fh:
        fh.write(b"trailing secret")


DIRTY_SAVES = {
    "comment.jpg": (lambda p: _pixels().save(p, comment=b"who"), "comment"),
    "exif.jpg": (lambda p: _pixels().save(p, exif=_exif_bytes()), "device"),
    "icc.jpg": (lambda p: _pixels().save(p, icc_profile=b"\0" * 128), "icc_profile"),
    "trailer.jpg": (_with_trailer, "embedded_image"),
    "text.png": (_png_with_text, "comment"),
    "exif.png": (lambda p: _pixels().save(p, exif=_exif_bytes()), "device"),
    "icc.png": (lambda p: _pixels().save(p, icc_profile=b"\0" * 128), "icc_profile"),
    "exif.webp": (lambda p: _pixels().save(p, exif=_exif_bytes()), "device"),
}


@pytest.mark.parametrize("name", sorted(DIRTY_SAVES))
def test_residual_flags_metadata_in_outputs(name: str, tmp_path: Path) -> None:
    save, cls = DIRTY_SAVES[name]
    out = tmp_path / name
    save(out)
    assert cls in classes(residual(out))


def test_residual_flags_mp4_tags_and_non_bitexact(tmp_path: Path) -> None:
    tagged = tmp_path / "tagged.mp4"
    _write_mp4(tagged, tags={"title": "scene", "location": "+12.3456+045.6789/"})
    assert {"comment", "gps"} <= classes(residual(tagged))
    loose = tmp_path / "loose.mp4"
    _write_mp4(loose, bitexact=False, audio=False)
    assert residual(loose) != []  # Lavf encoder tag


def test_residual_refuses_other_formats(tmp_path: Path) -> None:
    out = tmp_path / "x.bmp"
    _pixels().save(out)
    assert classes(residual(out)) == {"unparsed"}


# ----------------------------------------------------------------- synthetic hiding places

needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg")


def _ffmpeg(tmp_path: Path, name: str, extra: str, *args: str) -> Path:
    out = tmp_path / name
    cmd = ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=s=64x48:d=1:r=5",
           "-i", extra, "-c:v", "mpeg4", *args, str(out)]
    subprocess.run(cmd, check=True, timeout=60, cwd=tmp_path)
    return out


@needs_ffmpeg
def test_video_subtitles_chapters_and_cover_art(tmp_path: Path) -> None:
    (tmp_path / "s.srt").write_text("1\n00:00:00,000 --> 00:00:00,500\nsomewhere\n")
    (tmp_path / "ch.txt").write_text(";FFMETADATA1\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\n"
                                     "END=500\ntitle=Main St\n")
    _pixels().save(tmp_path / "cover.jpg")
    subs = _ffmpeg(tmp_path, "sub.mp4", "s.srt", "-map", "0", "-map", "1", "-c:s", "mov_text")
    chap = _ffmpeg(tmp_path, "chap.mp4", "ch.txt", "-map_metadata", "1", "-map_chapters", "1")
    cover = _ffmpeg(tmp_path, "cover.mp4", "cover.jpg", "-map", "0", "-map", "1",
                    "-c:v:1", "copy", "-disposition:v:1", "attached_pic")
    for path, cls in ((subs, "telemetry"), (chap, "chapters"), (cover, "embedded_image")):
        assert cls in classes(inventory(path)), path.name
        assert cls in classes(residual(path)), path.name


def _jpeg_bytes(exif: bytes = b"") -> bytes:
    buf = io.BytesIO()
    _pixels().save(buf, "JPEG", exif=exif)
    return buf.getvalue()


def _gps_exif() -> bytes:
    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (1.0, 2.0, 3.0)}
    return exif.tobytes()


def test_second_image_after_eoi_is_walked(tmp_path: Path) -> None:
    path = tmp_path / "mpf.jpg"
    path.write_bytes(_jpeg_bytes() + _jpeg_bytes(_gps_exif()))
    items = inventory(path)
    assert "embedded_image" in classes(items)
    assert any(i.cls == "gps" and "+image2" in i.where for i in items)


def test_motion_photo_trailer(tmp_path: Path) -> None:
    path = tmp_path / "motion.jpg"
    path.write_bytes(_jpeg_bytes() + b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64)
    assert MetadataItem("embedded_image", "jpeg", "trailer:MP4") in inventory(path)


def test_png_compressed_xmp_is_read(tmp_path: Path) -> None:
    xmp = ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description '
           'exif:GPSLatitude="12,3.4N" photoshop:City="X"/></rdf:RDF></x:xmpmeta>')
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", xmp, zip=True)
    path = tmp_path / "xmp.png"
    _pixels().save(path, pnginfo=info)
    assert {"xmp", "gps", "location"} <= classes(inventory(path))


# ----------------------------------------------------------------- malformed input

def _malformed(tmp_path: Path) -> list[Path]:
    rng = random.Random(7)
    made = {
        "empty.jpg": b"",
        "random.bin": bytes(rng.getrandbits(8) for _ in range(4096)),
        "soi_only.jpg": b"\xff\xd8\xff",
        "bad_exif.jpg": b"\xff\xd8\xff\xe1\x00\x10Exif\x00\x00MM\x00*\xff\xff\xff\xff\xff\xd9",
        "png_sig.png": b"\x89PNG\r\n\x1a\n\x00\x00\xff\xffIHDR",
        "riff.webp": b"RIFF\xff\xff\xff\xffWEBPVP8X\xff\xff\xff\xff",
        "ftyp.mp4": b"\x00\x00\x00\x10ftypisom\x00\x00\x00\x00\x00\x00\x00\x01moov" + b"\xff" * 8,
        "heic.heic": b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic\x00\x00\x00\x09meta",
        "tiff.tif": b"II*\x00\x08\x00\x00\x00\xff\xff" + b"\x00" * 8,
    }
    for src in ("ian__DSCN0010.jpg", "mex__with-gps.mp4", "et__PNG.png", "ian__IMG_5195.HEIC"):
        data = (shared_paths.DATA / "metadata" / src).read_bytes()
        made[f"trunc_{src}"] = data[: len(data) // 3]
    paths = []
    for name, data in made.items():
        (tmp_path / name).write_bytes(data)
        paths.append(tmp_path / name)
    return paths


def test_malformed_inputs_never_raise(tmp_path: Path) -> None:
    for path in _malformed(tmp_path):
        items = inventory(path)
        assert all(isinstance(i, MetadataItem) for i in items)
        assert residual(path) != [], path.name  # fail-closed on anything unreadable


def test_missing_file_never_raises(tmp_path: Path) -> None:
    assert classes(inventory(tmp_path / "nope.jpg")) == {"unparsed"}
    assert classes(residual(tmp_path / "nope.jpg")) == {"unparsed"}


def test_exif_ifd_loop_terminates(tmp_path: Path) -> None:
    # IFD0 with one entry whose next-IFD pointer points back at itself.
    tiff = b"MM\x00*\x00\x00\x00\x08" + b"\x00\x01" + struct.pack(">HHII", 0x0112, 3, 1, 1 << 16)
    tiff += struct.pack(">I", 8)
    seg = b"Exif\x00\x00" + tiff
    data = b"\xff\xd8\xff\xe1" + struct.pack(">H", len(seg) + 2) + seg + b"\xff\xd9"
    path = tmp_path / "loop.jpg"
    path.write_bytes(data)
    assert "orientation" in classes(inventory(path))


def test_huge_sparse_video_is_cheap(tmp_path: Path) -> None:
    path = tmp_path / "huge.mp4"
    with path.open("wb") as fh:
        fh.write(b"\x00\x00\x00\x10ftypisom\x00\x00\x02\x00")
        fh.write(b"\x00\x00\x00\x01mdat" + struct.pack(">Q", 3 << 30))
        fh.truncate(3 << 30)  # sparse: no disk, and must not be read into memory
    start = time.monotonic()
    inventory(path)
    assert residual(path) != []
    assert time.monotonic() - start < 20


def test_gps_written_by_pillow_is_found(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (1.0, 2.0, 3.0)}
    path = tmp_path / "gps.jpg"
    _pixels().save(path, exif=exif.tobytes())
    assert "gps" in classes(inventory(path))
    assert "gps" in classes(residual(path))
