"""One safe road from whatever a user hands us to a decoded PIL image.

Every backend hashes what this module returns, so all of them agree on what "the image" is:
- the EXIF orientation is applied, so a photo hashes as a viewer shows it;
- transparent pixels are composited onto a fixed white background, so what is hidden under
  an alpha channel cannot change the hash;
- the result is mode ``"L"`` (grayscale sources) or ``"RGB"`` (everything else), 8 bits per channel;
- animated images (GIF, WebP, APNG) give their first frame.

The ``imagehash`` package does neither of the first two, so bit-for-bit compatibility with it is
promised for images without a non-default EXIF orientation and without transparency.

Only a fixed list of raster formats is opened (no EPS/PostScript, which Pillow hands to
Ghostscript), images larger than ``MAX_PIXELS`` are refused from their header before any pixel
is decoded, and every failure surfaces as :class:`registry.ImageError`.
"""
from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import ImageError

#: Refuse images with more pixels than this (decompression bombs). 64 Mpx is a 8192 x 8192 image,
#: larger than any phone photo; override with the environment variable IMAGE_DEEP_HASH_MAX_PIXELS.
MAX_PIXELS: int = int(os.environ.get("IMAGE_DEEP_HASH_MAX_PIXELS", 64 * 1024 * 1024))

#: Raster formats we decode. Deliberately excludes EPS/PS/PDF (external interpreters) and exotic
#: formats with little-tested decoders.
ALLOWED_FORMATS: tuple[str, ...] = ("JPEG", "MPO", "PNG", "WEBP", "GIF", "BMP", "TIFF", "PPM", "ICO")

ImageSource = Union[str, os.PathLike, bytes, bytearray, memoryview, Any]

_TRANSPARENT_MODES = {"RGBA", "LA", "PA", "RGBa", "La"}
BACKGROUND = (255, 255, 255)
_ORIENTATION = 0x0112


def _allowed_formats() -> list[str]:
    Image.init()
    return [f for f in ALLOWED_FORMATS if f in Image.OPEN]


def _describe(src: Any) -> str:
    if isinstance(src, (str, os.PathLike)):
        return f"'{os.fspath(src)}'"
    return f"the {type(src).__name__} input"


def _open_bytes(data: bytes, what: str) -> Image.Image:
    if len(data) == 0:
        raise ImageError(f"{what} is empty (0 bytes), not an image")
    return _open(io.BytesIO(data), what)


def _open(fp, what: str) -> Image.Image:
    """Read the header only, from a path or a binary stream, and check the size it declares."""
    try:
        # Pillow's own bomb check warns or raises at its limit; ours is stricter and clearer.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(fp, formats=_allowed_formats())
    except UnidentifiedImageError:
        raise ImageError(f"{what} is not an image in a supported format "
                         f"({', '.join(ALLOWED_FORMATS)})") from None
    except Image.DecompressionBombError:
        raise ImageError(f"{what} has too many pixels: over the limit of {MAX_PIXELS:,} pixels") from None
    except Exception as exc:  # Pillow raises many types for corrupt headers
        raise ImageError(f"{what} could not be read: corrupt image header ({exc})") from None
    _check_size(img, what)
    return img


def _check_size(img: Image.Image, what: str) -> None:
    w, h = img.size
    if w < 1 or h < 1:
        raise ImageError(f"{what} has no pixels ({w}x{h})")
    if w * h > MAX_PIXELS:
        raise ImageError(f"{what} is {w}x{h} = {w * h:,} pixels, over the limit of "
                         f"{MAX_PIXELS:,} pixels (set IMAGE_DEEP_HASH_MAX_PIXELS to change it)")


def _read_source(src: Any) -> tuple[Image.Image, str]:
    if isinstance(src, Image.Image):
        what = "the PIL image"
        _check_size(src, what)
        return src, what
    if isinstance(src, np.ndarray):
        return _from_array(src), "the numpy array"
    if isinstance(src, (str, os.PathLike)):
        what = _describe(src)
        path = Path(src)
        if not path.exists():
            raise ImageError(f"file not found: {what}")
        if not path.is_file():
            raise ImageError(f"not a file: {what}")
        try:
            if path.stat().st_size == 0:
                raise ImageError(f"{what} is empty (0 bytes), not an image")
            return _open(path, what), what  # Pillow reads the file itself: no copy of its bytes
        except OSError as exc:
            raise ImageError(f"cannot read {what}: {exc.strerror or exc}") from None
    if isinstance(src, (bytes, bytearray, memoryview)):
        return _open_bytes(bytes(src), "the image data"), "the image data"
    if hasattr(src, "read"):
        data = src.read()
        if isinstance(data, str):
            raise ImageError("the file object was opened in text mode; open it with 'rb'")
        return _open_bytes(data, "the file object"), "the file object"
    raise ImageError(f"cannot hash a {type(src).__name__}: give a path, bytes, a binary file object, "
                     "a PIL image or a uint8 numpy array")


