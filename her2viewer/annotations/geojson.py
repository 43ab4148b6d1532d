"""GeoJSON import and export of annotations, compatible with QuPath.

QuPath (0.4+) writes a FeatureCollection whose features carry an "id" (a UUID), a geometry and
properties {"objectType": "annotation", "classification": {"name", "color": [r, g, b]}, "name",
"isLocked", "color", "measurements"}; QuPath 0.2/0.3 wrote "colorRGB" (a packed signed ARGB int) and
"id": "PathAnnotationObject", and "Export objects" can also write a bare list of features or a single
Feature. All of these are read.

Reading is all-or-nothing: the whole file is parsed and checked first (types, coordinates, finite
numbers, vertex and size caps, geometry validity) and only then are annotations returned, so a bad file
imports nothing. Self-intersecting polygons are repaired with `shapely.make_valid` and the repair is
reported (or rejected with `repair=False`). Non-annotation objects (detections, cells, tiles) are skipped
and counted.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry import LineString, MultiLineString, MultiPoint, MultiPolygon, Point, Polygon, mapping
from shapely.geometry.base import BaseGeometry

from ..atomic import atomic_write_text
from ..jsonfile import JSONFileError, parse_json, read_json
from .model import Annotation, AnnotationSet, ClassRegistry, check_rgb
from .validity import MAX_TEXT, PropertyProblem, check_properties, finite_or_null, too_many_vertices

MAX_VERTICES = 2_000_000  # in one file: about 1 GB while parsing
MAX_BYTES = 512 * 2**20
MAX_ABS_COORD = 1e9  # level-0 pixels; no slide is a billion pixels wide
_RESERVED = {"objectType", "classification", "name", "isLocked", "color"}
_SKIPPED_TYPES = {"detection", "cell", "tile", "tma_core", "tmacore", "root"}
_GEOMETRY_DEPTH = {"Point": 0, "MultiPoint": 1, "LineString": 1, "MultiLineString": 2, "Polygon": 2,
                   "MultiPolygon": 3}


class AnnotationIOError(Exception):
    """An annotation file could not be read or written; the message names the file and the problem."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


@dataclass
class ImportResult:
    """What a GeoJSON file held: the annotations, the classes it named and what was repaired or skipped."""

    annotations: list[Annotation]
    classes: dict[str, tuple[int, int, int] | None] = field(default_factory=dict)
    repaired: list[str] = field(default_factory=list)
    skipped: int = 0
    foreign: dict[str, Any] = field(default_factory=dict)  # extra top-level members (ours: "her2viewer")


class _Problem(Exception):
    """Internal: a parse problem, turned into AnnotationIOError with the file name."""


# ---- reading --------------------------------------------------------------------------------------

def read_geojson(path: str | Path, *, repair: bool = True, max_vertices: int = MAX_VERTICES,
                 max_bytes: int = MAX_BYTES) -> ImportResult:
    """Parse a GeoJSON annotation file completely; raises AnnotationIOError naming the file and problem."""
    try:
        obj = read_json(path, "annotation file", max_bytes=max_bytes)
    except JSONFileError as e:
        raise AnnotationIOError(e.source, e.problem) from None
    return parse_geojson(obj, source=Path(path), repair=repair, max_vertices=max_vertices)


def parse_geojson_text(text: str, *, source: str | Path = "<text>", repair: bool = True,
                       max_vertices: int = MAX_VERTICES) -> ImportResult:
    """Parse GeoJSON text (see `read_geojson`)."""
    if too_many_vertices(text, max_vertices):
        raise AnnotationIOError(source, f"the file has more than {max_vertices:,} vertices in all; refusing to "
                                        "import it")
    try:
        obj = parse_json(text, source, "annotation file")
    except JSONFileError as e:
        raise AnnotationIOError(e.source, e.problem) from None
    return parse_geojson(obj, source=source, repair=repair, max_vertices=max_vertices)


