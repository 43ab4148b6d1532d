"""Card temperatures: the fit makes over-confident outputs honest under cross-validation, PSS's KCS rule is
replayed at each temperature, and the cards record what they were fitted on."""

from __future__ import annotations

import json

import numpy as np

from her2viewer.models.calibration import MAX_T, MIN_T, apply_temperature
from her2viewer.scoring.asco import SCORES4
from training.calibrate_cards import Scored, calls_at, cross_validate, fit_t
from training.calibration import ece


def _overconfident(n: int = 60, seed: int = 0) -> Scored:
    """Outputs right 50% of the time at ~97% confidence: sharpened versions of honest probabilities."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, n)
    honest = np.full((n, 4), 0.5 / 3)
    wrong = (labels + rng.integers(1, 4, n)) % 4
    call = np.where(rng.random(n) < 0.5, labels, wrong)
    honest[np.arange(n), call] = 0.5
    return Scored([f"i{i}" for i in range(n)], SCORES4, labels, apply_temperature(honest, 0.2), None)


def test_temperature_fixes_overconfidence_under_cross_validation():
    s = _overconfident(200)
    fig = cross_validate(s, folds=5)
    assert fig["ece_before"] > 0.3 and fig["ece_after_cv"] < 0.12
    assert fig["accuracy_after_cv"] == fig["accuracy_before"]          # argmax models keep their calls
    assert 3.0 < fig["temperature_all"] < 8.0                          # undoes the 0.2 sharpening (x5)
    assert fig["nll_after_cv"] < fig["nll_before"]


def test_pss_replays_the_kcs_rule_on_tempered_samples():
    rng = np.random.default_rng(1)
    samples = [apply_temperature(rng.dirichlet(np.ones(4), 20), 0.3) for _ in range(12)]
    s = Scored([f"i{i}" for i in range(12)], SCORES4, rng.integers(0, 4, 12), np.zeros((12, 4)), samples, top_k=5)
    calls1, p1 = calls_at(s, 1.0)
    calls3, p3 = calls_at(s, 3.0)
    assert p1.shape == (12, 4) and np.allclose(p1.sum(1), 1.0)
    assert p3.max(1).mean() < p1.max(1).mean()                         # flatter at T > 1
    t = fit_t(s, np.arange(12))
    assert MIN_T <= t <= MAX_T
    assert 0.0 <= ece(p3, s.labels, calls=calls3) <= 1.0


def test_bundled_cards_with_a_temperature_say_what_it_was_fitted_on():
    from her2viewer.models.calibration import temperature_of
    from her2viewer.models.checkpoint import default_model_path, read_card
    from training.calibrate_cards import MODELS

    for stem in MODELS:
        card = read_card(default_model_path(stem))
        cal = (card.extra or {}).get("calibration")
        if cal is None:
            continue
        assert temperature_of(card) == cal["temperature"]
        if "finetune_cv" in card.metrics:   # fine-tuned on real cases: T from that cross-validation's held-out folds
            assert "held-out predictions" in cal["fitted_on"] and card.training_data["train"]["licence"]
            assert {"ece_before", "ece_after", "ece_after_cv"} <= set(cal)
            continue
        assert "licence" in cal["fitted_on"] and cal["n"] >= 10 and "training.calibrate_cards" in cal["command"]
        assert {"ece_before", "ece_after_cv", "accuracy_before", "accuracy_after_cv"} <= set(cal)
        json.dumps(cal)


def test_bundled_patch_aggregators_with_a_temperature_say_what_it_was_fitted_on():
    from her2viewer.models.checkpoint import default_model_path
    from her2viewer.scoring.patch.aggregate import CountAggregator
    from her2viewer.scoring.patch.scorer import aggregator_path
    from training.calibrate_cards import PATCH_AGGREGATORS

    for kind in PATCH_AGGREGATORS.values():
        agg = CountAggregator.load(aggregator_path(default_model_path("patch"), kind))
        if agg.calibration is None:
            continue
        cal = agg.calibration
        assert agg.temperature == cal["temperature"] and MIN_T <= agg.temperature <= MAX_T
        assert "licence" in cal["fitted_on"] and cal["n"] >= 10 and "training.calibrate_cards" in cal["command"]
        assert cal["ece_after_cv"] < cal["ece_before"]


def test_a_fine_tuned_bundled_model_is_not_recalibrated_in_sample(tiny_cores, capsys):
    from training.calibrate_cards import main

    assert main(["--data", str(tiny_cores), "--models", "lowres", "--write"]) == 0
    out = capsys.readouterr().out
    assert "lowres" in out and "skipped: fine-tuned on labelled real images" in out and "wrote" not in out
