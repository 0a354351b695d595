"""Still images: decode to upright pixels, encode new files from pixels alone.

Decoding applies EXIF orientation and HEIF irot/imir to the pixels, converts any
embedded colour profile to sRGB (dropping the profile would shift colours, and the
profile itself can carry device text), and keeps only the first frame: later
frames/pages (TIFF page 2, MPF second image, HEIF thumbnails) are exactly where a
copy of the unblurred original hides.  Encoding writes only the pixels: no EXIF,
XMP, ICC, comments or thumbnails.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
import pillow_heif
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from sanitize.errors import DecodeError, TooLarge
from sanitize.types import MediaInfo, MediaKind

pillow_heif.register_heif_opener()

# Which container each input becomes.  HEIF/TIFF/BMP become JPEG (PNG when the
# picture has transparency) because social platforms accept neither HEIF nor TIFF.
OUTPUT_FORMAT = {"jpeg": "jpeg", "png": "png", "webp": "webp",
                 "heif": "jpeg", "tiff": "jpeg", "bmp": "jpeg"}
EXTENSION = {"jpeg": ".jpg", "png": ".png", "webp": ".webp"}

_SRGB = ImageCms.createProfile("sRGB")


@dataclass
class Picture:
    """Upright pixels of one image: RGB uint8 (H, W, 3) plus optional alpha (H, W)."""

    rgb: np.ndarray
    alpha: np.ndarray | None
    info: MediaInfo


def as_rgb(image: np.ndarray) -> np.ndarray:
    """An (H, W, 3) uint8 C-contiguous array from gray, RGBA or non-uint8 input:
    what every detector is given, whoever calls it."""
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        # Float pictures are either 0-1 or 0-255; anything else is clipped.
        top = 1.0 if arr.dtype.kind == "f" and float(np.nanmax(arr, initial=0.0)) <= 1.0 else 255.0
        scaled = np.nan_to_num(arr.astype(np.float32)) * (255.0 / top)
        arr = np.clip(scaled, 0, 255).astype(np.uint8)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3:
        raise ValueError(f"expected an image array (H, W, C), got shape {arr.shape}")
    channels = arr.shape[2]
    if channels == 1:
        arr = np.repeat(arr, 3, axis=2)
    elif channels == 4:
        arr = arr[:, :, :3]  # alpha carries no face; the colour underneath is what gets posted
    elif channels != 3:
        raise ValueError(f"expected 1, 3 or 4 channels, got {channels}")
    return np.ascontiguousarray(arr)


def decode(path: Path | IO[bytes], fmt: str, max_pixels: int) -> Picture:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            Image.MAX_IMAGE_PIXELS = None  # our own limit below, with our own message
            im = Image.open(path)
            w, h = im.size
            if w * h > max_pixels:
                raise TooLarge(f"picture is {w}x{h} = {w * h / 1e6:.0f} MP, over the limit of "
                               f"{max_pixels / 1e6:.0f} MP (decompression-bomb guard)")
            im.seek(0)
            im.load()
            rotation, mirrored = _orientation(im)
            # exif_transpose copies the whole picture even when it has nothing to turn.
            upright = (ImageOps.exif_transpose(im) or im) if rotation or mirrored else im
            upright = _to_srgb(upright)
            rgb, alpha = _split_alpha(upright)
    except (TooLarge, DecodeError):
        raise
    except UnidentifiedImageError as e:
        raise DecodeError(f"cannot decode {fmt} image: unrecognised or corrupt data") from e
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as e:
        raise DecodeError(f"cannot decode {fmt} image: {_first_line(e)}") from e
    except MemoryError as e:
        raise TooLarge("not enough memory to decode this picture") from e
    info = MediaInfo(kind=MediaKind.IMAGE, format=fmt, width=rgb.shape[1], height=rgb.shape[0],
                     rotation=rotation, mirrored=mirrored)
    return Picture(rgb=rgb, alpha=alpha, info=info)


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


def _orientation(im: Image.Image) -> tuple[int, bool]:
    """Rotation (degrees clockwise) and mirroring that EXIF Orientation asks for, for the report."""
    o = im.getexif().get(0x0112, 1)
    return {1: (0, False), 2: (0, True), 3: (180, False), 4: (180, True), 5: (90, True),
            6: (90, False), 7: (270, True), 8: (270, False)}.get(o, (0, False))


def _to_srgb(im: Image.Image) -> Image.Image:
    icc = im.info.get("icc_profile")
    if im.mode == "CMYK" and not icc:
        return im.convert("RGB")
    if not icc or im.mode not in ("RGB", "RGBA", "CMYK"):
        return im
    try:
        src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        out_mode = "RGBA" if im.mode == "RGBA" else "RGB"
        return ImageCms.profileToProfile(im, src, _SRGB, outputMode=out_mode) or im
    except (ImageCms.PyCMSError, OSError, ValueError):
        # A broken profile must not stop the file: fall back to the raw values.
        return im.convert("RGB") if im.mode == "CMYK" else im


def _split_alpha(im: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit greyscale: scale to 8 bits rather than clip.
        arr: np.ndarray = np.asarray(im, dtype=np.uint32)
        arr = (arr >> 8) if arr.max() > 255 else arr
        grey = arr.astype(np.uint8)
        return np.ascontiguousarray(np.stack([grey] * 3, axis=-1)), None
    has_alpha = im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info)
    if has_alpha:
        rgba = np.asarray(im.convert("RGBA"))
        alpha: np.ndarray | None = rgba[..., 3].copy()
        if alpha is not None and alpha.min() == 255:
            alpha = None
        return np.ascontiguousarray(rgba[..., :3]), alpha
    # convert() copies even an RGB picture; asarray makes the one copy needed.
    return np.ascontiguousarray(np.asarray(im if im.mode == "RGB" else im.convert("RGB"))), None


def output_format(input_fmt: str, has_alpha: bool) -> str:
    out = OUTPUT_FORMAT[input_fmt]
    if out == "jpeg" and has_alpha:
        return "png"
    return out


def encode(pic_rgb: np.ndarray, alpha: np.ndarray | None, fmt: str, dst: Path,
           jpeg_quality: int) -> None:
    """Write a new file from pixels alone."""
    with open(dst, "wb") as f:
        _save(pic_rgb, alpha, fmt, f, jpeg_quality)
        f.flush()


def as_written(pic_rgb: np.ndarray, alpha: np.ndarray | None, fmt: str, jpeg_quality: int,
               max_pixels: int) -> np.ndarray:
    """The pixels a file `encode` writes will decode to (JPEG and WebP lose detail,
    PNG keeps every pixel).  JPEG codes 16 x 16 blocks on their own, so where no
    mask touches, a written output decodes to exactly these pixels: the analysis
    searches them, and the re-check of the written file then re-runs the models
    only where masks changed something (`detect.faces.PassMemo`)."""
    if fmt == "png":
        return pic_rgb
    buf = io.BytesIO()
    _save(pic_rgb, alpha, fmt, buf, jpeg_quality)
    buf.seek(0)
    return decode(buf, fmt, max_pixels).rgb


def _save(pic_rgb: np.ndarray, alpha: np.ndarray | None, fmt: str, f: IO[bytes],
          jpeg_quality: int) -> None:
    """Pillow is given a fresh Image (empty .info), and exif/icc/comment are passed
    explicitly empty where the writer would otherwise reuse them."""
    if alpha is not None and fmt in ("png", "webp"):
        im = Image.fromarray(np.dstack([pic_rgb, alpha]), "RGBA")
    else:
        im = Image.fromarray(pic_rgb, "RGB")
    if fmt == "jpeg":
        # No Huffman optimisation: measured on a written 12 MP photo, 62 -> 23 ms an
        # encode for a file 1.1 % larger, and a picture is encoded two to six times
        # (as_written, each re-check round).  It is lossless: the pixels are the same.
        im.save(f, "JPEG", quality=jpeg_quality, optimize=False, subsampling="4:2:0",
                exif=b"", icc_profile=None, comment=b"")
    elif fmt == "png":
        im.save(f, "PNG", optimize=False, compress_level=6)
    elif fmt == "webp":
        im.save(f, "WEBP", quality=jpeg_quality, method=4, exif=b"", icc_profile=None, xmp=b"")
    else:
        raise ValueError(f"unknown output format {fmt}")
