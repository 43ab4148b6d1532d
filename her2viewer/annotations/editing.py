"""Geometry for drawing and editing annotations, in level-0 pixels (no Qt): shape builders for the drawing
tools, hit testing, vertex handles, moving and vertex editing.

Tolerances are given by the caller in level-0 pixels (a few screen pixels times the view's downsample), so
clicking feels the same at every zoom.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
import shapely
from shapely import affinity
from shapely.geometry import LineString, MultiPolygon, Point, Polygon, box
from shapely.geometry.base import BaseGeometry

from .model import Annotation

Pt = tuple[float, float]
#: vertex handle address: (part index, ring index (0 exterior, 1.. holes), vertex index)
VertexRef = tuple[int, int, int]
ELLIPSE_VERTICES = 72


class ShapeError(ValueError):
    """A drawn shape is too small or degenerate to become an annotation."""


def rectangle(p0: Pt, p1: Pt, min_side: float = 1.0) -> Polygon:
    """The axis-aligned rectangle with corners p0 and p1."""
    x0, x1 = sorted((p0[0], p1[0]))
    y0, y1 = sorted((p0[1], p1[1]))
    if x1 - x0 < min_side or y1 - y0 < min_side:
        raise ShapeError("the rectangle is too small")
    return box(x0, y0, x1, y1)


def ellipse(p0: Pt, p1: Pt, min_side: float = 1.0, n: int = ELLIPSE_VERTICES) -> Polygon:
    """The ellipse inscribed in the rectangle p0-p1, as a polygon of `n` vertices."""
    x0, x1 = sorted((p0[0], p1[0]))
    y0, y1 = sorted((p0[1], p1[1]))
    if x1 - x0 < min_side or y1 - y0 < min_side:
        raise ShapeError("the ellipse is too small")
    t = np.linspace(0.0, 2.0 * math.pi, n, endpoint=False)
    cx, cy, rx, ry = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2, (y1 - y0) / 2
    return Polygon(np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], axis=1))


def _dedupe(points: Sequence[Pt], min_step: float) -> list[Pt]:
    out: list[Pt] = []
    for p in points:
        if not out or math.hypot(p[0] - out[-1][0], p[1] - out[-1][1]) >= min_step:
            out.append((float(p[0]), float(p[1])))
    return out


def _polygonal(geom: BaseGeometry) -> Polygon | MultiPolygon:
    """The polygonal part of a repaired geometry (self-intersections become several parts)."""
    if not geom.is_valid:
        geom = shapely.make_valid(geom)
    polys = [g for g in getattr(geom, "geoms", [geom]) if isinstance(g, (Polygon, MultiPolygon)) and not g.is_empty]
    if not polys:
        raise ShapeError("the shape encloses no area")
    merged = shapely.union_all(polys)
    if isinstance(merged, (Polygon, MultiPolygon)):
        return merged
    raise ShapeError("the shape encloses no area")


def polygon(points: Sequence[Pt], min_step: float = 0.0, min_area: float = 1.0) -> Polygon | MultiPolygon:
    """A polygon through the clicked or dragged points (repaired if it crosses itself)."""
    pts = _dedupe(points, min_step)
    if len(pts) > 1 and math.hypot(pts[0][0] - pts[-1][0], pts[0][1] - pts[-1][1]) < 1e-9:
        pts.pop()
    if len(pts) < 3:
        raise ShapeError("a polygon needs at least three distinct points")
    geom = _polygonal(Polygon(pts))
    if geom.area < min_area:
        raise ShapeError("the polygon is too small")
    return geom


def freehand(points: Sequence[Pt], tolerance: float, min_area: float = 1.0) -> Polygon | MultiPolygon:
    """A freehand outline: the dragged path closed, simplified to `tolerance` and repaired."""
    geom = polygon(points, min_step=tolerance / 2.0, min_area=min_area)
    simple = geom.simplify(tolerance, preserve_topology=True)
    return _polygonal(simple) if not simple.is_empty else geom


def brush_stroke(points: Sequence[Pt], radius: float, tolerance: float | None = None) -> Polygon | MultiPolygon:
    """The area a round brush of `radius` covers along the dragged path."""
    if radius <= 0:
        raise ShapeError("the brush radius must be positive")
    pts = _dedupe(points, radius / 8.0)
    if not pts:
        raise ShapeError("the stroke has no points")
    line = Point(pts[0]) if len(pts) == 1 else LineString(pts)
    geom = line.buffer(radius, quad_segs=8)
    tol = radius / 20.0 if tolerance is None else tolerance
    return _polygonal(geom.simplify(tol, preserve_topology=True))


def point(p: Pt) -> Point:
    """A point annotation's geometry."""
    return Point(float(p[0]), float(p[1]))


