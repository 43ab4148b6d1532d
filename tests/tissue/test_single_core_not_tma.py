"""Regression: a photographed single core is never a TMA, even when its tissue mask falls into fragments.

Before the fix, synth-1.1 core seed 1098 (label 2+, 1800 px: a core with a large empty centre) was cut by the
watershed into four round-ish pieces in a 2 x 2 "grid", so `score` in auto scope scored them as four cores.
"""

from __future__ import annotations

import pytest
from tissue_synth import tma_image

from her2viewer.scoring.driver import regions_for
from her2viewer.slide import ArraySlide
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
