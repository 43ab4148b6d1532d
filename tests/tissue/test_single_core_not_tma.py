"""Regression: a photographed single core is never a TMA, even when its tissue mask falls into fragments.

Before the fix, synth-1.1 core seed 1098 (label 2+, 1800 px: a core with a large empty centre) was cut by the
watershed into four round-ish pieces in a 2 x 2 "grid", so `score` in auto scope scored them as four cores.
"""

from __future__ import annotations

import pytest
from tissue_synth import tma_image

from her2viewer.slide import ArraySlide
from her2viewer.tissue.regions import regions_for
from her2viewer.tissue.tma import dearray, is_tma

core_mod = pytest.importorskip("her2viewer.synth.core")

# (label, seed, diameter): seed 1098 at 1800 px is the core that was split into a 2 x 2 "TMA"
CASES = [("2+", 1098, 1800), ("0", 1, 1200), ("1+", 2, 1400), ("2+", 3, 1600), ("3+", 4, 2000),
         ("0", 1096, 1800), ("1+", 1097, 1800), ("3+", 1099, 1200), ("2+", 7, 1300), ("3+", 8, 1500),
         ("1+", 9, 1700), ("0", 10, 1900)]


@pytest.mark.parametrize("label,seed,diameter", CASES)
def test_synthetic_single_core_is_one_region(label, seed, diameter):
    core = core_mod.generate_core(label, seed, diameter_px=diameter)
    source = ArraySlide(core.image, mpp=0.5, name=f"core-{seed}")
    assert not is_tma(source)
    kind, regions = regions_for(source, "auto")
    assert kind == "slide" and len(regions) == 1
    x, y, w, h = regions[0].l0_bbox
    assert min(w, h) >= 0.8 * diameter  # the whole core, not a fragment


def test_two_by_two_tma_of_touching_cores_is_still_a_tma():
    # the tightest grid: a 2 x 2 TMA whose cores touch fills its hull almost like one round core
    img, truth = tma_image(rows=2, cols=2, missing=(), pitch=400, diameter=400, jitter=5, margin=100, seed=0)
    source = ArraySlide(img, mpp=1.0)
    assert is_tma(source)
    kind, regions = regions_for(source, "auto")
    assert kind == "tma" and sorted(r.id for r in regions) == ["A1", "A2", "B1", "B2"]
    assert len(dearray(source)) == len(truth)


def test_synthetic_tma_is_still_a_tma():
    img, truth = tma_image(rows=3, cols=4, missing=("B2",), seed=3)
    source = ArraySlide(img, mpp=1.0)
    assert is_tma(source)
    kind, regions = regions_for(source, "auto")
    assert kind == "tma" and sorted(r.id for r in regions) == sorted(t.id for t in truth)


def test_overlapping_blobs_cut_by_the_border_are_not_a_tma():
    """A single field of fat lobules or tissue islands whose round blobs overlap and run off the image's
    edges (real BCI fields were dearrayed as 3-5 "cores") is one field, not a TMA."""
    import cv2
    import numpy as np

    from her2viewer.tissue.tma import Core, cores_stand_apart

    img = np.full((1000, 1000, 3), 240, np.uint8)
    for (x, y), r in (((160, 220), 215), ((240, 770), 310), ((590, 370), 290), ((940, 220), 180)):
        cv2.circle(img, (x, y), r, (150, 120, 100), -1)
    assert not is_tma(ArraySlide(img, mpp=1.0))

    def core(x, y, r):
        return Core("A1", 0, 0, (int(x - r), int(y - r), int(2 * r), int(2 * r)), (float(x), float(y)), float(r))

    apart = [core(200, 200, 100), core(500, 200, 100), core(200, 500, 100), core(500, 500, 100)]
    assert cores_stand_apart(apart, (700, 700))
    assert not cores_stand_apart(apart[:3] + [core(300, 300, 100)], (700, 700))           # overlap
    assert not cores_stand_apart([core(20, 20, 100), core(680, 20, 100), core(350, 350, 100)], (700, 700))
