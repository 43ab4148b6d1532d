"""Plain-image headers (PNG, JPEG, others through PIL) read before any decoding: a decompression-bomb guard.

A 2.6 MB PNG can declare 30,000 x 30,000 px and decode to 2.7 GB; the header says so in its first bytes,
so `check_image_header` refuses such a file, naming it and its size, before a decoder allocates anything.
"""

from __future__ import annotations

import struct
import warnings
from pathlib import Path

from .base import SlideOpenError

#: plain images that declare more pixels than this are refused before decoding (about 600 MB as RGB)
MAX_IMAGE_PIXELS = 200_000_000
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _png_size(head: bytes) -> tuple[int, int] | None:
    if head.startswith(b"\x89PNG\r\n\x1a\n") and head[12:16] == b"IHDR":
        return struct.unpack(">II", head[16:24])
    return None


def _jpeg_size(path: Path) -> tuple[int, int] | None:
    """Width and height from the first SOF marker, reading segment headers only."""
    with open(path, "rb") as fh:
        if fh.read(2) != b"\xff\xd8":
            return None
        for _ in range(10_000):
            marker = fh.read(2)
            if len(marker) < 2 or marker[0] != 0xFF:
                return None
            kind = marker[1]
            if kind in (0xD8, 0x01) or 0xD0 <= kind <= 0xD7 or kind == 0xFF:
                if kind == 0xFF:
                    fh.seek(-1, 1)
                continue
            seg = fh.read(2)
            if len(seg) < 2:
                return None
            (length,) = struct.unpack(">H", seg)
            if kind in _JPEG_SOF:
                body = fh.read(5)
                if len(body) < 5:
                    return None
                h, w = struct.unpack(">HH", body[1:5])
                return w, h
            if kind == 0xDA or length < 2:
                return None
            fh.seek(length - 2, 1)
    return None


def _pil_size(path: Path) -> tuple[int, int] | None:
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as im:  # reads the header only
                return im.size
    except Image.DecompressionBombError as exc:
        raise SlideOpenError(path, f"the image is too large to decode ({exc})") from exc
    except Exception:  # not an image PIL knows; the decoder will say so
        return None


def image_size(path: str | Path, head: bytes = b"") -> tuple[int, int] | None:
    """The (width, height) a plain image's header declares, without decoding; None when unknown."""
    path = Path(path)
    if not head:
        with open(path, "rb") as fh:
            head = fh.read(32)
    if head.startswith(b"\x89PNG"):
        return _png_size(head)
    if head.startswith(b"\xff\xd8"):
        return _jpeg_size(path)
    return _pil_size(path)


def check_image_header(path: str | Path, head: bytes = b"", max_pixels: int = MAX_IMAGE_PIXELS) -> None:
    """Raise SlideOpenError naming the file and its size when its header declares more than `max_pixels`."""
    size = image_size(path, head)
    if size is None:
        return
    w, h = size
    if w * h > max_pixels:
        raise SlideOpenError(path, f"the image declares {w} x {h} px ({w * h / 1e6:.0f} Mpx), over the "
                                   f"{max_pixels / 1e6:.0f} Mpx limit for plain images (a decompression bomb "
                                   "or an image to convert to a tiled pyramidal TIFF)")
