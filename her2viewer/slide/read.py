"""Reading a level-0 box of a slide at any output size from the best pyramid level, and the slide's pixel
size with the 20x assumption (and a warning) when the file has none."""

from __future__ import annotations

import logging
import math

import cv2
import numpy as np

from .base import SlideSource

log = logging.getLogger(__name__)

#: the pixel size assumed when a slide has none (um/px, 20x)
ASSUMED_MPP = 0.5
_warned_no_mpp: set[str] = set()


def source_mpp(source: SlideSource) -> float:
    """The slide's level-0 mpp, or ASSUMED_MPP (0.5 um/px) with a warning (once per slide) when it has none."""
    mpp = source.mpp
    if mpp and mpp > 0:
        return float(mpp)
    key = str(getattr(source, "uid", id(source)))
    if key in _warned_no_mpp:
        return ASSUMED_MPP
    _warned_no_mpp.add(key)
    log.warning("%s has no pixel size; assuming %.2f um/px (20x)", getattr(source, "path", "slide"), ASSUMED_MPP)
    return ASSUMED_MPP


def read_l0_box(source: SlideSource, l0_x: float, l0_y: float, l0_w: float, l0_h: float, out_w: int,
                out_h: int) -> np.ndarray:
    """Level-0 box resampled to (out_h, out_w, 3) uint8, read from the best pyramid level."""
    ds = max(l0_w / out_w, l0_h / out_h, 1e-6)
    level = source.best_level_for_downsample(max(ds, 1.0))
    lvl_ds = source.level_downsamples[level]
    lw = max(1, int(math.ceil(l0_w / lvl_ds)))
    lh = max(1, int(math.ceil(l0_h / lvl_ds)))
    img = source.read_region(level, int(math.floor(l0_x)), int(math.floor(l0_y)), lw, lh)
    if (lw, lh) != (out_w, out_h):
        interp = cv2.INTER_AREA if lw >= out_w else cv2.INTER_LINEAR
        img = cv2.resize(img, (out_w, out_h), interpolation=interp)
    return img
