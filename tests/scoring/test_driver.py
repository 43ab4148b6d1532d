"""score_slide: TMA cores scored one by one and summarised as the highest core score; other images as
one tissue region."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from her2viewer.scoring.base import ScoreOptions
from her2viewer.scoring.driver import merge_heatmaps, score_slide
from her2viewer.scoring.pss.testing import make_test_checkpoint
from her2viewer.scoring.result import (
    Evidence,
    Heatmap,
    ModelInfo,
    PatchBox,
    SampleRecord,
    ScoreResult,
    validate_contract,
)
from her2viewer.slide import ArraySlide
from her2viewer.slide.region import Region, crop_region_mask
from her2viewer.tissue.regions import regions_for

#: the score each core of the fake TMA gets from the stub scorer
CORE_SCORES = {"A1": "0", "A2": "1+", "A3": "2+", "B1": "1+", "B2": "2+", "B3": "0"}


def _tma() -> ArraySlide:
    rng = np.random.default_rng(0)
    img = np.full((700, 1000, 3), 240, np.uint8)
    for r in range(2):
        for c in range(3):
            cv2.circle(img, (200 + 300 * c, 200 + 300 * r), 110, (150, 120, 100), -1)  # DAB-brown: passes the stain check
    img = np.clip(img.astype(int) + rng.integers(-30, 30, img.shape) * (img < 200), 0, 255).astype(np.uint8)
    return ArraySlide(img, mpp=0.5, name="tma")


class StubScorer:
    """Scores each region by its id (CORE_SCORES), with one sample and one patch box."""

    method = "stub"

    def __init__(self) -> None:
        self.regions: list[Region] = []

    def score_region(self, source, region, task=None):
        self.regions.append(region)
        s = CORE_SCORES.get(region.id, "1+")
        probs = {c: (0.7 if c == s else 0.1) for c in ("0", "1+", "2+", "3+")}
        x, y, w, h = region.l0_bbox
        return ScoreResult(slide="", method="stub", score=s, probabilities=probs, model=ModelInfo("stub", None),
                           confidence=0.6 if region.id != "B2" else 0.9,
                           samples=[SampleRecord(s, probs, 0.6, True)],
                           evidence=Evidence(patch_boxes=[PatchBox((x, y, 10, 10), 0, s)],
                                             heatmaps=[Heatmap("h", np.ones((4, 4), np.float32), (x, y), w / 4)]))


def test_tma_is_scored_core_by_core_and_summarised_by_the_highest_core():
    stub = StubScorer()
    res = score_slide(_tma(), "stub", ScoreOptions(n_samples=3, top_k=1, seed=4), scorer=stub)
    assert [c.id for c in res.cores] == ["A1", "A2", "A3", "B1", "B2", "B3"]
    assert [c.score for c in res.cores] == [CORE_SCORES[c.id] for c in res.cores]
    assert res.score == "2+" and "B2" in res.explanation  # two 2+ cores: the more confident one (B2)
    assert all(r.mask is not None and r.mask.mask.any() for r in stub.regions)
    assert [s.core_id for s in res.samples] == list(CORE_SCORES)
    assert [b.sample for b in res.evidence.patch_boxes] == list(range(6))  # index the slide's samples
    assert len(res.evidence.heatmaps) == 1 and res.evidence.heatmaps[0].values.shape[0] > 4
    assert res.params["scope"] == "tma" and res.params["seed"] == 4
    assert "N" not in res.params and "k" not in res.params  # PSS's own options: only on PSS results
    assert res.slide == "tma" and res.method == "stub" and res.elapsed_s > 0
    validate_contract(res.to_dict())


def test_single_core_image_is_one_tissue_region():
    img = _tma().read_region(0, 50, 50, 320, 320)
    kind, regions = regions_for(ArraySlide(img, mpp=0.5))
    assert kind == "slide" and len(regions) == 1
    x, y, w, h = regions[0].l0_bbox
    assert 20 <= x <= 60 and 180 <= w <= 260


def test_explicit_region_and_bad_scope():
    region = Region((0, 0, 100, 100), None, "mine")
    stub = StubScorer()
    # qc off: a 100 px box is too little tissue for the input checks (tests/qc cover those)
    res = score_slide(_tma(), "stub", ScoreOptions(qc=False), scope=region, scorer=stub)
    assert stub.regions == [region] and res.cores == [] and res.params["scope"] == "region"
    with pytest.raises(ValueError, match="unknown scope"):
        regions_for(_tma(), "everything")


def test_pss_end_to_end_on_a_tma(tmp_path):
    ckpt = make_test_checkpoint(tmp_path / "tiny")
    res = score_slide(_tma(), "pss", ScoreOptions(n_samples=3, top_k=2, device="cpu", model_path=str(ckpt)))
    assert len(res.cores) == 6 and len(res.samples) == 18
    order = ("0", "1+", "2+", "3+")
    assert res.score == max((c.score for c in res.cores), key=order.index)
    assert res.params["N"] == 3 and res.params["k"] == 2
    validate_contract(res.to_dict())


def test_crop_and_merge_helpers():
    from her2viewer.slide.region import RegionMask

    m = RegionMask(np.arange(100).reshape(10, 10) % 2 == 0, (0.0, 0.0), 10.0)
    c = crop_region_mask(m, (20, 30, 40, 20))
    assert c.l0_origin == (20.0, 30.0) and c.mask.shape == (2, 4)
    assert np.array_equal(c.mask, m.mask[3:5, 2:6])
    hs = [Heatmap("h", np.full((2, 2), 0.5, np.float32), (0, 0), 10), Heatmap("h", np.ones((2, 2), np.float32), (100, 0), 10)]
    (merged,) = merge_heatmaps(hs)
    assert merged.l0_cell_size == pytest.approx(2.5) and merged.values.shape == (8, 48)
    assert np.isnan(merged.values[0, 20])                                  # between the cores: clear
    assert merged.values[0, 0] == pytest.approx(0.5) and merged.values[-1, -1] == pytest.approx(1.0)


def _value_at(h: Heatmap, x: float, y: float) -> float:
    c, r = int((x - h.l0_origin[0]) // h.l0_cell_size), int((y - h.l0_origin[1]) // h.l0_cell_size)
    return float(h.values[r, c])


def test_merged_heatmap_keeps_each_core_at_its_own_origin_and_nan_clear():
    rng = np.random.default_rng(3)
    cores = []
    for i, (ox, oy) in enumerate([(13.0, 7.0), (517.3, 41.9), (260.7, 388.2)]):
        vals = rng.random((6, 5)).astype(np.float32)
        vals[i % 6, 0] = np.nan                                             # a cell with too few cells
        cores.append(Heatmap("membrane_hscore", vals, (ox, oy), 37.0))
    (merged,) = merge_heatmaps(cores)
    checked = 0
    for h in cores:
        for _ in range(300):
            r, c = rng.integers(0, 6), rng.integers(0, 5)
            # a point well inside the core's cell (an eighth of a cell from its edges)
            fx, fy = rng.uniform(0.15, 0.85, 2)
            x, y = h.l0_origin[0] + (c + fx) * 37.0, h.l0_origin[1] + (r + fy) * 37.0
            want, got = float(h.values[r, c]), _value_at(merged, x, y)
            if np.isnan(want):
                assert np.isnan(got)                                        # no evidence stays clear, not 0
            else:
                assert got == pytest.approx(want)
            checked += 1
    assert checked == 900


def test_patch_boxes_are_clipped_to_the_image():
    from her2viewer.scoring.driver import clip_boxes
    from her2viewer.scoring.result import PatchBox

    boxes = [PatchBox((-20, 10, 100, 100), 0, "2+"), PatchBox((950, 980, 100, 100), 1, "3+"),
             PatchBox((1100, 0, 50, 50), 2, "0"), PatchBox((10, 10, 50, 50), 3, "1+")]
    out = clip_boxes(boxes, 1024, 1024)
    assert [b.bbox for b in out] == [(0, 10, 80, 100), (950, 980, 74, 44), (10, 10, 50, 50)]
    assert all(0 <= b.bbox[0] and b.bbox[0] + b.bbox[2] <= 1024 and b.bbox[1] + b.bbox[3] <= 1024 for b in out)
