"""tifffile backend: pyramidal TIFF and OME-TIFF (SubIFDs, series levels or reduced pages), tiled or stripped.

Reads decode only the tiles (or strips) a region touches: the compressed bytes come from `os.pread` on a
private file descriptor (no shared file position, so no lock) and are decoded by tifffile's page decoder.
"""

from __future__ import annotations

import logging
import os
import re
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tifffile

from ._util import ReadGuard, capture_tifffile_log, mpp_from_resolution, plausible_mpp, to_rgb8
from .base import SlideBase, SlideOpenError
from .tiff_guard import guard_tiff

log = logging.getLogger(__name__)

_POOL = ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1), thread_name_prefix="tiff-decode")
_ASSOCIATED = ("label", "macro", "thumbnail", "overview")
_MAX_ASSOCIATED_PX = 64 * 2**20


@dataclass
class _Level:
    """One pyramid level: a TIFF page and its grid of segments (tiles, or full-width strips)."""

    page: tifffile.TiffPage
    width: int
    height: int
    seg_w: int
    seg_h: int
    cols: int
    rows: int
    planes: int
    offsets: tuple[int, ...]
    counts: tuple[int, ...]

    @classmethod
    def from_page(cls, page: tifffile.TiffPage) -> _Level:
        """Describe `page`'s segment layout."""
        h, w = int(page.imagelength), int(page.imagewidth)
        if page.is_tiled:
            seg_w, seg_h = int(page.tilewidth), int(page.tilelength)
        else:
            seg_w, seg_h = w, int(min(page.rowsperstrip or h, h))
        planes = int(page.samplesperpixel) if page.planarconfig == 2 else 1
        return cls(page, w, h, seg_w, seg_h, -(-w // seg_w), -(-h // seg_h), planes,
                   tuple(page.dataoffsets), tuple(page.databytecounts))


def _series_name(series: tifffile.TiffPageSeries) -> str:
    """A series' name as the associated-image names are spelt ('' for none)."""
    return (series.name or "").strip().lower()


def main_series(tf: tifffile.TiffFile) -> tifffile.TiffPageSeries:
    """The slide's own image: the largest series that is not a label, macro, thumbnail or overview (some
    writers put a small preview first, which is then tifffile's first series)."""
    series = [s for s in tf.series if _series_name(s) not in _ASSOCIATED] or list(tf.series)
    return max(series, key=lambda s: int(s.levels[0].keyframe.imagewidth) * int(s.levels[0].keyframe.imagelength))


def _levels(tf: tifffile.TiffFile) -> list[tifffile.TiffPage]:
    """Pyramid pages, largest first: series levels (SubIFDs, OME, generic), else reduced same-aspect pages."""
    series = main_series(tf)
    pages = [lvl.keyframe for lvl in series.levels]
    if len(pages) == 1:
        base = pages[0]
        aspect = base.imagewidth / base.imagelength
        for page in tf.pages:
            page = page.keyframe if hasattr(page, "keyframe") else page
            if (page.is_tiled == base.is_tiled and page.samplesperpixel == base.samplesperpixel
                    and page.imagewidth < pages[-1].imagewidth
                    and abs(page.imagewidth / page.imagelength - aspect) < 0.02 * aspect):
                pages.append(page)
    pages.sort(key=lambda p: -int(p.imagewidth))
    return pages


def _ome_mpp(tf: tifffile.TiffFile) -> float | None:
    if not tf.ome_metadata:
        return None
    try:
        root = ET.fromstring(tf.ome_metadata)
    except ET.ParseError:
        return None
    for el in root.iter():
        if el.tag.endswith("Pixels") and el.get("PhysicalSizeX"):
            unit = el.get("PhysicalSizeXUnit", "µm")
            factor = {"µm": 1.0, "um": 1.0, "nm": 1e-3, "mm": 1e3, "cm": 1e4, "m": 1e6}.get(unit)
            if factor is None:
                return None
            return plausible_mpp(float(el.get("PhysicalSizeX", "nan")) * factor)
    return None


def _tag_mpp(page: tifffile.TiffPage) -> float | None:
    desc = page.description or ""
    m = re.search(r"\bMPP\s*=\s*([0-9.]+)", desc)
    if m:
        return plausible_mpp(float(m.group(1)))
    tag = page.tags.get("XResolution")
    if tag is None:
        return None
    num, den = tag.value if isinstance(tag.value, tuple) else (tag.value, 1)
    res = num / den if den else 0.0
    return mpp_from_resolution(res, int(page.resolutionunit))


class TiffFileSource(SlideBase):
    """A pyramidal (or single-level tiled) TIFF / OME-TIFF read tile by tile with tifffile."""

    vendor = "tiff"

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        self.path = str(path)
        guard_tiff(path)
        with capture_tifffile_log() as messages:
            try:
                self._tf = tifffile.TiffFile(self.path)
            except Exception as exc:
                raise SlideOpenError(path, f"it is not a readable TIFF ({exc})") from exc
            try:
                self._init_levels()
            except SlideOpenError:
                self._tf.close()
                raise
            except Exception as exc:
                self._tf.close()
                raise SlideOpenError(path, f"its TIFF structure is not supported ({exc})") from exc
        if messages:
            log.debug("tifffile on %s: %s", self.path, "; ".join(messages))
        self._fd = os.open(self.path, os.O_RDONLY)
        self._guard = ReadGuard(self.path)
        self._assoc: dict[str, np.ndarray] | None = None

    def _init_levels(self) -> None:
        tf = self._tf
        if not len(tf.pages):
            raise SlideOpenError(self.path, "the TIFF holds no readable image directory (damaged or truncated)")
        first = tf.pages.first
        if first.imagewidth <= 0 or first.imagelength <= 0:
            raise SlideOpenError(self.path, f"the image has zero size ({first.imagewidth}x{first.imagelength})")
        if not tf.series:
            raise SlideOpenError(self.path, "the TIFF holds no image")
        pages = _levels(tf)
        base = pages[0]
        if base.samplesperpixel > 4 or base.imagedepth > 1:
            raise SlideOpenError(self.path, f"unsupported pixel layout ({base.samplesperpixel} samples per pixel)")
        size = os.path.getsize(self.path)
        self._levels = [_Level.from_page(p) for p in pages]
        for lvl in self._levels:
            if len(lvl.offsets) < lvl.cols * lvl.rows * lvl.planes:
                raise SlideOpenError(self.path, "a pyramid level has fewer tiles than its size needs")
            end = max((o + c for o, c in zip(lvl.offsets, lvl.counts, strict=False) if c), default=0)
            if end > size:
                raise SlideOpenError(self.path, f"the file is truncated (image data runs to byte {end}, "
                                                f"the file has {size})")
        W, H = self._levels[0].width, self._levels[0].height
        self._level_dims = tuple((lv.width, lv.height) for lv in self._levels)
        self._downsamples = tuple((W / lv.width + H / lv.height) / 2.0 for lv in self._levels)
        self._mpp = _ome_mpp(tf) or _tag_mpp(base)
        if tf.is_ome:
            self.vendor = "ome-tiff"
        self._props = {"her2viewer.backend": "tifffile"}
        for name in ("ImageDescription", "Software", "Make", "Model", "DateTime", "Artist"):
            tag = base.tags.get(name)
            if tag is not None and isinstance(tag.value, str):
                self._props[f"tiff.{name}"] = tag.value[:4096]
        m = re.search(r"\bAppMag\s*=\s*([0-9.]+)", base.description or "")
        if m:
            self._objective = float(m.group(1))
        self._alpha = base.samplesperpixel in (2, 4) and bool(base.extrasamples)
        self._premultiplied = self._alpha and int(base.extrasamples[0]) == 1
        self._min_is_white = base.photometric == tifffile.PHOTOMETRIC.MINISWHITE
        self._cmyk = base.photometric == tifffile.PHOTOMETRIC.SEPARATED
        self._colormap = base.colormap if base.photometric == tifffile.PHOTOMETRIC.PALETTE else None

    # -- pixels -------------------------------------------------------------------------------------
    def _decode_segment(self, lvl: _Level, index: int) -> np.ndarray | None:
        """The segment's pixels (seg_h, seg_w, samples), or None for a sparse (absent) segment."""
        planes = []
        per_plane = lvl.cols * lvl.rows
        for plane in range(lvl.planes):
            i = index + plane * per_plane
            count = lvl.counts[i]
            if not count:
                return None
            data = os.pread(self._fd, count, lvl.offsets[i])
            seg, _, _ = lvl.page.decode(data, i, jpegtables=lvl.page.jpegtables)
            planes.append(seg.reshape(seg.shape[-3:]))
        return planes[0] if lvl.planes == 1 else np.concatenate(planes, axis=2)

    def _to_rgb(self, pixels: np.ndarray) -> np.ndarray:
        if self._colormap is not None:
            pixels = to_rgb8(self._colormap.T[pixels[..., 0]])
            return pixels
        if pixels.dtype == np.uint8 and pixels.shape[2] == 3:
            return pixels
        return to_rgb8(pixels, alpha=self._alpha, premultiplied=self._premultiplied,
                       min_is_white=self._min_is_white, cmyk=self._cmyk)

    def _read_level(self, level: int, lvl_x: int, lvl_y: int, w: int, h: int) -> np.ndarray:
        lvl = self._levels[level]
        c0, c1 = lvl_x // lvl.seg_w, (lvl_x + w - 1) // lvl.seg_w
        r0, r1 = lvl_y // lvl.seg_h, (lvl_y + h - 1) // lvl.seg_h
        with self._guard.reading():
            if c0 == c1 and r0 == r1:
                seg = self._decode_segment(lvl, r0 * lvl.cols + c0)
                if seg is None:
                    return np.full((h, w, 3), 255, np.uint8)
                sx, sy = lvl_x - c0 * lvl.seg_w, lvl_y - r0 * lvl.seg_h
                rgb = self._to_rgb(seg[sy : sy + h, sx : sx + w])
                if rgb.shape[:2] != seg.shape[:2] and not rgb.flags.owndata:
                    rgb = rgb.copy()  # do not keep the whole decoded tile alive behind a crop
                return rgb
            cells = [(r, c) for r in range(r0, r1 + 1) for c in range(c0, c1 + 1)]
            decode = lambda rc: self._decode_segment(lvl, rc[0] * lvl.cols + rc[1])  # noqa: E731
            segs = list(_POOL.map(decode, cells)) if len(cells) >= 4 else [decode(rc) for rc in cells]
        out = np.full((h, w, 3), 255, np.uint8)
        for (r, c), seg in zip(cells, segs, strict=True):
            if seg is None:
                continue
            x0, y0 = max(c * lvl.seg_w, lvl_x), max(r * lvl.seg_h, lvl_y)
            x1 = min((c + 1) * lvl.seg_w, lvl_x + w, lvl.width)
            y1 = min((r + 1) * lvl.seg_h, lvl_y + h, lvl.height)
            part = seg[y0 - r * lvl.seg_h : y1 - r * lvl.seg_h, x0 - c * lvl.seg_w : x1 - c * lvl.seg_w]
            out[y0 - lvl_y : y1 - lvl_y, x0 - lvl_x : x1 - lvl_x] = self._to_rgb(part)
        return out

    # -- metadata -----------------------------------------------------------------------------------
    @property
    def associated_images(self) -> dict[str, np.ndarray]:
        """Label, macro, thumbnail series (by name) as RGB arrays, read on first access."""
        with self._lock:
            if self._assoc is None:
                self._assoc = {}
                with self._guard.reading():
                    main = main_series(self._tf)
                    for series in self._tf.series:
                        if series is main:
                            continue
                        name = _series_name(series)
                        if name in _ASSOCIATED and np.prod(series.shape[:2]) <= _MAX_ASSOCIATED_PX:
                            try:
                                self._assoc[name] = to_rgb8(series.asarray())
                            except Exception as exc:  # a broken extra page must not break the slide
                                log.warning("%s: cannot read %s image: %s", self.path, name, exc)
            return dict(self._assoc)

    def close(self) -> None:
        """Close the file once running reads finish."""
        super().close()
        if self._guard.close():
            os.close(self._fd)
            self._tf.close()
