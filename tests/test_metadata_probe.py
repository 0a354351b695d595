"""One sniffer: probe.identify names every format, and the metadata registry follows it.

Each case here is a place where the metadata package used to sniff on its own and
disagreed with probe.py (AVIF, BigTIFF, BMP length, ISO-BMFF brand lists, QuickTime
files without 'ftyp')."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import av
import numpy as np
import pytest
import shared_paths
from PIL import Image

from sanitize.errors import UnsupportedFile
from sanitize.media import images
from sanitize.media.metadata import inventory, residual
from sanitize.media.metadata.heif import HeifParser
from sanitize.media.metadata.mp4 import Mp4Parser
from sanitize.media.metadata.registry import BY_FORMAT, FALLBACK, parser_for
from sanitize.media.probe import HEAD_BYTES, KIND, REFUSED, identify, sniff
from sanitize.types import MediaKind

CORPUS = shared_paths.METADATA
FILES = shared_paths.corpus_files(CORPUS)
needs_corpus = pytest.mark.needs_corpus


def _classes(path: Path) -> set[str]:
    return {i.cls for i in inventory(path)}


def test_every_probe_format_has_one_parser() -> None:
    assert set(BY_FORMAT) == set(KIND) | set(REFUSED)


@needs_corpus
@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_metadata_reads_each_corpus_file_as_probe_names_it(path: Path) -> None:
    kind, fmt = sniff(path)
    parser = parser_for(path, path.read_bytes()[:HEAD_BYTES])
    assert type(parser) is BY_FORMAT[fmt]
    assert (kind is MediaKind.IMAGE) == (fmt in images.OUTPUT_FORMAT)


def _avif(tmp_path: Path) -> Path:
    if shutil.which("ffmpeg") is None:
        pytest.skip("needs ffmpeg")
    out = tmp_path / "still.avif"
    run = subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=s=64x48",
                          "-frames:v", "1", "-c:v", "libaom-av1", "-still-picture", "1", str(out)],
                         capture_output=True, timeout=60, check=False)
    if run.returncode != 0:
        pytest.skip("ffmpeg has no libaom-av1 encoder")
    return out


def test_avif_is_refused_by_name_not_read_as_heif(tmp_path: Path) -> None:
    # ffmpeg writes major 'avif' with compatible 'mif1': probe used to call it HEIF
    # (then fail in the HEVC decoder); metadata called it HEIF too, by another rule.
    path = _avif(tmp_path)
    with pytest.raises(UnsupportedFile, match="AVIF"):
        sniff(path)
    assert isinstance(parser_for(path, path.read_bytes()), HeifParser)
    data = bytearray(path.read_bytes())
    data[8:12] = b"mif1"  # generic HEIF major brand, AV1 coding named only in compatibles
    path.write_bytes(bytes(data))
    with pytest.raises(UnsupportedFile, match="AVIF"):
        sniff(path)


def test_heic_with_hevc_and_avif_brands_stays_heif() -> None:
    head = b"\x00\x00\x00\x1cftypheic\x00\x00\x00\x00mif1heicavif"
    assert identify(head) == "heif"


def test_bigtiff_is_decoded_and_walked(tmp_path: Path) -> None:
    path = tmp_path / "big.tif"
    exif = Image.Exif()
    exif[0x010F] = "ACME"  # Make
    exif[0x8298] = "someone"  # Copyright
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(path, big_tiff=True, exif=exif)
    assert path.read_bytes()[:4] == b"II+\x00"
    assert sniff(path) == (MediaKind.IMAGE, "tiff")  # probe used to refuse it
    assert images.decode(path, "tiff", 10**8).rgb.shape == (20, 30, 3)
    # metadata used to list it as 'unparsed BigTIFF' without reading a tag
    assert {"device", "owner"} <= _classes(path)
    assert "unparsed" not in _classes(path)


def test_bmp_needs_a_whole_header(tmp_path: Path) -> None:
    real = tmp_path / "real.bmp"
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(real)
    assert sniff(real) == (MediaKind.IMAGE, "bmp")
    stub = tmp_path / "stub.bmp"
    stub.write_bytes(real.read_bytes()[:20])  # 'BM' and a cut header: metadata said bmp
    with pytest.raises(UnsupportedFile):
        sniff(stub)
    assert "unparsed" in _classes(stub)


def _mov(tmp_path: Path) -> Path:
    path = tmp_path / "t.mov"
    with av.open(str(path), "w", format="mov") as out:
        video = out.add_stream("mpeg4", rate=5)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        for _ in range(3):
            frame = av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="rgb24")
            out.mux(video.encode(frame))
        out.mux(video.encode())
    return path


def test_quicktime_without_ftyp_is_a_mov(tmp_path: Path) -> None:
    path = _mov(tmp_path)
    data = path.read_bytes()
    assert data[4:8] == b"ftyp"
    size = int.from_bytes(data[:4], "big")
    path.write_bytes(data[size:])  # classic QuickTime: starts with 'wide'/'mdat'/'moov'
    assert sniff(path) == (MediaKind.VIDEO, "mov")  # probe used to refuse it
    assert isinstance(parser_for(path, path.read_bytes()), Mp4Parser)
    with av.open(str(path)) as container:
        assert container.streams.video[0].frames == 3
    assert residual(path) != []


def test_video_major_brand_wins_over_heif_compatibles() -> None:
    # 'MSNV' (Sony) is a video brand: metadata's shorter list used to call this HEIF.
    head = b"\x00\x00\x00\x18ftypMSNV\x00\x00\x00\x00mif1MSNV"
    assert identify(head) == "mp4"
    assert BY_FORMAT[identify(head) or ""] is Mp4Parser


def test_unrecognised_content_falls_back_to_the_demuxer_and_is_never_clean(tmp_path: Path) -> None:
    path = tmp_path / "x.bin"
    path.write_bytes(b"not media at all " * 100)
    assert identify(path.read_bytes()) is None
    assert type(parser_for(path, path.read_bytes())) is FALLBACK
    assert residual(path) != []
