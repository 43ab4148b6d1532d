"""Plain raster images (JPEG, PNG, BMP, WebP, stripped TIFF): TMA core photographs decoded once, pyramid built lazily."""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import cv2
import numpy as np

from ._util import capture_tifffile_log, mpp_from_resolution, to_rgb8
from .array_source import ArraySlide
from .base import SlideOpenError
from .image_header import check_image_header
from .tiff_guard import guard_tiff, require_regular_file

log = logging.getLogger(__name__)

#: decoded images larger than this are refused (a 15k x 15k core photo is 225 Mpx)
MAX_PIXELS = 1024 * 2**20


def _check_complete(path: Path, head: bytes, tail: bytes) -> None:
    """Raise SlideOpenError when a JPEG or PNG stream visibly stops early."""
    if head.startswith(b"\xff\xd8\xff") and b"\xff\xd9" not in tail:
        raise SlideOpenError(path, "the JPEG data is truncated (no end-of-image marker)")
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        if head[12:16] == b"IHDR" and (head[16:20] == b"\0\0\0\0" or head[20:24] == b"\0\0\0\0"):
            raise SlideOpenError(path, "the image has zero size")
        if b"IEND" not in tail:
            raise SlideOpenError(path, "the PNG data is truncated (no IEND chunk)")


def _pil_mpp(path: Path) -> float | None:
    try:
        from PIL import Image

        with Image.open(path) as im:
            dpi = im.info.get("dpi")
    except Exception:
        return None
    return mpp_from_resolution(float(dpi[0]), "inch") if dpi else None


def _decode_tiff(path: Path) -> tuple[np.ndarray, float | None]:
    import tifffile

    from .tifffile_source import _tag_mpp, main_series

    with tifffile.TiffFile(path) as tf:
        if not len(tf.pages):
            raise SlideOpenError(path, "the TIFF holds no readable image directory (damaged or truncated)")
        page = main_series(tf).levels[0].keyframe if tf.series else tf.pages.first
        if page.imagewidth == 0 or page.imagelength == 0:
            raise SlideOpenError(path, "the image has zero size")
        size = os.path.getsize(path)
        end = max((o + c for o, c in zip(page.dataoffsets, page.databytecounts, strict=False) if c), default=0)
        if end > size:
            raise SlideOpenError(path, f"the file is truncated (image data runs to byte {end}, the file has {size})")
        pixels = page.asarray()
        if page.planarconfig == tifffile.PLANARCONFIG.SEPARATE and pixels.ndim == 3 and page.samplesperpixel > 1:
            pixels = np.moveaxis(pixels, 0, -1)  # one plane per sample: (S, H, W) -> (H, W, S)
        if page.photometric == tifffile.PHOTOMETRIC.PALETTE and page.colormap is not None:
            pixels = page.colormap.T[pixels]
        alpha = bool(page.extrasamples)
        rgb = to_rgb8(pixels, alpha=alpha, premultiplied=alpha and int(page.extrasamples[0]) == 1,
                      min_is_white=page.photometric == tifffile.PHOTOMETRIC.MINISWHITE,
                      cmyk=page.photometric == tifffile.PHOTOMETRIC.SEPARATED)
        return rgb, _tag_mpp(page)


def _decode_raster(path: Path, data: bytes) -> np.ndarray:
    buf = np.frombuffer(data, np.uint8)
    img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    if img is not None and img.size:
        if img.ndim == 3 and img.shape[2] >= 3:
            order = cv2.COLOR_BGRA2RGBA if img.shape[2] == 4 else cv2.COLOR_BGR2RGB
            img = cv2.cvtColor(img, order)
        return to_rgb8(img, alpha=img.ndim == 3 and img.shape[2] in (2, 4))
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as im:
                im.load()
                rgba = np.asarray(im.convert("RGBA"))
    except UnidentifiedImageError as exc:
        raise SlideOpenError(path, "it is not an image in a supported format") from exc
    except Image.DecompressionBombError as exc:
        raise SlideOpenError(path, "the image is too large to decode whole") from exc
    except Exception as exc:
        raise SlideOpenError(path, f"the image data is damaged or truncated ({exc})") from exc
    return to_rgb8(rgba, alpha=True)


def decode_image(path: str | Path) -> tuple[np.ndarray, float | None]:
    """Decode a whole raster image file to RGB uint8 (alpha laid on white) and its mpp if credible."""
    path = Path(path)
    require_regular_file(path)
    with open(path, "rb") as fh:
        head = fh.read(32)
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        guard_tiff(path)
        with capture_tifffile_log():
            try:
                return _decode_tiff(path)
            except SlideOpenError:
                raise
            except Exception as exc:
                raise SlideOpenError(path, f"the TIFF data cannot be decoded ({exc})") from exc
    check_image_header(path, head)  # a decompression bomb is refused before any decoding
    data = path.read_bytes()
    _check_complete(path, head, data[-4096:])
    return _decode_raster(path, data), _pil_mpp(path)


class ImageSource(ArraySlide):
    """A raster image file as a slide: decoded once, lower levels made on first use."""

    def __init__(self, path: str | Path) -> None:
        path = Path(path)
        image, mpp = decode_image(path)
        if image.shape[0] == 0 or image.shape[1] == 0:
            raise SlideOpenError(path, "the image has zero size")
        if image.shape[0] * image.shape[1] > MAX_PIXELS:
            raise SlideOpenError(path, f"the image is too large to decode whole ({image.shape[1]}x{image.shape[0]})")
        super().__init__(image, mpp=mpp, name=str(path))
        self.vendor = "image"
        self._props = {"her2viewer.backend": "image", "her2viewer.format": path.suffix.lower().lstrip(".")}
