"""Reading a large box of a slide at a reduced size, chunk by chunk, so no whole level is ever held in memory.

A single-level 60,000 x 60,000 TIFF has no pyramid: a thumbnail or a tissue mask read from level 0 at once
would need 10 GB. `read_scaled` reads the box from the best level in chunks of at most CHUNK_PX level
pixels a side and shrinks each chunk into its place in the output as it goes.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

#: boxes of at most this many level pixels are read in one piece
DIRECT_MAX_PIXELS = 16 * 2**20
#: side of one chunk, in level pixels
CHUNK_PX = 4096
#: the output of `read_scaled` is bounded too (about 800 MB as RGB)
MAX_OUT_PIXELS = 256 * 2**20


def read_scaled(source, l0_box: tuple[float, float, float, float], out_size: tuple[int, int]) -> np.ndarray:
    """The level-0 box (x, y, w, h) resampled to RGB uint8 (out_h, out_w, 3), read chunk by chunk."""
    l0_x, l0_y, l0_w, l0_h = (float(v) for v in l0_box)
    out_w, out_h = max(1, int(out_size[0])), max(1, int(out_size[1]))
    if out_w * out_h > MAX_OUT_PIXELS:
        raise ValueError(f"{getattr(source, 'path', 'slide')}: a {out_w} x {out_h} px view is too large to hold")
    ds = max(l0_w / out_w, l0_h / out_h, 1e-6)
    level = source.best_level_for_downsample(max(ds, 1.0))
    lvl_ds = source.level_downsamples[level]
    lvl_w = max(1, math.ceil(l0_w / lvl_ds))
    lvl_h = max(1, math.ceil(l0_h / lvl_ds))
    if lvl_w * lvl_h <= DIRECT_MAX_PIXELS:
        img = source.read_region(level, int(math.floor(l0_x)), int(math.floor(l0_y)), lvl_w, lvl_h)
        if (lvl_w, lvl_h) != (out_w, out_h):
            interp = cv2.INTER_AREA if lvl_w >= out_w else cv2.INTER_LINEAR
            img = cv2.resize(img, (out_w, out_h), interpolation=interp)
        return img
    return _read_chunked(source, level, (l0_x / lvl_ds, l0_y / lvl_ds, lvl_w, lvl_h), (out_w, out_h))


def _edges(out_n: int, lvl_n: int) -> list[tuple[int, int, int, int]]:
    """(out_start, out_end, lvl_start, lvl_end) per chunk along one axis (chunks of <= CHUNK_PX level px)."""
    per_out = lvl_n / out_n
    step = max(1, int(CHUNK_PX / max(per_out, 1e-9)))
    spans = []
    for o0 in range(0, out_n, step):
        o1 = min(out_n, o0 + step)
        spans.append((o0, o1, int(math.floor(o0 * per_out)), max(int(math.floor(o0 * per_out)) + 1,
                                                                 int(math.ceil(o1 * per_out)))))
    return spans


def _read_chunked(source, level: int, lvl_box: tuple[float, float, int, int], out_size: tuple[int, int]
                  ) -> np.ndarray:
    lvl_x, lvl_y, lvl_w, lvl_h = lvl_box
    out_w, out_h = out_size
    out = np.empty((out_h, out_w, 3), np.uint8)
    x0, y0 = int(math.floor(lvl_x)), int(math.floor(lvl_y))
    read = getattr(source, "read_level", None)
    if read is None:  # a SlideSource without SlideBase's level-pixel reader
        ds = source.level_downsamples[level]
        read = lambda lv, x, y, w, h: source.read_region(lv, round(x * ds), round(y * ds), w, h)  # noqa: E731
    for oy0, oy1, ly0, ly1 in _edges(out_h, lvl_h):
        for ox0, ox1, lx0, lx1 in _edges(out_w, lvl_w):
            chunk = read(level, x0 + lx0, y0 + ly0, lx1 - lx0, ly1 - ly0)
            size = (ox1 - ox0, oy1 - oy0)
            if (chunk.shape[1], chunk.shape[0]) != size:
                chunk = cv2.resize(chunk, size, interpolation=cv2.INTER_AREA)
            out[oy0:oy1, ox0:ox1] = chunk
    return out
