"""Metrics on hand-made predictions."""

from __future__ import annotations

import numpy as np
import pytest

from training.metrics import (
    adjacent_accuracy,
    classification_metrics,
    ovr_auc,
    summarize_folds,
    to_3way_indices,
)


def test_accuracy_confusion_and_f1_on_hand_made_predictions():
    y = [0, 0, 1, 1, 2, 2, 3, 3]
    p = [0, 1, 1, 1, 2, 3, 3, 3]
    m = classification_metrics(y, p)
    assert m["accuracy"] == pytest.approx(6 / 8)
    assert m["confusion"] == [[1, 1, 0, 0], [0, 2, 0, 0], [0, 0, 1, 1], [0, 0, 0, 2]]
    # per-class F1: 0 -> 2/3, 1+ -> 0.8, 2+ -> 2/3, 3+ -> 0.8
    assert m["macro_f1"] == pytest.approx((2 / 3 + 0.8 + 2 / 3 + 0.8) / 4)


def test_adjacent_accuracy_is_accuracy_on_the_two_true_classes():
    y = [0, 0, 1, 1, 2, 2, 3, 3]
    p = [0, 1, 3, 1, 2, 3, 3, 0]
    assert adjacent_accuracy(y, p, 0, 1) == pytest.approx(2 / 4)   # 0->0 ok, 0->1 no, 1->3 no, 1->1 ok
    assert adjacent_accuracy(y, p, 1, 2) == pytest.approx(2 / 4)   # 1->3 no, 1->1, 2->2, 2->3 no
    assert adjacent_accuracy(y, p, 2, 3) == pytest.approx(2 / 4)
    assert adjacent_accuracy([0, 0], [0, 0], 2, 3) is None
    m = classification_metrics(y, p)
    assert set(m["adjacent"]) == {"0 vs 1+", "1+ vs 2+", "2+ vs 3+"}


def test_three_way_mapping_uses_ish_for_2plus():
    assert to_3way_indices([0, 1, 2, 3]) == [0, 1, 1, 2]
    assert to_3way_indices([2, 2], [True, False]) == [2, 1]
    m = classification_metrics([0, 1, 2, 3], [0, 2, 1, 3])  # 1+ <-> 2+ confusions are right in 3-way
    assert m["accuracy"] == pytest.approx(0.5)
    assert m["3way"]["accuracy"] == pytest.approx(1.0)


def test_auc_perfect_and_undefined_classes():
    y = [0, 1, 2, 3, 0, 1]
    probs = np.eye(4)[y] * 0.9 + 0.025
    auc = ovr_auc(y, probs)
    assert auc["macro"] == pytest.approx(1.0)
    auc2 = ovr_auc([0, 0, 1], np.array([[0.9, 0.1, 0, 0], [0.8, 0.2, 0, 0], [0.3, 0.7, 0, 0]]))
    assert auc2["2+"] is None and auc2["0"] == pytest.approx(1.0)


def test_mean_and_sd_over_folds():
    s = summarize_folds([{"accuracy": 0.8, "3way": {"accuracy": 0.9}}, {"accuracy": 0.6, "3way": {"accuracy": 1.0}}])
    assert s["accuracy"]["mean"] == pytest.approx(0.7)
    assert s["accuracy"]["sd"] == pytest.approx(np.std([0.8, 0.6], ddof=1))
    assert s["3way.accuracy"]["mean"] == pytest.approx(0.95)