def parse_geojson(obj: Any, *, source: str | Path = "<data>", repair: bool = True,
                  max_vertices: int = MAX_VERTICES) -> ImportResult:
    """Turn a decoded GeoJSON object into annotations, all or nothing."""
    try:
        features, foreign = _features_of(obj)
        out = ImportResult([], foreign=foreign)
        budget = [max_vertices, max_vertices]  # [left, cap]
        seen_ids: set[str] = set()
        for i, feat in enumerate(features):
            where = f"feature {i + 1}"
            try:
                ann = _parse_feature(feat, budget, out, repair, where)
            except _Problem as e:
                fid = feat.get("id") if isinstance(feat, dict) else None
                label = f"{where} (id {fid})" if isinstance(fid, (str, int)) and not isinstance(fid, bool) else where
                raise _Problem(f"{label}: {e}") from None
            if ann is None:
                continue
            if ann.id in seen_ids:
                ann.id = str(uuid.uuid4())
            seen_ids.add(ann.id)
            out.annotations.append(ann)
    except _Problem as e:
        raise AnnotationIOError(source, str(e)) from None
    return out


def import_geojson(path: str | Path, into: AnnotationSet, **kwargs: Any) -> ImportResult:
    """Read a file and add its annotations to `into` in one step (nothing is added when reading fails).

    Imported ids that already exist in `into` get fresh ids; new class names join `into.classes` with the
    file's colour (classes the user already has keep their colour).
    """
    res = read_geojson(path, **kwargs)
    for a in res.annotations:
        if a.id in into:
            a.id = str(uuid.uuid4())
    for name, color in res.classes.items():
        into.classes.ensure(name, color)
    into.extend(res.annotations)
    return res


def _features_of(obj: Any) -> tuple[list[Any], dict[str, Any]]:
    if isinstance(obj, list):
        return obj, {}
    if not isinstance(obj, dict):
        raise _Problem(f"expected a GeoJSON object or a list of features, found a JSON {type(obj).__name__}")
    typ = obj.get("type")
    if typ == "FeatureCollection":
        feats = obj.get("features")
        if not isinstance(feats, list):
            raise _Problem('a FeatureCollection needs a "features" list')
        return feats, {k: v for k, v in obj.items() if k not in ("type", "features")}
    if typ == "Feature":
        return [obj], {}
    if typ in _GEOMETRY_DEPTH:
        return [{"type": "Feature", "geometry": obj, "properties": {}}], {}
    raise _Problem(f"expected a FeatureCollection, a Feature or a list of features, found type {typ!r}")


def _parse_feature(feat: Any, budget: list[int], out: ImportResult, repair: bool,
                   where: str) -> Annotation | None:
    if not isinstance(feat, dict):
        raise _Problem(f"a feature must be a JSON object, found {type(feat).__name__}")
    if feat.get("type", "Feature") != "Feature":
        raise _Problem(f"expected type \"Feature\", found {feat.get('type')!r}")
    props = feat.get("properties") or {}
    if not isinstance(props, dict):
        raise _Problem('"properties" must be an object')
    obj_type = props.get("objectType", props.get("object_type", "annotation"))
    if isinstance(obj_type, str) and obj_type.lower() in _SKIPPED_TYPES:
        out.skipped += 1
        return None
    geom = _parse_geometry(feat.get("geometry"), budget)
    if not geom.is_valid:
        reason = shapely.is_valid_reason(geom)
        if not repair:
            raise _Problem(f"the {geom.geom_type} is not valid ({reason})")
        geom = _repair(geom)
        out.repaired.append(f"{where}: {reason}; repaired")
    cls_name, cls_color = _parse_classification(props.get("classification"))
    if cls_name is not None:
        if cls_name not in out.classes or out.classes[cls_name] is None:
            out.classes[cls_name] = cls_color
    name = props.get("name", "")
    if name is None:
        name = ""
    if not isinstance(name, str):
        raise _Problem('"name" must be a string')
    locked = props.get("isLocked", props.get("locked", False))
    if not isinstance(locked, bool):
        raise _Problem('"isLocked" must be true or false')
    color = _parse_color(props, "", packed=False)
    fid = feat.get("id")
    if isinstance(fid, bool) or not isinstance(fid, (str, int)) or fid in ("", "PathAnnotationObject"):
        fid = str(uuid.uuid4())
    if len(name) > MAX_TEXT or (cls_name is not None and len(cls_name) > 1000):
        raise _Problem("the name or class name is too long")
    extra = {k: v for k, v in props.items() if k not in _RESERVED}
    try:
        check_properties(extra)
    except PropertyProblem as e:
        raise _Problem(str(e)) from None
    return Annotation(str(fid), geom, cls_name, name, color, extra, locked)


