"""GeoJSON: QuPath-style files import, round trips keep geometry and classes, hostile input imports nothing."""

from __future__ import annotations

import json

import pytest
from shapely.geometry import LineString, MultiPolygon, Point, Polygon, box

from her2viewer.annotations.geojson import AnnotationIOError, import_geojson, read_geojson, write_geojson
from her2viewer.annotations.model import Annotation, AnnotationSet

# What QuPath 0.4/0.5 "Export as GeoJSON" writes (FeatureCollection, UUID ids, classification with a colour
# array, per-object colour, isLocked), plus a detection that must be skipped.
QUPATH_05 = {
    "type": "FeatureCollection",
    "features": [
        {"type": "Feature", "id": "5d7e2a4c-1f0b-4c1e-9a8b-3f2d1e0c9b8a",
         "geometry": {"type": "Polygon", "coordinates": [[[1000, 1000], [3000, 1000], [3000, 2500],
                                                          [1000, 2500], [1000, 1000]]]},
         "properties": {"objectType": "annotation", "name": "invasive front",
                        "classification": {"name": "Tumor", "color": [200, 0, 0]}, "isLocked": False}},
        {"type": "Feature", "id": "0a1b2c3d-4e5f-4061-8728-394a5b6c7d8e",
         "geometry": {"type": "MultiPolygon", "coordinates": [
             [[[0, 0], [100, 0], [100, 100], [0, 100], [0, 0]], [[20, 20], [20, 40], [40, 40], [40, 20], [20, 20]]],
             [[[200, 200], [260, 200], [260, 260], [200, 200]]]]},
         "properties": {"objectType": "annotation", "classification": {"name": "HER2 3+", "color": [220, 20, 60]},
                        "color": [10, 20, 30], "isLocked": True, "measurements": {"Area um^2": 12.5}}},
        {"type": "Feature", "id": "e2c0b7f4-aaaa-4bbb-8ccc-123456789abc",
         "geometry": {"type": "Point", "coordinates": [512.5, 256.25]},
         "properties": {"objectType": "annotation"}},
        {"type": "Feature", "id": "f00dbabe-0000-4000-8000-000000000001",
         "geometry": {"type": "LineString", "coordinates": [[0, 0], [10, 10], [20, 5]]},
         "properties": {"objectType": "annotation", "classification": {"name": "Stroma", "color": [150, 200, 150]}}},
        {"type": "Feature", "id": "c0ffee00-0000-4000-8000-000000000002",
         "geometry": {"type": "Polygon", "coordinates": [[[5, 5], [9, 5], [9, 9], [5, 5]]]},
         "properties": {"objectType": "detection", "classification": {"name": "Positive", "color": [0, 0, 255]}}},
    ],
}

# QuPath 0.2/0.3: colorRGB (packed signed ARGB) and the id "PathAnnotationObject", as a bare list.
QUPATH_02_LIST = [
    {"type": "Feature", "id": "PathAnnotationObject",
     "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [50, 0], [50, 50], [0, 50], [0, 0]]]},
     "properties": {"classification": {"name": "Tumor", "colorRGB": -3670016}, "isLocked": False}},
]


def _write(tmp_path, obj, name="a.geojson"):
    p = tmp_path / name
    p.write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return p


def test_reads_qupath_05_export(tmp_path):
    res = read_geojson(_write(tmp_path, QUPATH_05))
    anns = res.annotations
    assert [a.kind for a in anns] == ["Polygon", "MultiPolygon", "Point", "LineString"]
    assert res.skipped == 1  # the detection
    tumour = anns[0]
    assert tumour.id == "5d7e2a4c-1f0b-4c1e-9a8b-3f2d1e0c9b8a" and tumour.cls == "Tumor"
    assert tumour.name == "invasive front" and tumour.area_px == 2000 * 1500
    assert res.classes["Tumor"] == (200, 0, 0)
    her2 = anns[1]
    assert her2.locked and her2.color == (10, 20, 30) and her2.cls == "HER2 3+"
    assert her2.geometry.area == pytest.approx(100 * 100 - 20 * 20 + 60 * 60 / 2)
    assert her2.properties["measurements"] == {"Area um^2": 12.5}
    assert anns[2].cls is None and anns[2].geometry.equals(Point(512.5, 256.25))


def test_reads_qupath_02_list_and_single_feature(tmp_path):
    res = read_geojson(_write(tmp_path, QUPATH_02_LIST))
    (a,) = res.annotations
    assert a.cls == "Tumor" and res.classes["Tumor"] == (200, 0, 0)  # -3670016 = 0xFFC80000
    assert a.id != "PathAnnotationObject"
    single = read_geojson(_write(tmp_path, QUPATH_05["features"][0], "one.json"))
    assert len(single.annotations) == 1


