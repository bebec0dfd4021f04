"""Load the images that real folders hold as RGB Pillow images, small and upright.

Handles EXIF orientation, every common pixel mode (grayscale, palette, alpha,
CMYK, 16-bit), query boxes, and large photos, which are reduced while decoding.
"""
from __future__ import annotations

import math
import os
import stat
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

EXIF_ORIENTATION_TAG = 0x0112
# EXIF orientations 5-8 store the picture turned by 90 degrees: width and height swap.
_SWAPS_AXES = {5, 6, 7, 8}
_ALPHA_MODES = {"LA", "La", "PA", "RGBA", "RGBa"}
_SIXTEEN_BIT_MODES = {"I", "I;16", "I;16B", "I;16L", "I;16N"}


class ImageLoadError(ValueError):
    """An image file that cannot be read, or a box that does not fit it."""


def image_size(path: str | Path) -> tuple[int, int]:
    """(width, height) as displayed, i.e. after EXIF orientation, without decoding pixels.

    Only the file header is read. (For PNG files whose EXIF chunk comes after the
    pixel data, Pillow cannot see the orientation without decoding; such files are
    reported in stored orientation.)
    """
    path = _regular_file(path)
    try:
        with Image.open(path) as im:
            width, height = im.size
            orientation = _orientation(im, path)
    except ImageLoadError:
        raise
    except Exception as err:  # Pillow's plugins raise many types on malformed headers
        raise ImageLoadError(f"{path}: not a readable image ({_describe(err)})") from err
    return (height, width) if orientation in _SWAPS_AXES else (width, height)


def load_image(path: str | Path, max_side: int | None = None,
               bbox: tuple[float, float, float, float] | None = None) -> Image.Image:
    """Load `path` as an upright RGB image, optionally cropped to `bbox` and reduced.

    bbox:     (x1, y1, x2, y2) in pixels of the original image after EXIF
              orientation (how the Oxford/Paris protocol gives query boxes); the
              image is cropped to it first. Parts outside the image are clipped.
    max_side: if given, the result is shrunk so that its longer side is
              max_side. Images are only ever downscaled, never enlarged, so a
              small image or a small crop keeps its pixels.

    Large JPEGs are decoded directly at a reduced scale (1/2, 1/4 or 1/8, the
    smallest that is still at least the target size) and then resized with a
    Lanczos filter, so a 20-megapixel photo never occupies full memory.
    Transparent pixels are composited over white. Unreadable, truncated or
    non-image files raise ImageLoadError naming the file.
    """
    if max_side is not None and max_side < 1:
        raise ValueError(f"max_side must be a positive number of pixels, not {max_side}")
    path = _regular_file(path)
    try:
        im = Image.open(path)
    except Exception as err:  # Pillow's plugins raise many types on malformed headers
        raise ImageLoadError(f"{path}: not a readable image ({_describe(err)})") from err

    with im:
        orientation = _orientation(im, path)
        stored_w, stored_h = im.size
        full_w, full_h = (stored_h, stored_w) if orientation in _SWAPS_AXES else (stored_w, stored_h)
        box = _checked_box(path, bbox, full_w, full_h) if bbox is not None else (0, 0, full_w, full_h)

        if max_side is not None:
            region_long_side = max(box[2] - box[0], box[3] - box[1])
            scale = max_side / region_long_side
            if scale < 1:
                # Ask the decoder for at least the size the final resize needs (JPEG only).
                im.draft(None, (max(1, math.ceil(stored_w * scale)), max(1, math.ceil(stored_h * scale))))

        try:
            im.load()
            upright = ImageOps.exif_transpose(im)
        except Exception as err:  # truncated or corrupt data: Pillow raises OSError, ValueError, ...
            raise ImageLoadError(f"{path}: cannot decode image data ({_describe(err)})") from err

    rgb = to_rgb(upright, path)
    # Work in whole pixels of the original (upright) image, so the result's size never
    # depends on how much the decoder reduced it.
    x1, y1, x2, y2 = (_nearest_int(v) for v in box)
    if bbox is not None:
        sx, sy = rgb.width / full_w, rgb.height / full_h
        rgb = rgb.crop((_nearest_int(x1 * sx), _nearest_int(y1 * sy),
                        _nearest_int(x2 * sx), _nearest_int(y2 * sy)))
    target = shrunk_size(x2 - x1, y2 - y1, max_side)
    if rgb.size != target:
        rgb = rgb.resize(target, Image.Resampling.LANCZOS)
    return rgb


