"""Shape builders, hit testing and vertex editing in level-0 pixels."""

from __future__ import annotations

import pytest
from shapely.geometry import MultiPolygon, Point, box

from her2viewer.annotations import editing
from her2viewer.annotations.editing import ShapeError
from her2viewer.annotations.model import Annotation


def test_builders():
    assert editing.rectangle((10, 20), (0, 0)).equals(box(0, 0, 10, 20))
    with pytest.raises(ShapeError):
        editing.rectangle((0, 0), (0.5, 10))
    e = editing.ellipse((0, 0), (200, 100))
    assert e.area == pytest.approx(3.14159 * 100 * 50, rel=0.005)
    bowtie = editing.polygon([(0, 0), (10, 10), (10, 0), (0, 10)])      # crosses itself: repaired
    assert isinstance(bowtie, MultiPolygon) and bowtie.is_valid and bowtie.area == pytest.approx(50)
    with pytest.raises(ShapeError):
        editing.polygon([(0, 0), (10, 10), (0, 0)])
    stroke = editing.brush_stroke([(0, 0), (100, 0)], 5)
    assert stroke.area == pytest.approx(100 * 10 + 3.14159 * 25, rel=0.02)
    dot = editing.brush_stroke([(7, 7)], 5)
    assert dot.contains(Point(7, 7))


def test_hit_test_prefers_small_and_outlines():
    big = Annotation.create(box(0, 0, 1000, 1000))
    small = Annotation.create(box(100, 100, 200, 200))
    pt = Annotation.create(Point(500, 500))
    anns = [small, big, pt]
    assert editing.hit_test(anns, (150, 150), 3) is small
    assert editing.hit_test(anns, (400, 400), 3) is big
    assert editing.hit_test(anns, (502, 500), 3) is pt
    assert editing.hit_test(anns, (1100, 100), 3) is None
    assert editing.hit_test(anns, (1002, 100), 3) is big


def test_vertices_move_and_translate():
    g = box(0, 0, 10, 10)
    assert len(editing.vertices(g)) == 4
    ref = editing.nearest_vertex(g, (10.5, 10.2), 1.0)
    assert ref is not None and editing.nearest_vertex(g, (5, 5), 1.0) is None
    moved = editing.move_vertex(g, ref, (20, 20))
    assert Point(20, 20).distance(moved) < 1e-9 and moved.area > g.area
    assert editing.translate(g, 5, -5).equals(box(5, -5, 15, 5))
    assert editing.clip_to_slide(box(-10, -10, 10, 10), (100, 100)).equals(box(0, 0, 10, 10))
    with pytest.raises(ShapeError):
        editing.clip_to_slide(box(-10, -10, -5, -5), (100, 100))
