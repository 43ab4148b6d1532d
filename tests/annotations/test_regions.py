"""Scoring regions from annotations: inside one annotation, tissue minus Ignore, rasterisation."""

from __future__ import annotations

import numpy as np
import pytest
from shapely.geometry import Point, Polygon, box

from her2viewer.annotations.model import Annotation
from her2viewer.annotations.regions import RegionError, annotation_region, scoring_region, tissue_minus_ignore
from her2viewer.slide.region import RegionMask
from her2viewer.tissue.regions import rasterize


def test_rasterize_pixel_centres_and_holes():
    donut = Polygon([(0, 0), (100, 0), (100, 100), (0, 100)], [[(40, 40), (60, 40), (60, 60), (40, 60)]])
    m = rasterize(donut, (0.0, 0.0), 10.0, (12, 12))
    assert m[:10, :10].sum() == 100 - 4         # the 2 x 2 hole pixels are off
    assert not m[4:6, 4:6].any() and not m[10:, :].any() and not m[:, 10:].any()
    edge = rasterize(box(0, 0, 15, 10), (0.0, 0.0), 10.0, (1, 3))   # pixel 1's centre (15, 5) is on the edge
    assert edge.tolist() == [[True, False, False]]


def test_annotation_region_cuts_out_ignore_and_follows_the_shape():
    tumour = Annotation.create(box(1000, 1000, 3000, 2000), "Tumour")
    ignore = Annotation.create(box(2000, 1000, 3000, 2000), "Ignore")
    r = annotation_region(tumour, (5000, 4000), annotations=[tumour, ignore])
    assert r.l0_bbox == (1000, 1000, 1000, 1000)
    assert r.mask.mask.all()
    assert r.mask.fraction_in(1000, 1000, 1000, 1000) == pytest.approx(1.0)
    assert r.mask.fraction_in(2100, 1100, 100, 100) == 0.0
    tri = Annotation.create(Polygon([(0, 0), (4000, 0), (0, 4000)]), "Tumour")
    rt = annotation_region(tri, (5000, 5000), max_side=400)
    assert rt.mask.downsample == pytest.approx(10.0)
    assert rt.mask.mask.mean() == pytest.approx(0.5, abs=0.01)
    pts = rt.mask.l0_points()
    assert (pts.sum(axis=1) < 4000).all()        # every on pixel lies inside the triangle


def test_annotation_region_limited_to_tissue_and_errors():
    tissue = RegionMask(np.zeros((100, 100), bool), (0.0, 0.0), 10.0)
    tissue.mask[:, :50] = True                   # left half of a 1000 x 1000 slide
    ann = Annotation.create(box(200, 200, 800, 400), "Tumour")
    r = annotation_region(ann, (1000, 1000), tissue=tissue)
    assert r.mask.fraction_in(200, 200, 300, 200) == pytest.approx(1.0)
    assert r.mask.fraction_in(500, 200, 300, 200) == 0.0
    with pytest.raises(RegionError, match="no tissue"):
        annotation_region(Annotation.create(box(600, 0, 900, 100)), (1000, 1000), tissue=tissue)
    with pytest.raises(RegionError, match="area annotation"):
        annotation_region(Annotation.create(Point(5, 5)), (1000, 1000))
    with pytest.raises(RegionError, match="Ignore"):
        annotation_region(ann, (1000, 1000), annotations=[Annotation.create(box(0, 0, 1000, 1000), "Ignore")])


def test_tissue_minus_ignore_and_scoring_region_on_a_slide():
    from her2viewer.slide import ArraySlide

    tissue = RegionMask(np.ones((50, 80), bool), (0.0, 0.0), 10.0)
    ign = Annotation.create(box(0, 0, 400, 500), "Ignore")
    other = Annotation.create(box(400, 0, 800, 500), "Stroma")      # not Ignore: stays
    r = tissue_minus_ignore(tissue, [ign, other])
    assert r.l0_bbox == (400, 0, 400, 500)
    assert r.mask.mask.all() and r.mask.l0_origin == (400.0, 0.0)
    with pytest.raises(RegionError):
        tissue_minus_ignore(tissue, [Annotation.create(box(-10, -10, 900, 600), "Ignore")])
    img = np.full((600, 800, 3), 240, np.uint8)
    img[100:500, 100:700] = (150, 90, 60)        # a block of "tissue"
    slide = ArraySlide(img, mpp=0.5)
    whole = scoring_region(slide, [])
    x, y, w, h = whole.l0_bbox
    assert 80 <= x <= 120 and 80 <= y <= 120 and 560 <= w <= 640
    cut = scoring_region(slide, [Annotation.create(box(0, 0, 400, 600), "Ignore")])
    assert cut.l0_bbox[0] >= 390
    inside = scoring_region(slide, [], within=Annotation.create(box(0, 0, 300, 300), "Tumour"))
    assert inside.mask.fraction_in(150, 150, 100, 100) > 0.9 and inside.mask.fraction_in(0, 0, 90, 90) == 0.0
