"""TMA dearraying: every core found with the right grid label, gaps kept, single cores, speed."""

from __future__ import annotations

import math
import time

import cv2
import numpy as np
import pytest
from tissue_synth import glass, single_core, tma_image, touching_pair

from her2viewer.slide import ArraySlide
from her2viewer.slide.base import SlideBase
from her2viewer.tissue.tma import core_id, dearray, is_tma, row_label


def _check_against_truth(cores, truth, tol=0.04):
    found = {c.id: c for c in cores}
    assert sorted(found) == sorted(t.id for t in truth)
    for t in truth:
        c = found[t.id]
        tx, ty, tw, th = t.bbox
        x, y, w, h = c.l0_bbox
        for got, want, size in ((x, tx, tw), (y, ty, th), (w, tw, tw), (h, th, th)):
            assert abs(got - want) <= tol * size, (t.id, c.l0_bbox, t.bbox)
        assert math.hypot(c.l0_center[0] - t.cx, c.l0_center[1] - t.cy) < 0.05 * t.r
        assert c.l0_radius == pytest.approx(t.r, rel=0.08)


@pytest.mark.parametrize("seed,angle", [(0, 1.5), (5, -2.5), (7, 0.0)])
def test_dearray_grid_with_missing_core(seed, angle):
    img, truth = tma_image(rows=4, cols=5, missing=("B3",), angle_deg=angle, seed=seed)
    source = ArraySlide(img, mpp=1.0)
    cores = dearray(source)
    _check_against_truth(cores, truth)
    ids = [c.id for c in cores]
    assert "B3" not in ids and {"B2", "B4", "A3", "C3"} <= set(ids)
    b4 = next(c for c in cores if c.id == "B4")
    assert (b4.row, b4.col) == (1, 3)
    assert is_tma(source)


def test_dearray_missing_whole_column_and_row_keeps_numbering():
    missing = ("A2", "B2", "C2", "C4")
    img, truth = tma_image(rows=3, cols=4, missing=missing, seed=11)
    cores = dearray(ArraySlide(img, mpp=1.0))
    _check_against_truth(cores, truth)
    assert {c.id for c in cores} == {"A1", "A3", "A4", "B1", "B3", "B4", "C1", "C3"}


def test_expected_diameter_gives_same_cores():
    img, truth = tma_image(rows=3, cols=3, missing=(), diameter=400, seed=4)
    source = ArraySlide(img, mpp=0.5)
    cores = dearray(source, expected_diameter_um=200.0)
    _check_against_truth(cores, truth)


def test_broken_core_is_one_core():
    img, truth = tma_image(rows=2, cols=3, missing=(), seed=8)
    t = truth[4]  # B2: cut in two by a glass crack
    x0, x1 = int(t.cx - t.r - 5), int(t.cx + t.r + 5)
    img[int(t.cy) - 12:int(t.cy) + 12, x0:x1] = glass(24, x1 - x0, np.random.default_rng(0))
    cores = dearray(ArraySlide(img, mpp=1.0))
    assert sorted(c.id for c in cores) == sorted(x.id for x in truth)


def test_single_core_photograph():
    img, core = single_core(size=2000)
    source = ArraySlide(img, mpp=0.5)
    cores = dearray(source)
    assert len(cores) == 1 and cores[0].id == "A1" and (cores[0].row, cores[0].col) == (0, 0)
    _check_against_truth(cores, [core])
    assert not is_tma(source)


def test_core_filling_the_frame_is_one_core():
    img, core = single_core(size=1200)
    crop = img[150:1050, 150:1050]        # the core runs off every edge
    cores = dearray(ArraySlide(np.ascontiguousarray(crop)))
    assert [c.id for c in cores] == ["A1"]
    x, y, w, h = cores[0].l0_bbox
    assert w >= 0.95 * 900 and h >= 0.95 * 900


def test_empty_slide_has_no_cores():
    source = ArraySlide(glass(1000, 1400, np.random.default_rng(1)))
    assert dearray(source) == []
    assert not is_tma(source)


def test_non_round_tissue_is_not_a_tma():
    img = glass(1500, 2000, np.random.default_rng(2))
    img[300:1200, 200:1800] = (200, 170, 160)       # one big section of tissue
    img[300:1200, 1000:1010] = (243, 242, 238)
    assert not is_tma(ArraySlide(img, mpp=0.5))


def test_touching_cores_are_separate_cores():
    img, truth = tma_image(rows=2, cols=4, missing=(), pitch=380, diameter=400, jitter=5, seed=6)
    cores = dearray(ArraySlide(img, mpp=1.0))
    assert sorted(c.id for c in cores) == sorted(t.id for t in truth)
    img, _ = touching_pair()
    assert len(dearray(ArraySlide(img))) == 3


def test_labels():
    assert [row_label(i) for i in (0, 1, 25, 26, 27)] == ["A", "B", "Z", "AA", "AB"]
    assert core_id(1, 2) == "B3"


class _BigVirtualSlide(SlideBase):
    """A 30000 x 20000 TMA whose level 0 is never stored: pixels are upsampled from a 1/8 image."""

    def __init__(self, small: np.ndarray, ds_small: int = 8):
        super().__init__()
        self.path = "virtual-tma"
        self._small = small
        H, W = small.shape[0] * ds_small, small.shape[1] * ds_small
        self._ds_small = ds_small
        self._level_dims = tuple((W // d, H // d) for d in (1, 4, 16, 64))
        self._downsamples = (1.0, 4.0, 16.0, 64.0)
        self._cache = {2: cv2.resize(small, self._level_dims[2], interpolation=cv2.INTER_AREA),
                       3: cv2.resize(small, self._level_dims[3], interpolation=cv2.INTER_AREA)}
        self._mpp = 0.5

    def _read_level(self, level, lvl_x, lvl_y, w, h):
        if level in self._cache:
            return self._cache[level][lvl_y:lvl_y + h, lvl_x:lvl_x + w]
        f = self._ds_small / self._downsamples[level]
        sx, sy = int(lvl_x / f), int(lvl_y / f)
        crop = self._small[sy:sy + int(h / f) + 2, sx:sx + int(w / f) + 2]
        up = cv2.resize(crop, None, fx=f, fy=f, interpolation=cv2.INTER_LINEAR)
        out = np.full((h, w, 3), 255, np.uint8)
        hh, ww = min(h, up.shape[0]), min(w, up.shape[1])
        out[:hh, :ww] = up[:hh, :ww]
        return out


def test_dearray_big_tma_is_fast():
    # 12 x 18 cores of 0.6 mm at 0.5 um/px: 30000 x 20000 level-0 pixels, drawn at 1/8 scale
    small, truth = tma_image(rows=12, cols=18, diameter=150, pitch=200, jitter=8, margin=100,
                             missing=("C7", "H12"), seed=9)
    small = cv2.resize(small, (3750, 2500), interpolation=cv2.INTER_AREA)
    source = _BigVirtualSlide(small)
    assert source.dimensions == (30000, 20000)
    dearray(source)  # warm-up (imports)
    t0 = time.perf_counter()
    cores = dearray(source)
    elapsed = time.perf_counter() - t0
    assert len(cores) == 12 * 18 - 2
    assert "C7" not in {c.id for c in cores} and "L18" in {c.id for c in cores}
    assert elapsed < 2.0, elapsed
