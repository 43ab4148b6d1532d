"""Hostile GeoJSON: vertex caps before parsing, non-finite numbers, self-crossing polygons, pipes, deep nesting."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from her2viewer.annotations.geojson import AnnotationIOError, read_geojson
from tests.fuzz.corpus import big_polygon, geojson_cases, named_pipe


@pytest.mark.parametrize("name", sorted(geojson_cases()))
def test_each_case_reads_or_fails_naming_the_file(tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.geojson"
    path.write_text(json.dumps(geojson_cases()[name]))
    try:
        res = read_geojson(path)
    except AnnotationIOError as e:
        assert str(path) in str(e)
        assert name not in ("ok", "bowtie")
    else:
        assert name in ("ok", "bowtie", "list-top", "geometry-null") or res.annotations is not None


def test_self_crossing_polygon_is_repaired(tmp_path: Path) -> None:
    path = tmp_path / "bowtie.geojson"
    path.write_text(json.dumps(geojson_cases()["bowtie"]))
    res = read_geojson(path)
    assert res.repaired and res.annotations[0].geometry.is_valid


def test_vertex_cap_is_enforced_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "big.geojson"
    path.write_text(json.dumps(big_polygon(30_000)))
    t0 = time.monotonic()
    with pytest.raises(AnnotationIOError, match="vertices"):
        read_geojson(path, max_vertices=10_000)
    assert time.monotonic() - t0 < 2
    assert len(read_geojson(path).annotations) == 1


def test_named_pipe_is_refused(tmp_path: Path) -> None:
    with pytest.raises(AnnotationIOError, match="not a regular file"):
        read_geojson(named_pipe(tmp_path / "a.geojson"))


def test_very_deep_text_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "deep.geojson"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(AnnotationIOError) as err:
        read_geojson(path)
    assert str(path) in str(err.value)