def _regular_file(path: str | Path) -> Path:
    """`path` if it is a regular file (symlinks followed); a FIFO would block the decoder forever,
    a device would feed it endless bytes, a symlink loop never ends: each is refused by name."""
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise ImageLoadError(f"{path}: no such file") from None
    except OSError as err:
        raise ImageLoadError(f"{path}: cannot be read ({err.strerror or type(err).__name__})") from None
    if not stat.S_ISREG(mode):
        kind = "a folder" if stat.S_ISDIR(mode) else "not a regular file (a pipe, socket or device)"
        raise ImageLoadError(f"{path}: {kind}, not an image file")
    return path


def _orientation(im: Image.Image, path: Path) -> int:
    """The EXIF orientation (1 when absent). Reading EXIF can reach into damaged data (a PNG's eXIf
    chunk may sit after truncated pixel data), so its errors name the file like decode errors do."""
    try:
        return int(im.getexif().get(EXIF_ORIENTATION_TAG, 1))
    except Exception as err:
        raise ImageLoadError(f"{path}: cannot decode image data ({_describe(err)})") from err


def to_rgb(im: Image.Image, path: str | Path = "<image>") -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB; transparency is composited over white.

    16-bit and 32-bit integer images ("I;16", "I": 16-bit PGM/PNG/TIFF) hold
    samples in 0..65535 and are scaled to 0..255 (values above are clipped).
    """
    mode = im.mode
    if mode == "RGB":
        return im
    if mode in _SIXTEEN_BIT_MODES:
        samples = np.asarray(im, dtype=np.float64)
        eight_bit = np.clip(np.round(samples / 257.0), 0, 255).astype(np.uint8)
        return Image.fromarray(eight_bit).convert("RGB")
    if mode == "F":
        raise ImageLoadError(f"{path}: floating-point images (mode F) have no agreed range; "
                             f"convert the file to 8 or 16 bit first")
    if mode in _ALPHA_MODES or "transparency" in im.info:
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    try:
        # L, 1, P, CMYK (Pillow decodes Adobe-inverted CMYK JPEGs correctly), YCbCr, RGBX ...
        return im.convert("RGB")
    except ValueError as err:
        raise ImageLoadError(f"{path}: cannot convert mode {mode} to RGB ({_describe(err)})") from err


def shrunk_size(width: int, height: int, max_side: int | None) -> tuple[int, int]:
    """(width, height) scaled so that the longer side is at most max_side (never enlarged)."""
    if max_side is None or max(width, height) <= max_side:
        return width, height
    factor = max_side / max(width, height)
    return max(1, round(width * factor)), max(1, round(height * factor))


def _checked_box(path: Path, bbox, width: int, height: int) -> tuple[float, float, float, float]:
    """The box clipped to the image, or an error naming the file if it is malformed or empty."""
    try:
        x1, y1, x2, y2 = (float(v) for v in bbox)
    except (TypeError, ValueError):
        raise ImageLoadError(f"{path}: bbox must be four numbers (x1, y1, x2, y2), not {bbox!r}") from None
    clipped = (max(0.0, x1), max(0.0, y1), min(float(width), x2), min(float(height), y2))
    if clipped[2] - clipped[0] < 1 or clipped[3] - clipped[1] < 1:
        raise ImageLoadError(f"{path}: bbox {tuple(bbox)} leaves no pixels of the {width}x{height} image")
    return clipped


def _nearest_int(value: float) -> int:
    """Round half up (Python's round() sends 2.5 to 2, which could empty a one-pixel box)."""
    return math.floor(value + 0.5)


def _describe(err: Exception) -> str:
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return f"{type(err).__name__}: {text}" if text else type(err).__name__
