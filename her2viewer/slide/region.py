"""Parts of a slide: a `Region` to score (a level-0 box, an optional mask, an id) and the `RegionMask` that
says which of its pixels count (tissue, inside an annotation, outside the Ignore areas)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RegionMask:
    """A boolean mask over part of a slide: mask pixel (r, c) covers level-0
    [x0 + c*downsample, x0 + (c+1)*downsample) x [y0 + r*downsample, ...)."""

    mask: np.ndarray
    l0_origin: tuple[float, float]
    downsample: float

    def fraction_in(self, l0_x: float, l0_y: float, l0_w: float, l0_h: float) -> float:
        """Fraction of the level-0 box that lies on mask pixels (0 outside the mask)."""
        ds = self.downsample
        c0 = int(np.floor((l0_x - self.l0_origin[0]) / ds))
        r0 = int(np.floor((l0_y - self.l0_origin[1]) / ds))
        c1 = int(np.ceil((l0_x + l0_w - self.l0_origin[0]) / ds))
        r1 = int(np.ceil((l0_y + l0_h - self.l0_origin[1]) / ds))
        total = max(1, (r1 - r0) * (c1 - c0))
        h, w = self.mask.shape
        sub = self.mask[max(r0, 0):min(r1, h), max(c0, 0):min(c1, w)]
        return float(np.count_nonzero(sub)) / total

    def l0_points(self) -> np.ndarray:
        """Level-0 centres (x, y) of every mask pixel that is on, shape (n, 2)."""
        rr, cc = np.nonzero(self.mask)
        ds = self.downsample
        return np.stack([self.l0_origin[0] + (cc + 0.5) * ds, self.l0_origin[1] + (rr + 0.5) * ds], axis=1)


@dataclass(frozen=True)
class Region:
    """A part of a slide to score: a level-0 bounding box, an optional tissue mask, an id (core label)."""

    l0_bbox: tuple[int, int, int, int]
    mask: RegionMask | None = None
    id: str = "slide"


def crop_region_mask(mask: RegionMask, l0_bbox: tuple[int, int, int, int]) -> RegionMask:
    """The part of a mask that covers a level-0 box (shares no pixels outside it)."""
    ds = mask.downsample
    x, y, w, h = l0_bbox
    c0 = max(0, int(math.floor((x - mask.l0_origin[0]) / ds)))
    r0 = max(0, int(math.floor((y - mask.l0_origin[1]) / ds)))
    c1 = min(mask.mask.shape[1], int(math.ceil((x + w - mask.l0_origin[0]) / ds)))
    r1 = min(mask.mask.shape[0], int(math.ceil((y + h - mask.l0_origin[1]) / ds)))
    sub = mask.mask[r0:max(r0, r1), c0:max(c0, c1)].copy()
    return RegionMask(sub, (mask.l0_origin[0] + c0 * ds, mask.l0_origin[1] + r0 * ds), ds)
