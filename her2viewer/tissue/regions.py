"""Which parts of a slide to score, as `Region`s with masks: each TMA core, the tissue, or a given region,
minus an excluded area; and the rasterising of polygonal areas onto a mask grid that this needs.

Scopes:

* "auto": a TMA (>= 2 round cores in a grid, `her2viewer.tissue.tma`) is scored core by core; anything
  else (a whole slide, a single core image) as ONE region: the bounding box of all its tissue, sampled on
  the tissue mask only.
* "cores": core by core even when the slide does not look like a TMA (a single core image gives one core).
* "slide": the tissue of the whole slide as one region.
* a `Region`: just that region.

`exclude` (a shapely area in level-0 px, e.g. the union of the Ignore annotations) is cut out of every
region's mask (`exclude_area`): a TMA is still scored core by core, a core wholly inside it is left out.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import cv2
import numpy as np
import shapely
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry

from ..slide.base import SlideSource
from ..slide.region import Region, RegionMask, crop_region_mask

log = logging.getLogger(__name__)

SCOPES = ("auto", "slide", "cores")
MAX_MASK_SIDE = 2048
_SHIFT = 4  # cv2.fillPoly sub-pixel bits


def rasterize(geom: BaseGeometry | None, l0_origin: tuple[float, float], downsample: float,
              shape: tuple[int, int]) -> np.ndarray:
    """A bool (rows, cols) mask of the grid pixels whose centre lies inside the polygonal `geom`.

    cv2 fills the polygons fast but also takes pixels the outline merely touches; the pixels along the
    outline are then decided exactly by testing their centres with shapely."""
    out = np.zeros(shape, np.uint8)
    if geom is None or geom.is_empty:
        return out.astype(bool)
    scale = float(1 << _SHIFT)

    def grid(ring) -> np.ndarray:
        xy = np.asarray(ring.coords, np.float64)[:, :2]
        g = (xy - np.asarray(l0_origin)) / downsample - 0.5  # pixel centre c sits at grid coordinate c
        return np.round(g * scale).astype(np.int32).reshape(-1, 1, 2)

    parts = [geom] if isinstance(geom, Polygon) else [g for g in getattr(geom, "geoms", []) if isinstance(g, Polygon)]
    for poly in parts:
        cv2.fillPoly(out, [grid(poly.exterior)], 1, lineType=cv2.LINE_8, shift=_SHIFT)
        holes = [grid(r) for r in poly.interiors]
        if holes:
            cv2.fillPoly(out, holes, 0, lineType=cv2.LINE_8, shift=_SHIFT)
    kernel = np.ones((5, 5), np.uint8)   # cv2 may take up to about a pixel too many along the outline
    band = (cv2.dilate(out, kernel) > 0) & ~(cv2.erode(out, kernel, borderType=cv2.BORDER_REPLICATE) > 0)
    # the band holds every outline pixel; pixels of one-pixel-thin parts are tested too
    rr, cc = np.nonzero(band)
    if rr.size:
        xs = l0_origin[0] + (cc + 0.5) * downsample
        ys = l0_origin[1] + (rr + 0.5) * downsample
        out[rr, cc] = shapely.contains_xy(geom, xs, ys)
    return out.astype(bool)


def mask_downsample(l0_w: float, l0_h: float, max_side: int = MAX_MASK_SIDE) -> float:
    """The grid step (level-0 px per mask pixel) that keeps a box's mask within `max_side` pixels."""
    return max(1.0, max(l0_w, l0_h) / float(max_side))


def _find_cores(source: SlideSource) -> tuple[list[Any], Any, bool]:
    """(cores, tissue mask, looks like a TMA) from the tissue package."""
    from . import tma

    cores, tm, n_round = tma.find_cores(source)
    return cores, tm, tma.tma_verdict(cores, tm, n_round, source.dimensions)


def _tissue_region(source: SlideSource, tm: Any | None = None) -> Region | None:
    """The bounding box of all tissue with the tissue mask; None when no tissue is found."""
    W, H = source.dimensions
    if tm is None:
        from .mask import tissue_mask

        tm = tissue_mask(source)
    if not tm.regions:
        log.info("no tissue found in %s", getattr(source, "path", "slide"))
        return None
    x0 = min(r[0] for r in tm.regions)
    y0 = min(r[1] for r in tm.regions)
    x1 = max(r[0] + r[2] for r in tm.regions)
    y1 = max(r[1] + r[3] for r in tm.regions)
    bbox = (int(x0), int(y0), int(x1 - x0), int(y1 - y0))
    return Region(bbox, crop_region_mask(tm.as_region_mask(), bbox), "slide")


def _core_regions(cores: list[Any], tm: Any) -> list[Region]:
    mask = tm.as_region_mask()
    return [Region(tuple(int(v) for v in c.l0_bbox), crop_region_mask(mask, c.l0_bbox), c.id) for c in cores]


def exclude_area(region: Region, exclude: Any) -> Region | None:
    """The region without the polygonal `exclude` area (level-0 shapely geometry): mask pixels whose centre
    lies inside it are turned off (a region without a mask gets one); None when nothing is left."""
    x, y, w, h = region.l0_bbox
    if exclude is None or exclude.is_empty or not exclude.intersects(shapely.box(x, y, x + w, y + h)):
        return region
    mask = region.mask
    if mask is None:
        ds = mask_downsample(w, h)
        mask = RegionMask(np.ones((max(1, math.ceil(h / ds)), max(1, math.ceil(w / ds))), bool),
                          (float(x), float(y)), ds)
    keep = mask.mask.astype(bool) & ~rasterize(exclude, mask.l0_origin, mask.downsample, mask.mask.shape)
    if not keep.any():
        return None
    return Region(region.l0_bbox, RegionMask(keep, mask.l0_origin, mask.downsample), region.id)


class NothingToScoreError(ValueError):
    """The excluded (Ignore) areas cover everything there was to score; the message names the slide."""


def regions_for(source: SlideSource, scope: str | Region = "auto", *, exclude: Any = None
                ) -> tuple[str, list[Region]]:
    """What to score: ("tma", cores) | ("slide", [tissue]) | ("region", [region]), minus `exclude`;
    ("slide", []) when the slide has no tissue."""
    kind, regions = _regions_for(source, scope)
    if exclude is None or not regions:
        return kind, regions
    kept = [r for r in (exclude_area(r, exclude) for r in regions) if r is not None]
    if not kept:
        raise NothingToScoreError(f"nothing is left to score in {getattr(source, 'path', 'the slide')} outside "
                                  "the excluded (Ignore) areas")
    if len(kept) < len(regions):
        log.info("%d region(s) lie wholly inside the excluded areas and are not scored", len(regions) - len(kept))
    return kind, kept


def _regions_for(source: SlideSource, scope: str | Region = "auto") -> tuple[str, list[Region]]:
    if isinstance(scope, Region):
        return "region", [scope]
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}; use one of {', '.join(SCOPES)} or a Region")
    if scope == "slide":
        tissue = _tissue_region(source)
        return "slide", [tissue] if tissue else []
    cores, tm, tma_like = _find_cores(source)
    if scope == "cores":
        if not cores:
            raise ValueError(f"no cores found in {getattr(source, 'path', 'the slide')}")
        return "tma", _core_regions(cores, tm)
    if tma_like:
        return "tma", _core_regions(cores, tm)
    tissue = _tissue_region(source, tm)
    return "slide", [tissue] if tissue else []