# ---- hit testing ---------------------------------------------------------------------------------

def hits(geom: BaseGeometry, p: Pt, tolerance: float) -> bool:
    """True when `p` lies inside the geometry or within `tolerance` of its outline (points, lines)."""
    pt = Point(p)
    if geom.geom_type in ("Polygon", "MultiPolygon") and geom.covers(pt):
        return True
    return geom.distance(pt) <= tolerance


def hit_test(annotations: Iterable[Annotation], p: Pt, tolerance: float) -> Annotation | None:
    """The annotation under `p`: the topmost (last drawn), preferring points and outlines near `p`
    over areas that merely contain it, and the smallest area among those."""
    best: tuple[int, float, int] | None = None
    found: Annotation | None = None
    pt = Point(p)
    for order, ann in enumerate(annotations):
        g = ann.geometry
        x0, y0, x1, y1 = g.bounds
        if p[0] < x0 - tolerance or p[0] > x1 + tolerance or p[1] < y0 - tolerance or p[1] > y1 + tolerance:
            continue
        areal = g.geom_type in ("Polygon", "MultiPolygon")
        d = g.boundary.distance(pt) if areal else g.distance(pt)
        inside = areal and g.covers(pt)
        if d > tolerance and not inside:
            continue
        # rank: things near their outline/point first, then by area (small on top), then latest drawn
        key = (0 if d <= tolerance else 1, g.area, -order)
        if best is None or key < best:
            best, found = key, ann
    return found


# ---- vertices ----------------------------------------------------------------------------------

def _polys(geom: BaseGeometry) -> list[Polygon]:
    if isinstance(geom, Polygon):
        return [geom]
    if isinstance(geom, MultiPolygon):
        return list(geom.geoms)
    return []


def vertices(geom: BaseGeometry) -> list[tuple[VertexRef, Pt]]:
    """The editable vertices of a polygonal geometry or a point (closing vertices left out)."""
    if isinstance(geom, Point):
        return [((0, 0, 0), (geom.x, geom.y))]
    out: list[tuple[VertexRef, Pt]] = []
    for pi, poly in enumerate(_polys(geom)):
        for ri, ring in enumerate([poly.exterior, *poly.interiors]):
            coords = list(ring.coords)[:-1]
            out.extend(((pi, ri, vi), (x, y)) for vi, (x, y) in enumerate(coords))
    return out


def nearest_vertex(geom: BaseGeometry, p: Pt, tolerance: float) -> VertexRef | None:
    """The vertex within `tolerance` of `p` (the nearest one), or None."""
    best, ref = tolerance, None
    for r, (x, y) in vertices(geom):
        d = math.hypot(x - p[0], y - p[1])
        if d <= best:
            best, ref = d, r
    return ref


def move_vertex(geom: BaseGeometry, ref: VertexRef, p: Pt) -> BaseGeometry:
    """The geometry with one vertex moved to `p` (repaired when the move makes it cross itself)."""
    if isinstance(geom, Point):
        return Point(p)
    polys = _polys(geom)
    pi, ri, vi = ref
    poly = polys[pi]
    rings = [list(poly.exterior.coords)[:-1], *[list(r.coords)[:-1] for r in poly.interiors]]
    rings[ri][vi] = (float(p[0]), float(p[1]))
    polys[pi] = Polygon(rings[0], rings[1:])
    new = polys[0] if isinstance(geom, Polygon) else MultiPolygon(polys)
    return _polygonal(new)


def translate(geom: BaseGeometry, dx: float, dy: float) -> BaseGeometry:
    """The geometry moved by (dx, dy) level-0 pixels."""
    return affinity.translate(geom, dx, dy)


def clip_to_slide(geom: BaseGeometry, dimensions: tuple[int, int]) -> BaseGeometry:
    """The part of a polygonal geometry that lies on the slide (points are kept as they are)."""
    if geom.geom_type not in ("Polygon", "MultiPolygon"):
        return geom
    clipped = geom.intersection(box(0, 0, float(dimensions[0]), float(dimensions[1])))
    return _polygonal(clipped)


__all__ = ["ELLIPSE_VERTICES", "ShapeError", "VertexRef", "brush_stroke", "clip_to_slide", "ellipse", "freehand",
           "hit_test", "hits", "move_vertex", "nearest_vertex", "point", "polygon", "rectangle", "translate",
           "vertices"]
