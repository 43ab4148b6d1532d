"""Tissue mask: covers tissue and not glass, splits touching pieces, copes with empty and real images."""

from __future__ import annotations

import numpy as np
import pytest
from tissue_synth import glass, single_core, tma_image, touching_pair

from her2viewer.slide import ArraySlide
from her2viewer.slide.region import RegionMask
from her2viewer.tissue.mask import split_touching, tissue_mask, tissueness


@pytest.fixture(scope="module")
def tma():
    img, truth = tma_image(seed=3)
    return ArraySlide(img, mpp=1.0), img, truth


def _disc_mask(shape, discs, scale=1.0):
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    out = np.zeros(shape, bool)
    for d in discs:
        out |= np.hypot(xx - d.cx * scale, yy - d.cy * scale) <= d.r * scale
    return out


def test_mask_covers_discs_not_glass(tma):
    source, img, truth = tma
    tm = tissue_mask(source)
    assert tm.mask.shape == (int(np.ceil(img.shape[0] / tm.downsample)), int(np.ceil(img.shape[1] / tm.downsample)))
    scale = 1.0 / tm.downsample
    ys, xs = np.mgrid[0:tm.mask.shape[0], 0:tm.mask.shape[1]]
    centres_l0 = ((xs + 0.5) / scale, (ys + 0.5) / scale)
    inner = np.zeros(tm.mask.shape, bool)
    outer = np.zeros(tm.mask.shape, bool)
    for d in truth:
        dist = np.hypot(centres_l0[0] - d.cx, centres_l0[1] - d.cy)
        inner |= dist <= 0.85 * d.r
        outer |= dist <= 1.15 * d.r
    assert tm.mask[inner].mean() > 0.99          # lumens inside cores are filled
    assert tm.mask[~outer].mean() < 0.002        # glass stays glass
    assert len(tm.regions) == len(truth)
    assert len(tm.polygons) == len(truth)
    # level-0 polygons and boxes agree with where the discs are
    for d in truth:
        hits = [p for p in tm.polygons if p.contains(_point(d.cx, d.cy))]
        assert len(hits) == 1
        assert hits[0].area == pytest.approx(np.pi * d.r**2, rel=0.12)
    assert tm.areas_um2() is not None and all(a > 0 for a in tm.areas_um2())


def _point(x, y):
    from shapely.geometry import Point

    return Point(x, y)


def test_labels_match_regions(tma):
    source, _, _ = tma
    tm = tissue_mask(source)
    assert tm.labels.max() == len(tm.regions)
    assert np.array_equal(tm.labels > 0, tm.mask)
    areas = [a for a in tm.areas_l0px]
    assert areas == sorted(areas, reverse=True)


def test_as_region_mask(tma):
    source, _, truth = tma
    tm = tissue_mask(source)
    rm = tm.as_region_mask()
    assert isinstance(rm, RegionMask)
    assert rm.l0_origin == (0, 0) and rm.downsample == tm.downsample
    d = truth[0]
    assert rm.fraction_in(d.cx - d.r / 3, d.cy - d.r / 3, d.r / 1.5, d.r / 1.5) > 0.99
    assert rm.fraction_in(0, 0, 150, 150) == 0.0


def test_watershed_splits_touching_discs():
    img, discs = touching_pair()
    tm = tissue_mask(ArraySlide(img, mpp=1.0))
    assert len(tm.regions) == 3
    # the two touching discs become two pieces split near x = midpoint of their centres
    a, b = discs[0], discs[1]
    split_x = (a.cx + b.cx) / 2
    boxes = sorted(tm.regions, key=lambda r: r[0])
    assert abs(boxes[0][0] + boxes[0][2] - split_x) < 0.1 * a.r
    assert abs(boxes[1][0] - split_x) < 0.1 * a.r


def test_watershed_keeps_irregular_piece_whole():
    # a thick L-shaped piece of tissue with no real neck stays one region
    mask = np.zeros((200, 200), bool)
    mask[20:180, 20:80] = True
    mask[120:180, 20:180] = True
    labels = split_touching(mask, min_area_px=16)
    assert labels.max() == 1
    # two squares joined by a thin bridge are split
    mask = np.zeros((100, 220), bool)
    mask[10:90, 10:90] = True
    mask[10:90, 130:210] = True
    mask[45:55, 90:130] = True
    assert split_touching(mask).max() == 2


def test_all_white_and_black_border_give_no_tissue():
    rng = np.random.default_rng(0)
    white = glass(1500, 2000, rng)
    tm = tissue_mask(ArraySlide(white, mpp=0.5))
    assert tm.empty and not tm.mask.any() and tm.polygons == [] and tm.regions == []
    assert tm.as_region_mask().mask.shape == tm.mask.shape
    bordered = white.copy()
    bordered[:, :60] = 5            # black scanner border
    bordered[:40, :] = 20
    tm = tissue_mask(ArraySlide(bordered, mpp=0.5))
    assert tm.empty
    pure = np.full((300, 400, 3), 255, np.uint8)
    assert tissue_mask(ArraySlide(pure)).empty


def test_tissueness_keeps_dark_brown_dab_and_drops_black_and_green_ink():
    img = np.full((40, 120, 3), 235, np.uint8)
    img[:, :40] = (45, 18, 5)       # the darkest 3+ DAB measured on real IHC: tissue
    img[:, 40:80] = (20, 20, 20)    # black pen or border: not tissue
    img[:, 80:] = (40, 120, 60)     # green pen ink: not tissue
    t = tissueness(img, blur_sigma=0)
    assert t[:, :40].min() > 200
    assert t[:, 40:].max() == 0


def test_single_core_image_is_mostly_tissue():
    img, core = single_core(size=2000)
    tm = tissue_mask(ArraySlide(img))
    assert len(tm.regions) == 1
    x, y, w, h = tm.regions[0]
    tx, ty, tw, th = core.bbox
    assert abs(x - tx) < 0.03 * tw and abs(w - tw) < 0.04 * tw and abs(h - th) < 0.04 * th


def test_tiny_image_does_not_crash():
    img = np.full((3, 5, 3), 240, np.uint8)
    img[1, 2] = (120, 80, 60)
    tm = tissue_mask(ArraySlide(img))
    assert tm.mask.shape == (3, 5)


@pytest.mark.shared
def test_real_wsi_has_some_tissue(shared_data):
    slide_mod = pytest.importorskip("her2viewer.slide")
    if not hasattr(slide_mod, "open_slide"):
        pytest.skip("open_slide is not there yet")
    with slide_mod.open_slide(shared_data / "wsi" / "CMU-1-Small-Region.svs") as s:
        tm = tissue_mask(s)
    frac = tm.tissue_fraction()
    assert 0.2 < frac < 0.8, frac
    assert tm.regions and tm.polygons[0].area > 0.1 * s.dimensions[0] * s.dimensions[1]


@pytest.mark.shared
def test_real_ihc_tiles_are_sensible(shared_data):
    import cv2

    files = sorted((shared_data / "real_dev").glob("*.png"))
    assert files
    for f in files:
        img = cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB)
        tm = tissue_mask(ArraySlide(img, mpp=0.5))
        # every tile is mostly tissue; the glass areas in some of them are left out
        assert 0.3 < tm.tissue_fraction() <= 1.0, (f.name, tm.tissue_fraction())
