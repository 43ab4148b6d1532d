"""Scoring regions from annotations (no Qt): score only inside a chosen annotation, or the tissue minus the
Ignore annotations.

Both return a `her2viewer.slide.region.Region` whose `mask` (a `RegionMask`) says where the scorer may
look; pass it to `score_slide(source, method, options, scope=region)`. Mask pixel (r, c) is on when its
centre lies inside the allowed area; the mask grid is coarse (at most `max_side` pixels a side) because
scorers only use it to choose tiles, patches and cells.

    region = annotation_region(ann, source.dimensions, annotations=aset)        # inside `ann`, minus Ignore
    region = tissue_minus_ignore(tissue_mask(source).as_region_mask(), aset)    # tissue without Ignore
    region = scoring_region(source, aset, within=ann_or_None)                   # either, tissue computed
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from ..slide.base import SlideSource
from ..slide.region import Region, RegionMask
from ..tissue.regions import MAX_MASK_SIDE, mask_downsample, rasterize
from .model import IGNORE_CLASS, Annotation


class RegionError(ValueError):
    """The annotations do not describe an area that can be scored."""


def polygonal_union(geoms: Iterable[BaseGeometry]) -> BaseGeometry | None:
    """The union of the polygonal geometries (points and lines have no area and are left out)."""
    polys = [g for g in geoms if isinstance(g, (Polygon, MultiPolygon)) and not g.is_empty]
    if not polys:
        return None
    return shapely.union_all([g if g.is_valid else shapely.make_valid(g) for g in polys])


def _ignore_union(annotations: Iterable[Annotation], ignore_class: str) -> BaseGeometry | None:
    return polygonal_union(a.geometry for a in annotations if a.cls == ignore_class)


def resample_mask(mask: RegionMask, l0_origin: tuple[float, float], downsample: float,
                  shape: tuple[int, int]) -> np.ndarray:
    """`mask` looked up at the centres of another grid's pixels (off-mask pixels are False)."""
    rows, cols = shape
    xs = l0_origin[0] + (np.arange(cols) + 0.5) * downsample
    ys = l0_origin[1] + (np.arange(rows) + 0.5) * downsample
    c = np.floor((xs - mask.l0_origin[0]) / mask.downsample).astype(np.int64)
    r = np.floor((ys - mask.l0_origin[1]) / mask.downsample).astype(np.int64)
    h, w = mask.mask.shape
    cok, rok = (c >= 0) & (c < w), (r >= 0) & (r < h)
    out = np.zeros(shape, bool)
    sub = mask.mask[np.clip(r, 0, h - 1)][:, np.clip(c, 0, w - 1)].astype(bool)
    out[np.ix_(rok, cok)] = sub[np.ix_(rok, cok)]
    return out


def annotation_region(ann: Annotation | BaseGeometry, dimensions: tuple[int, int], *,
                      annotations: Iterable[Annotation] = (), ignore_class: str = IGNORE_CLASS,
                      tissue: RegionMask | None = None, max_side: int = MAX_MASK_SIDE,
                      region_id: str | None = None) -> Region:
    """The region inside one annotation (clipped to the slide), minus the Ignore annotations among
    `annotations` and, when `tissue` is given, limited to tissue. Raises RegionError when nothing is left."""
    geom = ann.geometry if isinstance(ann, Annotation) else ann
    name = region_id or (ann.name or ann.cls or "annotation") if isinstance(ann, Annotation) else region_id
    area = polygonal_union([geom])
    if area is None:
        raise RegionError("only an area annotation (not a point or a line) can be scored")
    W, H = dimensions
    area = area.intersection(shapely.box(0, 0, W, H))
    ignore = _ignore_union((a for a in annotations if a is not ann), ignore_class)
    if ignore is not None:
        area = area.difference(ignore)
    if area.is_empty or area.area <= 0:
        raise RegionError("the annotation lies off the slide or entirely inside Ignore annotations")
    x0, y0, x1, y1 = area.bounds
    bx0, by0 = math.floor(x0), math.floor(y0)
    bw, bh = max(1, math.ceil(x1) - bx0), max(1, math.ceil(y1) - by0)
    ds = mask_downsample(bw, bh, max_side)
    shape = (max(1, math.ceil(bh / ds)), max(1, math.ceil(bw / ds)))
    mask = rasterize(area, (bx0, by0), ds, shape)
    if tissue is not None:
        mask &= resample_mask(tissue, (bx0, by0), ds, shape)
    if not mask.any():
        raise RegionError("the annotation holds no tissue to score" if tissue is not None
                          else "the annotation is too thin to score")
    return Region((int(bx0), int(by0), int(bw), int(bh)), RegionMask(mask, (float(bx0), float(by0)), ds),
                  name or "annotation")


def tissue_minus_ignore(tissue: RegionMask, annotations: Iterable[Annotation], *,
                        ignore_class: str = IGNORE_CLASS, region_id: str = "slide") -> Region:
    """The tissue of a slide without its Ignore annotations, cropped to what is left. Raises RegionError
    when no tissue is left."""
    mask = tissue.mask.astype(bool).copy()
    ignore = _ignore_union(annotations, ignore_class)
    if ignore is not None:
        mask &= ~rasterize(ignore, tissue.l0_origin, tissue.downsample, mask.shape)
    rr, cc = np.nonzero(mask)
    if rr.size == 0:
        raise RegionError("no tissue is left outside the Ignore annotations")
    r0, r1, c0, c1 = rr.min(), rr.max() + 1, cc.min(), cc.max() + 1
    ds = tissue.downsample
    ox, oy = tissue.l0_origin[0] + c0 * ds, tissue.l0_origin[1] + r0 * ds
    bbox = (int(math.floor(ox)), int(math.floor(oy)), int(math.ceil((c1 - c0) * ds)), int(math.ceil((r1 - r0) * ds)))
    return Region(bbox, RegionMask(mask[r0:r1, c0:c1].copy(), (ox, oy), ds), region_id)


def scoring_region(source: SlideSource, annotations: Iterable[Annotation], *,
                   within: Annotation | None = None, exclude_ignore: bool = True, tissue: RegionMask | None = None,
                   ignore_class: str = IGNORE_CLASS) -> Region:
    """What to score given the annotations: inside `within` (on tissue) or, without it, all tissue; Ignore
    annotations are cut out unless `exclude_ignore` is False. Computes the tissue mask when not given."""
    anns = list(annotations) if exclude_ignore else []
    if tissue is None:
        from ..tissue.mask import tissue_mask

        tm = tissue_mask(source)
        tissue = tm.as_region_mask() if not tm.empty else None
    if within is not None:
        return annotation_region(within, source.dimensions, annotations=anns, ignore_class=ignore_class,
                                 tissue=tissue)
    if tissue is None:
        W, H = source.dimensions
        ds = mask_downsample(W, H)
        tissue = RegionMask(np.ones((math.ceil(H / ds), math.ceil(W / ds)), bool), (0.0, 0.0), ds)
    return tissue_minus_ignore(tissue, anns, ignore_class=ignore_class)


__all__ = ["MAX_MASK_SIDE", "RegionError", "annotation_region", "mask_downsample", "polygonal_union", "rasterize",
           "resample_mask", "scoring_region", "tissue_minus_ignore"]
