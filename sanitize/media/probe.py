"""Sniff what a file is from its first bytes; the extension is never trusted.

This is the only sniffer: the pipeline, `inspect` and the metadata parsers all ask
`identify()` so that a file is never one format to one stage and another to the next.
"""

from __future__ import annotations

from pathlib import Path

from sanitize.errors import UnsupportedFile
from sanitize.types import MediaKind

HEAD_BYTES = 4096  # how much of a file `identify` looks at

# ISO-BMFF major/compatible brands.  HEIF brands → still image; the rest → video.
_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"mif2"}
_AVIF_BRANDS = {b"avif", b"avis"}
_HEVC_BRANDS = _HEIF_BRANDS - {b"mif1", b"msf1", b"mif2"}  # brands that name the HEVC codec
_VIDEO_BRANDS = {
    b"isom", b"iso2", b"iso3", b"iso4", b"iso5", b"iso6", b"mp41", b"mp42", b"mp71",
    b"avc1", b"M4V ", b"M4VP", b"M4A ", b"qt  ", b"3gp4", b"3gp5", b"3gp6", b"3g2a",
    b"3gg6", b"dash", b"MSNV", b"XAVC", b"f4v ", b"mmp4", b"NDAS", b"FACE", b"CAEP",
}
# Classic QuickTime files may start with one of these atoms instead of 'ftyp'.
_QT_FIRST_ATOMS = {b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"}

KIND: dict[str, MediaKind] = {
    **dict.fromkeys(("jpeg", "png", "webp", "tiff", "bmp", "heif"), MediaKind.IMAGE),
    **dict.fromkeys(("mp4", "mov", "3gp", "avi", "mkv", "webm", "mts"), MediaKind.VIDEO),
}
# Recognised, named, and refused: a clear reason beats a half-handled decode.
REFUSED = {"avif": "AVIF image: no AVIF decoder is shipped; refused rather than half-handled"}


def sniff(path: Path) -> tuple[MediaKind, str]:
    """(kind, format) of a file, or UnsupportedFile with a one-line reason."""
    try:
        with open(path, "rb") as f:
            head = f.read(HEAD_BYTES)
    except IsADirectoryError as e:
        raise UnsupportedFile("is a directory") from e
    except OSError as e:
        raise UnsupportedFile(f"cannot read file: {e.strerror or e}") from e
    if not head:
        raise UnsupportedFile("empty file (0 bytes)")
    fmt = identify(head)
    if fmt in REFUSED:
        raise UnsupportedFile(REFUSED[fmt])
    if fmt is None:
        raise UnsupportedFile("not a supported image or video (unrecognised content)")
    return KIND[fmt], fmt


def identify(b: bytes) -> str | None:
    """Format name of a file from its first bytes (a key of KIND or REFUSED), or None."""
    if b.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if b.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if b[:4] == b"RIFF" and b[8:12] == b"WEBP":
        return "webp"
    # Classic TIFF (42) and BigTIFF (43, 64-bit offsets; Pillow decodes both).
    if b[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "tiff"
    # 14-byte file header + the smallest (12-byte OS/2) DIB header.
    if b[:2] == b"BM" and len(b) >= 26:
        return "bmp"
    if b[4:8] == b"ftyp":
        return _sniff_ftyp(b)
    if b[4:8] in _QT_FIRST_ATOMS and int.from_bytes(b[0:4], "big") not in range(2, 8):
        return "mov"  # an atom size of 0 (to the end) or 1 (64-bit size follows) is valid
    if b[:4] == b"RIFF" and b[8:12] == b"AVI ":
        return "avi"
    if b[:4] == b"\x1a\x45\xdf\xa3":
        return "webm" if b"webm" in b[:64] else "mkv"
    if _is_mpeg_ts(b):
        return "mts"
    return None


def _sniff_ftyp(b: bytes) -> str | None:
    size = int.from_bytes(b[0:4], "big")
    major = b[8:12]
    brands = {major} | {b[i:i + 4] for i in range(16, min(size, len(b), 256), 4)}
    # AVIF first: its compatible brands include 'mif1', which alone would read as HEIF.
    if major in _AVIF_BRANDS or (brands & _AVIF_BRANDS
                                 and not brands & (_HEVC_BRANDS | _VIDEO_BRANDS)):
        return "avif"
    if major in _HEIF_BRANDS or (brands & _HEIF_BRANDS and not brands & _VIDEO_BRANDS):
        return "heif"
    if major == b"qt  ":
        return "mov"
    if major.startswith(b"3g"):
        return "3gp"
    if brands & _VIDEO_BRANDS or major.strip():
        return "mp4"
    return None


def _is_mpeg_ts(b: bytes) -> bool:
    # MPEG-TS: a 0x47 sync byte every 188 bytes; M2TS/MTS (AVCHD) prefixes each
    # packet with a 4-byte timestamp, so the sync byte repeats every 192 bytes.
    for start, step in ((0, 188), (4, 192)):
        offsets = range(start, min(len(b), start + step * 5), step)
        if len(offsets) >= 3 and all(b[o] == 0x47 for o in offsets):
            return True
    return False