def _parse_classification(c: Any) -> tuple[str | None, tuple[int, int, int] | None]:
    if c is None:
        return None, None
    if isinstance(c, str):
        return (c or None), None
    if not isinstance(c, dict):
        raise _Problem('"classification" must be an object with a "name"')
    name = c.get("name")
    if name is None:
        names = c.get("names")  # QuPath derived classes: {"names": ["Tumor", "Positive"]}
        if isinstance(names, list) and names and all(isinstance(n, str) for n in names):
            name = ": ".join(names)
    if not isinstance(name, str) or not name:
        raise _Problem('"classification" needs a non-empty string "name"')
    return name, _parse_color(c, "classification ", packed=True)


def _parse_color(obj: dict[str, Any], where: str, *, packed: bool) -> tuple[int, int, int] | None:
    """`obj["color"]` as [r, g, b], else (with `packed`) QuPath's `obj["colorRGB"]`, a packed signed ARGB
    integer; None when neither is given. `where` prefixes the member's name in the message."""
    if obj.get("color") is not None:
        try:
            return check_rgb(obj["color"])
        except ValueError as e:
            raise _Problem(f'{where}"color": {e}') from None
    v = obj.get("colorRGB") if packed else None
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or not -(2**31) <= v < 2**32:
        raise _Problem(f'{where}"colorRGB" must be a 32-bit integer')
    v &= 0xFFFFFF
    return (v >> 16) & 255, (v >> 8) & 255, v & 255


def _parse_geometry(g: Any, budget: list[int]) -> BaseGeometry:
    if not isinstance(g, dict):
        raise _Problem('"geometry" is missing or not an object')
    typ = g.get("type")
    if typ not in _GEOMETRY_DEPTH:
        raise _Problem(f"geometry type {typ!r} is not supported (use one of {', '.join(_GEOMETRY_DEPTH)})")
    if "coordinates" not in g:
        raise _Problem(f'the {typ} has no "coordinates"')
    coords = g["coordinates"]
    depth = _GEOMETRY_DEPTH[typ]
    if typ == "Point":
        return Point(_positions([coords], budget, typ)[0])
    if typ == "MultiPoint":
        return MultiPoint(_positions(_as_list(coords, typ), budget, typ))
    if typ == "LineString":
        return LineString(_line(coords, budget, typ))
    if typ == "MultiLineString":
        return MultiLineString([_line(c, budget, typ) for c in _as_list(coords, typ)])
    if typ == "Polygon":
        return _polygon(coords, budget, typ)
    assert depth == 3
    polys = [_polygon(c, budget, typ) for c in _as_list(coords, typ)]
    if not polys:
        raise _Problem("the MultiPolygon has no polygons")
    return MultiPolygon(polys)


def _as_list(v: Any, typ: str) -> list[Any]:
    if not isinstance(v, list):
        raise _Problem(f"the {typ}'s coordinates must be nested lists, found {type(v).__name__}")
    return v


def _positions(items: Any, budget: list[int], typ: str) -> np.ndarray:
    items = _as_list(items, typ)
    budget[0] -= len(items)
    if budget[0] < 0:
        raise _Problem(f"the file has more than {budget[1]:,} vertices in all; refusing to import it")
    if not items:
        raise _Problem(f"the {typ} has no coordinates")
    try:
        arr = np.array(items)
    except (ValueError, TypeError):
        raise _Problem(f"the {typ} has malformed coordinates (positions of different shapes)") from None
    if arr.ndim != 2 or arr.shape[1] not in (2, 3):
        raise _Problem(f"the {typ}'s positions must be [x, y] pairs of numbers")
    if arr.dtype.kind not in "iuf":
        raise _Problem(f"the {typ}'s coordinates must be numbers, found {arr.dtype.kind!r}-type values")
    arr = arr[:, :2].astype(np.float64)
    if not np.isfinite(arr).all() or (np.abs(arr) > MAX_ABS_COORD).any():
        raise _Problem(f"the {typ} has coordinates that are not finite or are beyond +-{MAX_ABS_COORD:g} px")
    return arr