def test_round_trip_keeps_geometry_classes_and_ids(tmp_path):
    aset = AnnotationSet()
    aset.classes.set("HER2 2+", (1, 2, 3))
    geoms = [box(0.5, 0.25, 100.75, 50), Polygon([(0, 0), (10, 0), (10, 10), (0, 10)], [[(2, 2), (2, 4), (4, 4)]]),
             MultiPolygon([box(0, 0, 1, 1), box(5, 5, 6, 6)]), Point(3, 4), LineString([(0, 0), (7, 7)])]
    for i, g in enumerate(geoms):
        aset.add(Annotation(f"id-{i}", g, ["HER2 2+", "Tumour", None, "Ignore", "Stroma"][i], name=f"n{i}"))
    path = tmp_path / "out.geojson"
    write_geojson(path, aset, aset.classes)
    raw = json.loads(path.read_text())
    assert raw["type"] == "FeatureCollection"
    f0 = raw["features"][0]
    assert f0["properties"]["objectType"] == "annotation"
    assert f0["properties"]["classification"] == {"name": "HER2 2+", "color": [1, 2, 3]}
    back = AnnotationSet()
    res = import_geojson(path, back)
    assert back.ids() == aset.ids() and res.repaired == []
    for a, b in zip(aset, back, strict=True):
        assert b.geometry.equals(a.geometry) and b.cls == a.cls and b.name == a.name
    assert res.classes["HER2 2+"] == (1, 2, 3)
    assert back.classes.color("HER2 2+") == (255, 165, 0)  # the user's own class colour is kept


def test_self_intersection_is_repaired_and_reported(tmp_path):
    bowtie = {"type": "Feature", "geometry": {"type": "Polygon",
                                              "coordinates": [[[0, 0], [10, 10], [10, 0], [0, 10], [0, 0]]]},
              "properties": {"classification": {"name": "Tumour"}}}
    p = _write(tmp_path, [bowtie])
    res = read_geojson(p)
    assert res.annotations[0].geometry.is_valid and res.annotations[0].geometry.area == pytest.approx(50)
    assert "Self-intersection" in res.repaired[0]
    with pytest.raises(AnnotationIOError, match="not valid"):
        read_geojson(p, repair=False)


def _poly(coords):
    return {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": coords}, "properties": {}}


GOOD = _poly([[[0, 0], [5, 0], [5, 5], [0, 0]]])
HOSTILE = [
    ("not json {", "not valid JSON"),
    ('{"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": {"type": "Point", '
     '"coordinates": [NaN, 1]}}]}', "NaN"),
    (json.dumps({"type": "FeatureCollection", "features": [GOOD, _poly([[[0, 0], [float("inf"), 0]]])]}),
     "Infinity"),
    ("42", "found a JSON int"),
    ({"type": "Topology"}, "'Topology'"),
    ({"type": "FeatureCollection", "features": {"a": 1}}, '"features" list'),
    ({"type": "FeatureCollection", "features": [GOOD, "feature"]}, "feature 2: a feature must be"),
    ([GOOD, {"type": "Feature", "properties": {}}], "feature 2: \"geometry\" is missing"),
    ([GOOD, {"type": "Feature", "geometry": {"type": "Polygon"}}], 'has no "coordinates"'),
    ([GOOD, {"type": "Feature", "geometry": {"type": "GeometryCollection", "geometries": []}}],
     "'GeometryCollection' is not supported"),
    ([GOOD, _poly([[["0", 0], [1, 0], [1, 1], [0, 0]]])], "must be numbers"),
    ([GOOD, _poly([[[0, 0], [1, 0, 2, 3], [1, 1], [0, 0]]])], "malformed coordinates"),
    ([GOOD, _poly([[[0, 0], [1, 1], [0, 0]]])], "fewer than 3 distinct points"),
    ([GOOD, _poly([[[0, 0], [1e12, 0], [1, 1], [0, 0]]])], "beyond"),
    ([GOOD, _poly({"x": 1})], "nested lists"),
    ([GOOD, {"type": "Feature", "geometry": GOOD["geometry"], "properties": {"classification": 7}}],
     '"classification" must be an object'),
    ([GOOD, {"type": "Feature", "geometry": GOOD["geometry"],
             "properties": {"classification": {"name": "X", "color": [300, 0, 0]}}}], "three integers"),
    ("[" * 100000 + "]" * 100000, "not valid JSON"),
]


@pytest.mark.parametrize("content,message", HOSTILE)
def test_hostile_input_gives_a_clear_error_and_imports_nothing(tmp_path, content, message):
    p = _write(tmp_path, content)
    aset = AnnotationSet([Annotation("keep", box(0, 0, 1, 1))])
    with pytest.raises(AnnotationIOError) as ei:
        import_geojson(p, aset)
    assert str(p) in str(ei.value) and message in str(ei.value)
    assert aset.ids() == ["keep"]


def test_vertex_and_size_caps(tmp_path):
    ring = [[i, (i * 7) % 13] for i in range(2000)] + [[0, 0]]
    p = _write(tmp_path, [_poly([ring])] * 3)
    with pytest.raises(AnnotationIOError, match="more than 5,000 vertices"):
        read_geojson(p, max_vertices=5000)
    with pytest.raises(AnnotationIOError, match="MiB"):
        read_geojson(p, max_bytes=1000)
    with pytest.raises(AnnotationIOError, match="cannot read"):
        read_geojson(tmp_path / "missing.geojson")


def test_imported_ids_that_clash_get_fresh_ids(tmp_path):
    p = tmp_path / "x.geojson"
    write_geojson(p, [Annotation("same", box(0, 0, 2, 2), "Tumour")])
    aset = AnnotationSet([Annotation("same", box(5, 5, 6, 6))])
    import_geojson(p, aset)
    assert len(aset) == 2 and aset.ids()[0] == "same" and aset.ids()[1] != "same"
