"""Temperature scaling: ECE / NLL, the fitted temperature undoes over-confidence, and scorers apply the
temperature their model card states (a bad one is refused by name)."""

from __future__ import annotations

import numpy as np
import pytest

from her2viewer.models.calibration import apply_temperature, temperature_of
from her2viewer.models.checkpoint import CheckpointError, ModelCard
from training.calibration import cross_validated_calibration, ece, fit_temperature, nll


def _overconfident(n: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Calibrated 4-class probabilities sharpened by T = 0.4, with labels drawn from the calibrated ones."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 1.0, (n, 4))
    true_p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    labels = np.array([rng.choice(4, p=p) for p in true_p])
    return apply_temperature(true_p, 0.4), labels


def test_temperature_undoes_overconfidence():
    probs, labels = _overconfident()
    t = fit_temperature(probs, labels)
    assert 2.0 < t < 3.2                                   # about 1 / 0.4
    fixed = apply_temperature(probs, t)
    assert ece(fixed, labels) < ece(probs, labels) and nll(fixed, labels) < nll(probs, labels)
    cv = cross_validated_calibration(probs, labels)
    assert cv["ece_after_cv"] < cv["ece_before"] and cv["n"] == 400


def test_apply_temperature_keeps_the_ranking_and_sums_to_one():
    p = np.array([[0.7, 0.2, 0.05, 0.05]])
    for t in (0.5, 1.0, 3.0):
        q = apply_temperature(p, t)
        assert q.sum() == pytest.approx(1.0) and q.argmax() == 0
    assert apply_temperature(p, 3.0)[0, 0] < 0.7 < apply_temperature(p, 0.5)[0, 0]
    assert ece(np.array([[1.0, 0, 0, 0]]), np.array([0])) == 0.0


def test_card_temperature():
    card = ModelCard("m", {"name": "x"})
    assert temperature_of(card) == 1.0
    card.extra["calibration"] = {"temperature": 1.7}
    assert temperature_of(card) == 1.7
    card.extra["calibration"] = {"temperature": -1}
    with pytest.raises(CheckpointError, match="my.json"):
        temperature_of(card, "my.json")



def test_an_image_without_a_call_shows_no_confidence_and_is_left_out():
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.9, 0.1]])
    assert ece(probs, np.array([0, 0, 1])) == pytest.approx(0.9 - 2 / 3)
    # the third image has no call (-1): the two called ones are right at 0.9
    assert ece(probs, np.array([0, 0, 1]), calls=np.array([0, 0, -1])) == pytest.approx(0.1)


def test_the_ece_of_a_calibrated_method_shrinks_with_n_and_is_zero_when_certain():
    from training.calibration import ece_if_calibrated

    assert ece_if_calibrated(np.ones(20)) == 0.0
    small, large = ece_if_calibrated(np.full(26, 0.6)), ece_if_calibrated(np.full(2600, 0.6), draws=200)
    assert 0.05 < small < 0.2 and large < 0.02      # sqrt(0.24 / 26) * sqrt(2 / pi) ~ 0.077


def test_how_often_a_calibrated_method_shows_a_measured_ece():
    from training.calibration import share_of_calibrated_at_least

    conf = np.full(26, 0.6)
    assert share_of_calibrated_at_least(conf, 0.0) == 1.0
    assert share_of_calibrated_at_least(conf, 0.05) > share_of_calibrated_at_least(conf, 0.3) >= 0.0
    assert share_of_calibrated_at_least(conf, 0.5) == 0.0    # 0.6 against 0.1 right: never by chance at n = 26
