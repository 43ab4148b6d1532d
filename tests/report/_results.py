"""Hand-built score results and slides for the report tests (no model needed)."""

from __future__ import annotations

import numpy as np

from her2viewer.scoring.asco import SCORES4, to_3way
from her2viewer.scoring.result import (
    CoreResult,
    Evidence,
    Heatmap,
    ModelInfo,
    PatchBox,
    SampleRecord,
    ScoreResult,
)
from her2viewer.slide import ArraySlide

SHA = "3f5a9c0e1b2d4f6a8c0e2b4d6f8a0c2e4b6d8f0a2c4e6b8d0f2a4c6e8b0d2f4a"


def probs_for(score: str, p: float = 0.7) -> dict[str, float]:
    """Probabilities with `p` on `score` and the rest spread evenly."""
    rest = (1.0 - p) / 3
    return {s: (p if s == score else rest) for s in SCORES4}


def tma_slide(rows: int = 5, cols: int = 8, core: int = 60, gap: int = 20) -> ArraySlide:
    """A small white image with brown-ish discs in a grid, like a TMA."""
    h, w = rows * (core + gap) + gap, cols * (core + gap) + gap
    img = np.full((h, w, 3), 245, np.uint8)
    yy, xx = np.mgrid[:h, :w]
    for r in range(rows):
        for c in range(cols):
            cy, cx = gap + r * (core + gap) + core / 2, gap + c * (core + gap) + core / 2
            disc = (yy - cy) ** 2 + (xx - cx) ** 2 < (core / 2) ** 2
            img[disc] = (150 + 10 * (c % 4), 110, 90)
    return ArraySlide(img, mpp=0.5, name="demo_tma.tiff")


def tma_result(rows: int = 5, cols: int = 8, core: int = 60, gap: int = 20) -> ScoreResult:
    """A PSS result with one CoreResult per grid core, 20 samples per core (5 selected)."""
    rng = np.random.default_rng(0)
    cores, samples, boxes = [], [], []
    for r in range(rows):
        for c in range(cols):
            cid = f"{chr(65 + r)}{c + 1}"
            score = SCORES4[(r + c) % 4]
            bbox = (gap + c * (core + gap), gap + r * (core + gap), core, core)
            cores.append(CoreResult(cid, bbox, score, to_3way(score), probs_for(score), confidence=0.6,
                                    n_samples=20))
            for i in range(20):
                s = score if i < 12 else SCORES4[rng.integers(4)]
                samples.append(SampleRecord(s, probs_for(s), float(rng.random()), selected=i < 5, core_id=cid))
            boxes.append(PatchBox((bbox[0] + 10, bbox[1] + 10, 16, 16), 0, score))
    return ScoreResult(slide="/data/demo_tma.tiff", method="pss", score="3+", probabilities=probs_for("3+", 0.55),
                       model=ModelInfo("pss-densenet201", SHA, "1.2.0"), confidence=0.61, samples=samples,
                       cores=cores, evidence=Evidence(patch_boxes=boxes), params={"N": 20, "k": 5, "seed": 0},
                       elapsed_s=12.3)


def rules_result() -> ScoreResult:
    """A rules-scorer result for a 2+ case, with its cell percentages and a heatmap (the scored region)."""
    cells = {"n": 5231, "pct_complete_strong": 3.1, "pct_complete_weak_moderate": 14.2,
             "pct_complete_faint": 6.0, "pct_incomplete_strong": 1.0, "pct_incomplete_weak_moderate": 8.0,
             "pct_incomplete_faint": 20.0, "pct_any_staining": 52.3, "pct_none": 47.7, "n_tumour": 5231,
             "h_score": 87.0}
    hm = Heatmap("hscore", np.full((4, 5), 0.3, np.float32), (40.0, 30.0), 60.0)
    return ScoreResult(slide="/data/case_17.svs", method="rules", score="2+", probabilities=probs_for("2+", 0.8),
                       model=ModelInfo("asco-cap-rules", None, "0.3"), confidence=0.8,
                       explanation="Complete membrane staining of at least weak-to-moderate intensity in 17.3% of "
                                   "tumour cells (> 10%), intense in only 3.1%.",
                       cells=cells, evidence=Evidence(heatmaps=[hm]), elapsed_s=3.0,
                       params={"mpp": 0.5, "profile": {"name": "lab A", "version": "2", "path": "/p/lab_a.json",
                                                       "faint": 0.07, "moderate": 0.2, "strong": 0.5,
                                                       "complete": 0.5, "positive_pct": 10.0}})