def _line(coords: Any, budget: list[int], typ: str) -> np.ndarray:
    arr = _positions(coords, budget, typ)
    if len(arr) < 2:
        raise _Problem(f"a line in the {typ} has {len(arr)} point(s); it needs at least 2")
    return arr


def _polygon(rings: Any, budget: list[int], typ: str) -> Polygon:
    rings = _as_list(rings, typ)
    if not rings:
        raise _Problem(f"the {typ} has no rings")
    parsed = []
    for ring in rings:
        arr = _positions(ring, budget, typ)
        if not np.array_equal(arr[0], arr[-1]):
            arr = np.vstack([arr, arr[:1]])  # close an open ring, as QuPath does
        if len(arr) < 4 or len(np.unique(arr[:, 0] + 1j * arr[:, 1])) < 3:
            raise _Problem(f"a ring of the {typ} has fewer than 3 distinct points")
        parsed.append(arr)
    return Polygon(parsed[0], parsed[1:])


def _repair(geom: BaseGeometry) -> BaseGeometry:
    """make_valid, keeping the parts of the original dimension (a polygon stays polygonal)."""
    fixed = shapely.make_valid(geom)
    dim = {"Polygon": 2, "MultiPolygon": 2, "LineString": 1, "MultiLineString": 1}.get(geom.geom_type, 0)
    parts = [p for p in getattr(fixed, "geoms", [fixed]) if _dim(p) == dim]
    if dim == 2:
        polys = [q for p in parts for q in getattr(p, "geoms", [p])]
        fixed = polys[0] if len(polys) == 1 else MultiPolygon(polys) if polys else Polygon()
    elif len(parts) == 1:
        fixed = parts[0]
    if fixed.is_empty or not fixed.is_valid:
        raise _Problem(f"the {geom.geom_type} is not valid and could not be repaired")
    return fixed


def _dim(g: BaseGeometry) -> int:
    return {"Point": 0, "MultiPoint": 0, "LineString": 1, "LinearRing": 1, "MultiLineString": 1,
            "Polygon": 2, "MultiPolygon": 2}.get(g.geom_type, -1)


# ---- writing --------------------------------------------------------------------------------------

def to_feature(ann: Annotation, classes: ClassRegistry | None = None) -> dict[str, Any]:
    """One annotation as a QuPath-style GeoJSON Feature."""
    classes = classes or ClassRegistry()
    props: dict[str, Any] = {"objectType": "annotation"}
    if ann.name:
        props["name"] = ann.name
    if ann.cls is not None:
        props["classification"] = {"name": ann.cls, "color": list(classes.color(ann.cls))}
    if ann.color is not None:
        props["color"] = list(ann.color)
    props["isLocked"] = bool(ann.locked)
    for k, v in ann.properties.items():
        props.setdefault(k, finite_or_null(v))  # one bad value must not make every autosave fail
    return {"type": "Feature", "id": ann.id, "geometry": _plain(mapping(ann.geometry)), "properties": props}


def feature_collection(annotations: Iterable[Annotation], classes: ClassRegistry | None = None,
                       **foreign: Any) -> dict[str, Any]:
    """A FeatureCollection of the annotations (extra top-level members from `foreign`)."""
    return {"type": "FeatureCollection", "features": [to_feature(a, classes) for a in annotations], **foreign}


def write_geojson(path: str | Path, annotations: Iterable[Annotation], classes: ClassRegistry | None = None,
                  **foreign: Any) -> None:
    """Write the annotations as a QuPath-compatible FeatureCollection, atomically."""
    p = Path(path)
    try:
        text = json.dumps(feature_collection(annotations, classes, **foreign), allow_nan=False)
        atomic_write_text(p, text)
    except (OSError, ValueError, TypeError) as e:
        raise AnnotationIOError(p, f"cannot write the annotations ({e})") from e


def _plain(obj: Any) -> Any:
    """Tuples to lists, and whole-number floats to ints, for compact JSON."""
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, float) and math.isfinite(obj) and obj.is_integer() and abs(obj) < 2**53:
        return int(obj)
    return obj
