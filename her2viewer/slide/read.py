"""Reading a level-0 box of a slide at any output size from the best pyramid level, and the slide's pixel
size with the 20x assumption (and a warning) when the file has none."""

from __future__ import annotations

import logging

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
    """Level-0 box resampled to (out_h, out_w, 3) uint8, read from the best pyramid level in chunks (a big box
    of a single-level slide is never held whole)."""
    from .scaled import read_scaled

    return read_scaled(source, (l0_x, l0_y, l0_w, l0_h), (out_w, out_h))