def _from_array(arr: np.ndarray) -> Image.Image:
    if arr.dtype != np.uint8:
        raise ImageError(f"numpy images must be uint8, got {arr.dtype}")
    if arr.ndim == 2:
        mode = "L"
    elif arr.ndim == 3 and arr.shape[2] in (3, 4):
        mode = "RGB" if arr.shape[2] == 3 else "RGBA"
    else:
        raise ImageError(f"numpy images must be HxW, HxWx3 or HxWx4, got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ImageError(f"the numpy array has no pixels (shape {arr.shape})")
    if arr.shape[0] * arr.shape[1] > MAX_PIXELS:
        raise ImageError(f"the numpy array has {arr.shape[0] * arr.shape[1]:,} pixels, over the "
                         f"limit of {MAX_PIXELS:,}")
    return Image.fromarray(np.ascontiguousarray(arr), mode=mode)


def _to_8bit(img: Image.Image) -> Image.Image:
    """Bring every mode Pillow can decode to L or RGB, keeping what a viewer would see."""
    mode = img.mode
    if mode in ("L", "RGB"):
        return img
    if mode == "1":
        return img.convert("L")
    if mode == "P":
        if "transparency" in img.info:
            return _flatten(img.convert("RGBA"))
        return img.convert("RGB")
    if mode in _TRANSPARENT_MODES:
        return _flatten(img)
    if mode.startswith("I;16") or mode in ("I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        if mode == "F":
            scale = 1.0 if np.nanmax(arr, initial=0) <= 1.0 else 1.0 / 255.0
        else:
            scale = 1.0 / 257.0 if (mode.startswith("I;16") or np.max(arr, initial=0) > 255) else 1.0
            scale = scale / 255.0
        arr = np.nan_to_num(arr * scale, nan=0.0)
        return Image.fromarray(np.clip(np.rint(arr * 255.0), 0, 255).astype(np.uint8), mode="L")
    if mode in ("CMYK", "YCbCr", "LAB", "HSV", "RGBX"):
        return img.convert("RGB")
    raise ImageError(f"unsupported image mode {mode!r}")


def _flatten(img: Image.Image) -> Image.Image:
    gray = img.mode in ("LA", "La")
    rgba = img.convert("RGBA")
    background = Image.new("RGBA", rgba.size, BACKGROUND + (255,))
    out = Image.alpha_composite(background, rgba).convert("RGB")
    return out.convert("L") if gray else out


def load_image(src: ImageSource, *, draft: Optional[int] = None) -> Image.Image:
    """Decode ``src`` to an upright, opaque 8-bit ``L`` or ``RGB`` image, or raise ImageError.

    ``src`` may be a path, bytes, a binary file object, a PIL image, or an HxW / HxWx3 (or HxWx4)
    uint8 numpy array. ``draft=N`` lets a JPEG decode at a reduced scale (1/2, 1/4 or 1/8) that still
    keeps both sides at least N pixels: several times faster for large photos, slightly different
    pixels (the hashers' fast mode).
    """
    img, what = _read_source(src)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img.seek(0) if getattr(img, "n_frames", 1) > 1 else None
            if draft:  # JPEG picks the largest 1/2, 1/4, 1/8 keeping both sides >= draft; others ignore it
                img.draft(None, (draft, draft))
            img.load()
            upright = img
            try:
                if img.getexif().get(_ORIENTATION, 1) not in (1, None):  # transposing copies: only when needed
                    upright = ImageOps.exif_transpose(img) or img
            except Exception:  # a broken EXIF block should not cost the user the hash
                upright = img
            out = _to_8bit(upright)
            out.load()
    except ImageError:
        raise
    except Image.DecompressionBombError:
        raise ImageError(f"{what} has too many pixels: over the limit of {MAX_PIXELS:,} pixels") from None
    except MemoryError:
        raise ImageError(f"{what} is too large to decode in the available memory") from None
    except Exception as exc:
        detail = str(exc) or type(exc).__name__
        if "truncated" in detail.lower():
            raise ImageError(f"{what} is truncated: the file ends before the image data does") from None
        raise ImageError(f"{what} could not be decoded: corrupt or unsupported image data ({detail})") from None
    return out
