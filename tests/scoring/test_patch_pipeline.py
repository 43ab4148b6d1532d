"""The patch pipeline: count-vector aggregators (fit, predict, JSON round trip) and the "patch" scorer."""

from __future__ import annotations

import json

import numpy as np
import pytest

from her2viewer.models import checkpoint as ckpt_mod
from her2viewer.models.calibration import apply_temperature
from her2viewer.models.checkpoint import CheckpointError
from her2viewer.scoring.asco import SCORES4
from her2viewer.scoring.base import ScoreOptions, create_scorer
from her2viewer.scoring.patch.aggregate import AggregatorError, CountAggregator, count_vector, majority_vote
from her2viewer.scoring.patch.scorer import aggregator_path, expected_score
from her2viewer.scoring.patch.testing import TEST_PATCH_MODEL_NAME, make_test_patch_checkpoint
from her2viewer.scoring.result import validate_contract
from her2viewer.slide.array_source import ArraySlide
from her2viewer.slide.region import Region
from her2viewer.synth.core import generate_core

PATCH_CLASSES = [*SCORES4, "Stroma"]


def synthetic_counts(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Count vectors whose dominant HER2 patch class is the slide class, with stroma and noise."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 4
    alpha = np.ones((n, 5))
    alpha[np.arange(n), y] += 8.0
    alpha[:, 4] += 3.0
    return np.stack([rng.dirichlet(a) for a in alpha]), y


@pytest.mark.parametrize("kind", ["rf", "svm", "mlp", "vote"])
def test_aggregators_fit_and_predict(kind, tmp_path):
    X, y = synthetic_counts(80, 0)
    Xt, yt = synthetic_counts(40, 1)
    agg = CountAggregator(kind, list(SCORES4), PATCH_CLASSES).fit(X, y)
    p = agg.predict_proba(Xt)
    assert p.shape == (40, 4) and np.allclose(p.sum(1), 1.0)
    assert (agg.predict(Xt) == yt).mean() >= 0.85
    path = agg.save(tmp_path / f"{kind}.aggregator.json")
    doc = json.loads(path.read_text())  # plain JSON, nothing pickled
    assert doc["kind"] == kind and len(doc["X"]) == 80
    again = CountAggregator.load(path)
    np.testing.assert_allclose(again.predict_proba(Xt), p, atol=1e-9)
    assert again.sha256 == agg.sha256


def test_an_aggregator_calibration_tempers_its_probabilities_and_survives_a_reload(tmp_path):
    X, y = synthetic_counts(80, 0)
    Xt, _ = synthetic_counts(10, 1)
    agg = CountAggregator("rf", list(SCORES4), PATCH_CLASSES).fit(X, y)
    raw = agg.predict_proba(Xt)
    digest = agg.sha256
    agg.calibration = {"temperature": 5.0, "fitted_on": "test"}
    path = agg.save(tmp_path / "rf.aggregator.json")
    again = CountAggregator.load(path)
    assert again.temperature == 5.0 and again.sha256 == digest       # the digest names data and parameters only
    tempered = again.calibrated_proba(Xt)
    np.testing.assert_allclose(tempered, apply_temperature(raw, 5.0))
    assert (tempered.argmax(1) == raw.argmax(1)).all() and tempered.max(1).mean() < raw.max(1).mean()
    doc = json.loads(path.read_text())
    doc["calibration"]["temperature"] = -1
    path.write_text(json.dumps(doc))
    with pytest.raises(AggregatorError, match="rf.aggregator.json"):
        CountAggregator.load(path)


def test_aggregator_with_an_absent_class_keeps_all_columns():
    X, y = synthetic_counts(60, 2)
    keep = y != 2
    agg = CountAggregator("rf", list(SCORES4), PATCH_CLASSES).fit(X[keep], y[keep])
    p = agg.predict_proba(X[:4])
    assert p.shape == (4, 4) and np.all(p[:, 2] == 0)


def test_aggregator_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(AggregatorError, match="bad.json"):
        CountAggregator.load(bad)
    with pytest.raises(AggregatorError, match="two classes"):
        CountAggregator("svm", list(SCORES4), PATCH_CLASSES).fit(np.ones((3, 5)) / 5, [1, 1, 1])
    with pytest.raises(AggregatorError, match="unknown aggregator kind"):
        CountAggregator("xgboost", list(SCORES4), PATCH_CLASSES)


def test_count_vector_and_majority_vote():
    probs = np.eye(5)[[0, 3, 3, 4, 4, 4]]
    c = count_vector(probs, 5)
    np.testing.assert_allclose(c, [1 / 6, 0, 0, 2 / 6, 3 / 6])
    np.testing.assert_allclose(majority_vote(c, PATCH_CLASSES, SCORES4), [1 / 3, 0, 0, 2 / 3])
    np.testing.assert_allclose(majority_vote(np.array([0, 0, 0, 0, 1.0]), PATCH_CLASSES, SCORES4), [1, 0, 0, 0])
    e = expected_score(probs, PATCH_CLASSES)
    assert list(e[:3]) == [0, 3, 3] and np.isnan(e[3:]).all()


@pytest.mark.parametrize("kind", ["rf", "vote"])
def test_patch_scorer_meets_the_contract(kind, tmp_path):
    stem = make_test_patch_checkpoint(tmp_path / "tiny", aggregator="rf")
    src = ArraySlide(generate_core("1+", 0, diameter_px=600).image, mpp=0.5, name="core")
    scorer = create_scorer("patch", ScoreOptions(device="cpu", model_path=str(stem),
                                                 extra={"patch_aggregator": kind}))
    r = scorer.score_region(src, Region((0, 0, *src.dimensions), None, "slide"))
    validate_contract(r.to_dict())
    assert r.model.name == TEST_PATCH_MODEL_NAME and r.params["aggregator"] == kind
    n = sum(r.params["patch_counts"].values())
    heat = r.evidence.heatmaps[0]
    assert heat.name == "patch_score" and np.count_nonzero(~np.isnan(heat.values)) <= n
    assert n >= 2 and heat.l0_cell_size == pytest.approx(256.0)


def test_missing_aggregator_and_default_checkpoint_are_named(tmp_path, monkeypatch):
    stem = make_test_patch_checkpoint(tmp_path / "tiny", aggregator=None)
    with pytest.raises(CheckpointError, match=str(aggregator_path(stem, "svm").name)):
        create_scorer("patch", ScoreOptions(model_path=str(stem), extra={"patch_aggregator": "svm"}))
    assert create_scorer("patch", ScoreOptions(model_path=str(stem))).aggregator.kind == "vote"
    monkeypatch.setattr(ckpt_mod, "RESOURCES_MODELS", tmp_path / "models")
    with pytest.raises(CheckpointError, match="patch_default.safetensors"):
        create_scorer("patch", ScoreOptions())
