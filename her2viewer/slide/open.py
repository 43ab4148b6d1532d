"""`open_slide(path)`: pick the reader backend for a file and say clearly why one cannot be opened.

Order: OpenSlide for the vendor formats it recognises; our tifffile backend for generic pyramidal TIFF and
OME-TIFF (faster tile reads than OpenSlide, and it takes TIFFs OpenSlide refuses); plain raster images
(JPEG, PNG, small single-level TIFF) decoded whole with a lazily built pyramid.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from .base import SlideOpenError, SlideSource

log = logging.getLogger(__name__)

TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
RASTER_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"BM", b"GIF87a", b"GIF89a", b"\x00\x00\x00\x0cjP  ",
                b"\xff\x4f\xff\x51")
OTHER_MAGIC = {b"%PDF": "a PDF document", b"PK\x03\x04": "a ZIP archive", b"\x1f\x8b": "a gzip archive",
               b"\x7fELF": "a program", b"SQLite format 3": "an SQLite database",
               b"\x89HDF": "an HDF5 file", b"{": "a JSON or text file", b"<": "an XML/HTML or text file"}
#: single-level TIFFs up to this many pixels are decoded whole (pyramid built lazily), larger ones tile by tile
WHOLE_DECODE_MAX_PIXELS = 256 * 2**20


def _openslide_vendor(path: Path) -> str | None:
    try:
        import openslide

        return openslide.OpenSlide.detect_format(str(path))
    except Exception as exc:  # a broken file must not crash format detection
        log.debug("openslide detect_format failed for %s: %s", path, exc)
        return None


def _check_tiff_complete(path: Path, size: int) -> None:
    """Raise SlideOpenError when a TIFF's directories or image data point past the end of the file."""
    import tifffile

    from ._util import capture_tifffile_log, past_end_offset
    from .tiff_guard import guard_tiff

    guard_tiff(path, size)  # loops, absurd sizes and pointers past the end, before tifffile walks the pages
    end = 0
    with capture_tifffile_log() as messages:
        try:
            with tifffile.TiffFile(path) as tf:
                for page in tf.pages:
                    pairs = zip(page.dataoffsets, page.databytecounts, strict=False)
                    end = max(end, max((o + c for o, c in pairs if c), default=0))
        except Exception as exc:
            messages.append(str(exc))
    beyond = past_end_offset(messages, size)
    if beyond is not None:
        raise SlideOpenError(path, f"the file is truncated (the TIFF points to byte {beyond}, the file has {size})")
    if end > size:
        raise SlideOpenError(path, f"the file is truncated (image data runs to byte {end}, the file has {size})")
    if messages:
        log.debug("tifffile on %s: %s", path, "; ".join(messages))


def _open_openslide(path: Path) -> SlideSource:
    from .openslide_source import OpenSlideSource

    return OpenSlideSource(path)


def _open_tiff(path: Path) -> SlideSource:
    from .image_source import ImageSource
    from .tifffile_source import TiffFileSource

    src = TiffFileSource(path)
    w, h = src.dimensions
    if src.level_count == 1 and w * h <= WHOLE_DECODE_MAX_PIXELS:
        src.close()
        return ImageSource(path)
    return src


def _open_image(path: Path) -> SlideSource:
    from .image_source import ImageSource

    return ImageSource(path)


def _describe(head: bytes) -> str | None:
    for magic, what in OTHER_MAGIC.items():
        if head.lstrip().startswith(magic) if magic in (b"{", b"<") else head.startswith(magic):
            return what
    if head and all(32 <= b < 127 or b in b"\t\r\n" for b in head[:256]):
        return "a text file"
    return None


def _candidates(path: Path, head: bytes, size: int) -> list[tuple[str, Callable[[Path], SlideSource]]]:
    is_tiff = head[:4] in TIFF_MAGIC
    if is_tiff:
        _check_tiff_complete(path, size)
    vendor = _openslide_vendor(path)
    if vendor and vendor != "generic-tiff":
        return [("OpenSlide", _open_openslide)]
    if vendor == "generic-tiff":
        return [("tifffile", _open_tiff), ("OpenSlide", _open_openslide)]
    if is_tiff:
        return [("tifffile", _open_tiff)]
    if head.startswith(RASTER_MAGIC) or head[8:12] == b"WEBP":
        return [("image", _open_image)]
    what = _describe(head)
    if what:
        raise SlideOpenError(path, f"unsupported format: it is {what}, not a slide or image")
    return [("image", _open_image)]


def open_slide(path: str | Path) -> SlideSource:
    """Open a whole-slide image or a raster image with the right backend; raises SlideOpenError."""
    from .tiff_guard import require_regular_file

    path = Path(path).expanduser()
    size = require_regular_file(path).st_size  # a named pipe or device would block the open below
    try:
        with open(path, "rb") as fh:
            head = fh.read(512)
    except PermissionError as exc:
        raise SlideOpenError(path, "permission denied") from exc
    except OSError as exc:
        raise SlideOpenError(path, f"it cannot be read ({exc.strerror or exc})") from exc
    if size == 0:
        raise SlideOpenError(path, "the file is empty (0 bytes)")
    errors: list[SlideOpenError] = []
    for name, opener in _candidates(path, head, size):
        try:
            src = opener(path)
            log.debug("opened %s with %s", path, name)
            return src
        except SlideOpenError as exc:
            errors.append(exc)
        except MemoryError as exc:
            errors.append(SlideOpenError(path, "there is not enough memory to open it"))
            log.debug("%s: %s", path, exc)
        except Exception as exc:  # a backend bug or an odd file must become a message, not a crash
            log.debug("%s backend failed on %s", name, path, exc_info=True)
            errors.append(SlideOpenError(path, f"{name} could not read it ({type(exc).__name__}: {exc})"))
    raise errors[0]

