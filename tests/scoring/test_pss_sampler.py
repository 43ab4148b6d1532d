"""The PSS sampler: shapes, tissue-only sampling, resolution from the spec, reproducibility."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from her2viewer.scoring.pss.sampler import (
    CPU_SPEC,
    PAPER_SPEC,
    PSSSampler,
    PSSSpec,
    pss_to_tensor,
    quick_tissue_mask,
    sample_pss,
)
from her2viewer.slide import ArraySlide
from her2viewer.slide.region import Region, RegionMask

SPEC = PSSSpec(n_full=6, n_half=3, whole=True, patch_size=32, mpp=1.0, min_tissue_fraction=0.5)


def _half_white(size: int = 800, mpp: float | None = 0.5) -> ArraySlide:
    """Left half textured 'tissue', right half white glass."""
    rng = np.random.default_rng(1)
    img = np.full((size, size, 3), 255, np.uint8)
    img[:, : size // 2] = rng.integers(60, 190, size=(size, size // 2, 3), dtype=np.uint8)
    return ArraySlide(img, mpp=mpp)


def test_shapes_kinds_and_box_sizes():
    src = _half_white()
    arr, boxes = sample_pss(src, Region((0, 0, 800, 800)), SPEC, np.random.default_rng(0))
    assert arr.shape == (3 * 10, 32, 32) and arr.dtype == np.uint8
    assert [b.kind for b in boxes] == ["full"] * 6 + ["half"] * 3 + ["whole"]
    # 32 px at 1 um/px on a 0.5 um/px slide = 64 level-0 px; half patches twice that
    assert {b.bbox[2] for b in boxes if b.kind == "full"} == {64}
    assert {b.bbox[2] for b in boxes if b.kind == "half"} == {128}
    assert boxes[-1].bbox == (0, 0, 800, 800)


@pytest.mark.parametrize("max_canvas", [None, 1])
def test_patch_centres_lie_on_tissue_only(max_canvas):
    src = _half_white()
    kw = {} if max_canvas is None else {"max_canvas_pixels": max_canvas}  # 1: read patch by patch
    sampler = PSSSampler(src, Region((0, 0, 800, 800)), SPEC, **kw)
    for seed in range(5):
        arr, boxes = sampler.sample(np.random.default_rng(seed))
        for i, b in enumerate(boxes[:-1]):
            x, y, w, h = b.bbox
            assert x + w / 2 < 400, b
            patch = arr[3 * i:3 * i + 3]
            assert patch[:, 14:18, 14:18].mean() < 250  # the centre of every patch is tissue, not glass


def test_region_mask_restricts_sampling():
    src = _half_white()
    mask = np.zeros((25, 25), bool)
    mask[:12, :5] = True  # top-left corner only: x < 160, y < 384 (downsample 32)
    region = Region((0, 0, 800, 800), RegionMask(mask, (0.0, 0.0), 32.0))
    spec = PSSSpec(n_full=20, n_half=0, whole=False, patch_size=16, mpp=1.0, min_tissue_fraction=0.0)
    _, boxes = sample_pss(src, region, spec, 3)
    for b in boxes:
        cx, cy = b.bbox[0] + b.bbox[2] / 2, b.bbox[1] + b.bbox[3] / 2
        assert 0 <= cx <= 160 and 0 <= cy <= 384


def test_same_seed_same_pss_other_seed_other_pss():
    src = _half_white()
    sampler = PSSSampler(src, Region((0, 0, 800, 800)), SPEC)
    a1, b1 = sampler.sample(np.random.default_rng(7))
    a2, b2 = PSSSampler(src, Region((0, 0, 800, 800)), SPEC).sample(np.random.default_rng(7))
    a3, _ = sampler.sample(np.random.default_rng(8))
    assert np.array_equal(a1, a2) and [b.bbox for b in b1] == [b.bbox for b in b2]
    assert not np.array_equal(a1, a3)


def test_resolution_follows_the_spec_not_the_slide():
    fine = _half_white(800, mpp=0.25)
    _, boxes = sample_pss(fine, Region((0, 0, 800, 800)), SPEC, 0)
    assert {b.bbox[2] for b in boxes if b.kind == "full"} == {128}  # 32 px * 1.0 / 0.25


def test_slide_without_mpp_assumes_half_micron(caplog):
    src = _half_white(mpp=None)
    with caplog.at_level(logging.WARNING):
        _, boxes = sample_pss(src, Region((0, 0, 800, 800)), SPEC, 0)
    assert "assuming 0.50 um/px" in caplog.text
    assert {b.bbox[2] for b in boxes if b.kind == "full"} == {64}


def test_quick_tissue_mask_separates_glass_and_is_sane_on_all_tissue():
    img = np.full((40, 40, 3), 245, np.uint8)
    img[:, :20] = 120
    m = quick_tissue_mask(img)
    assert m[:, :18].all() and not m[:, 22:].any()
    assert quick_tissue_mask(np.full((40, 40, 3), 120, np.uint8)).all()
    assert not quick_tissue_mask(np.full((40, 40, 3), 250, np.uint8)).any()


def test_spec_defaults_round_trip_and_tensor():
    assert (PAPER_SPEC.patch_size, PAPER_SPEC.mpp, PAPER_SPEC.n_patches, PAPER_SPEC.channels) == (512, 0.5, 51, 153)
    assert (CPU_SPEC.patch_size, CPU_SPEC.mpp, CPU_SPEC.n_patches) == (256, 1.0, 51)
    assert PSSSpec.from_dict({**CPU_SPEC.to_dict(), "mean": [0.5] * 3}) == CPU_SPEC
    arr = np.full((2, 6, 4, 4), 255, np.uint8)
    t = pss_to_tensor(arr, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    assert tuple(t.shape) == (2, 6, 4, 4) and float(t.min()) == pytest.approx(2.0)
