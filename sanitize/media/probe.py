"""Sniff what a file is from its first bytes; the extension is never trusted."""

from __future__ import annotations

from pathlib import Path

from sanitize.errors import UnsupportedFile
from sanitize.types import MediaKind

# ISO-BMFF major/compatible brands.  HEIF brands → still image; the rest → video.
_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"mif2"}
_VIDEO_BRANDS = {
    b"isom", b"iso2", b"iso3", b"iso4", b"iso5", b"iso6", b"mp41", b"mp42", b"mp71",
    b"avc1", b"M4V ", b"M4VP", b"M4A ", b"qt  ", b"3gp4", b"3gp5", b"3gp6", b"3g2a",
    b"3gg6", b"dash", b"MSNV", b"XAVC", b"f4v ", b"mmp4", b"NDAS", b"FACE", b"CAEP",
}


def sniff(path: Path) -> tuple[MediaKind, str]:
    """(kind, format) of a file, or UnsupportedFile with a one-line reason."""
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except IsADirectoryError as e:
        raise UnsupportedFile("is a directory") from e
    except OSError as e:
        raise UnsupportedFile(f"cannot read file: {e.strerror or e}") from e
    if not head:
        raise UnsupportedFile("empty file (0 bytes)")
    found = _sniff_bytes(head)
    if found is None:
        raise UnsupportedFile("not a supported image or video (unrecognised content)")
    return found


def _sniff_bytes(b: bytes) -> tuple[MediaKind, str] | None:
    if b.startswith(b"\xff\xd8\xff"):
        return MediaKind.IMAGE, "jpeg"
    if b.startswith(b"\x89PNG\r\n\x1a\n"):
        return MediaKind.IMAGE, "png"
    if b[:4] == b"RIFF" and b[8:12] == b"WEBP":
        return MediaKind.IMAGE, "webp"
    if b[:4] in (b"II*\x00", b"MM\x00*"):
        return MediaKind.IMAGE, "tiff"
    if b[:2] == b"BM" and len(b) >= 26:
        return MediaKind.IMAGE, "bmp"
    if b[4:8] == b"ftyp":
        return _sniff_ftyp(b)
    if b[:4] == b"RIFF" and b[8:12] == b"AVI ":
        return MediaKind.VIDEO, "avi"
    if b[:4] == b"\x1a\x45\xdf\xa3":
        return MediaKind.VIDEO, "webm" if b"webm" in b[:64] else "mkv"
    if _is_mpeg_ts(b):
        return MediaKind.VIDEO, "mts"
    return None


def _sniff_ftyp(b: bytes) -> tuple[MediaKind, str] | None:
    size = int.from_bytes(b[0:4], "big")
    major = b[8:12]
    brands = {major} | {b[i:i + 4] for i in range(16, min(size, len(b), 256), 4)}
    if major in _HEIF_BRANDS or (brands & _HEIF_BRANDS and not brands & _VIDEO_BRANDS):
        return MediaKind.IMAGE, "heif"
    if major in (b"avif", b"avis"):
        return None  # AVIF: no decoder shipped; refused rather than half-handled
    if major == b"qt  ":
        return MediaKind.VIDEO, "mov"
    if major.startswith(b"3g"):
        return MediaKind.VIDEO, "3gp"
    if brands & _VIDEO_BRANDS or major.strip():
        return MediaKind.VIDEO, "mp4"
    return None


def _is_mpeg_ts(b: bytes) -> bool:
    # MPEG-TS: a 0x47 sync byte every 188 bytes; M2TS/MTS (AVCHD) prefixes each
    # packet with a 4-byte timestamp, so the sync byte repeats every 192 bytes.
    for start, step in ((0, 188), (4, 192)):
        offsets = range(start, min(len(b), start + step * 5), step)
        if len(offsets) >= 3 and all(b[o] == 0x47 for o in offsets):
            return True
    return False
