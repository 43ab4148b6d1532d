"""The region a training or comparison item is sampled from: the pixel size is resolved as before scoring,
and an image without tissue is still one sample."""

from __future__ import annotations

import numpy as np


def test_item_region_resolves_the_pixel_size_and_survives_glass():
    from her2viewer.slide import ArraySlide
    from her2viewer.synth.core import generate_core
    from training.data import item_region
    from training.items import Item

    core = ArraySlide(generate_core("2+", seed=3, diameter_px=800, mpp=0.5).image, name="core")
    region = item_region(core, Item("core.png", "2+", "P1", None, ""))
    assert core.mpp_source == "estimated" and 0.35 < core.mpp < 0.7 and region.id == "slide"
    glass = ArraySlide(np.full((300, 400, 3), 242, np.uint8), name="glass")
    r = item_region(glass, Item("glass.png", "0", "P2", None, ""))
    assert r.l0_bbox == (0, 0, 400, 300) and glass.mpp_source == "assumed"
