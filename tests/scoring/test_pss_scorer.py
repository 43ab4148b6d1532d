"""The PSS scorer with a tiny randomly initialised test checkpoint (its predictions mean nothing; the
tests check the plumbing: shapes, the KCS/max rule wiring, evidence, reproducibility, cancel)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from her2viewer.models.checkpoint import CheckpointError
from her2viewer.progress import Cancelled, Task
from her2viewer.scoring.base import ScoreOptions, create_scorer
from her2viewer.scoring.pss.protocol import kcs_decision
from her2viewer.scoring.pss.scorer import PSSScorer, model_path_for
from her2viewer.scoring.pss.testing import TEST_MODEL_NAME, make_test_checkpoint
from her2viewer.scoring.result import ScoreResult, validate_contract
from her2viewer.slide import ArraySlide
from her2viewer.slide.region import Region


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return make_test_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny")


def _disc_slide(size: int = 600) -> ArraySlide:
    rng = np.random.default_rng(0)
    img = np.full((size, size, 3), 242, np.uint8)
    cv2.circle(img, (size // 2, size // 2), size // 3, (150, 110, 160), -1)
    tissue = img < 200
    img = np.clip(img.astype(int) + rng.integers(-40, 40, img.shape) * tissue, 0, 255).astype(np.uint8)
    return ArraySlide(img, mpp=0.5, name="disc")


def _scorer(ckpt, **kw) -> PSSScorer:
    opts = ScoreOptions(n_samples=kw.pop("n", 7), top_k=kw.pop("k", 3), seed=kw.pop("seed", 1), device="cpu",
                        model_path=str(ckpt), extra=kw)
    return create_scorer("pss", opts)


def test_result_meets_the_contract_and_follows_the_kcs_rule(ckpt):
    src = _disc_slide()
    res = _scorer(ckpt).score_region(src, Region((0, 0, 600, 600), None, "A1"))
    d = res.to_dict()
    validate_contract(d)
    assert res.method == "pss" and res.model.name == TEST_MODEL_NAME and len(res.model.sha256) == 64
    assert len(res.samples) == 7 and sum(s.selected for s in res.samples) == 3
    assert all(s.core_id == "A1" for s in res.samples)
    probs = np.array([[s.probabilities[c] for c in ("0", "1+", "2+", "3+")] for s in res.samples])
    assert res.score == kcs_decision(probs, 3).score
    # evidence: full + half patch boxes of the 3 selected PSSs (2 + 1 each), scored, plus the heatmap
    assert len(res.evidence.patch_boxes) == 3 * 3
    sel = {i for i, s in enumerate(res.samples) if s.selected}
    assert {b.sample for b in res.evidence.patch_boxes} == sel
    assert all(b.score == res.samples[b.sample].score for b in res.evidence.patch_boxes)
    heat = res.evidence.heatmaps[0]
    assert heat.name == "pss_support" and heat.values.max() == pytest.approx(1.0)
    assert res.params["N"] == 7 and res.params["k"] == 3 and res.params["device"] == "cpu"
    again = ScoreResult.from_json(res.to_json())
    assert again.score == res.score and len(again.samples) == 7


def test_same_seed_same_samples_whatever_the_batch_size(ckpt):
    src = _disc_slide()
    region = Region((0, 0, 600, 600), None, "A1")
    a = _scorer(ckpt, batch_size=2).predict(src, region, 5).probabilities
    b = _scorer(ckpt, batch_size=10).predict(src, region, 5).probabilities
    c = _scorer(ckpt, batch_size=3).predict(src, region, 8).probabilities
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(c[:5], a, rtol=1e-5, atol=1e-6)  # a pool extends the first N
    other = _scorer(ckpt, seed=99).predict(src, region, 5).probabilities
    assert not np.allclose(other, a)


def test_progress_is_reported_and_cancel_stops(ckpt):
    src = _disc_slide()
    seen = []
    _scorer(ckpt, batch_size=2).score_region(src, Region((0, 0, 600, 600)), Task(lambda f, m: seen.append(f)))
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) >= 5
    calls = {"n": 0}

    def cancel_after_two() -> bool:
        calls["n"] += 1
        return calls["n"] > 2

    with pytest.raises(Cancelled):
        _scorer(ckpt).score_region(src, Region((0, 0, 600, 600)), Task(cancelled=cancel_after_two))


def test_missing_default_model_names_the_file(monkeypatch, tmp_path):
    import her2viewer.scoring.pss.scorer as mod

    monkeypatch.setattr(mod, "default_model_path", lambda method: tmp_path / "pss_default")
    with pytest.raises(CheckpointError, match=r"pss_default\.safetensors.*--model"):
        model_path_for(ScoreOptions())
