"""The KCS / max rule on hand-made probability arrays."""

from __future__ import annotations

import numpy as np
import pytest

from her2viewer.scoring.pss.protocol import kcs_decision, kcs_indices, kcs_scores_from_ranks, pss_confidence


def test_confidence_is_top1_minus_top2():
    p = np.array([[0.7, 0.2, 0.1, 0.0], [0.25, 0.25, 0.25, 0.25], [0.0, 0.4, 0.0, 0.6]])
    np.testing.assert_allclose(pss_confidence(p), [0.5, 0.0, 0.2])


def test_final_score_is_the_highest_in_the_kcs_not_the_majority():
    p = np.array([
        [0.90, 0.10, 0.00, 0.00],  # 0, conf .80
        [0.85, 0.15, 0.00, 0.00],  # 0, conf .70
        [0.00, 0.05, 0.20, 0.75],  # 3+, conf .55 -> in the KCS
        [0.80, 0.20, 0.00, 0.00],  # 0, conf .60
        [0.00, 0.00, 0.60, 0.40],  # 2+, conf .20 -> not selected
        [0.05, 0.00, 0.95, 0.00],  # 2+, conf .90
    ])
    d = kcs_decision(p, k=4)
    assert d.selected.tolist() == [True, True, False, True, False, True]  # conf .80 .70 .60 .90
    assert d.score == "2+"
    d5 = kcs_decision(p, k=5)
    assert d5.selected[2] and d5.score == "3+"
    np.testing.assert_allclose(d5.probabilities, p[d5.selected].mean(axis=0))
    assert d5.sample_scores == ["0", "0", "3+", "0", "2+", "2+"]


def test_ties_are_broken_by_sample_index():
    p = np.array([[0.6, 0.4, 0, 0], [0, 0, 0.6, 0.4], [0, 0, 0, 1.0], [0.4, 0.6, 0, 0]])
    # conf .2 .2 1.0 .2 -> k=2 keeps sample 2 and the earliest tie, sample 0
    d = kcs_decision(p, k=2)
    assert d.selected.tolist() == [True, False, True, False]
    assert kcs_indices(np.array([0.2, 0.2, 1.0, 0.2]), 3).tolist() == [2, 0, 1]


def test_k_larger_than_n_keeps_all_and_k_equal_one():
    p = np.array([[0.1, 0.7, 0.1, 0.1], [0.0, 0.0, 0.3, 0.7]])
    d = kcs_decision(p, k=10)
    assert d.selected.all() and d.score == "3+"
    d1 = kcs_decision(p, k=1)
    assert d1.selected.tolist() == [True, False] and d1.score == "1+"
    np.testing.assert_allclose(d1.probabilities, p[0])


def test_all_samples_identical():
    p = np.tile([0.1, 0.2, 0.6, 0.1], (7, 1))
    d = kcs_decision(p, k=5)
    assert d.selected.tolist() == [True] * 5 + [False] * 2
    assert d.score == "2+" and d.mean_confidence == pytest.approx(0.4)


def test_bad_input_is_refused():
    with pytest.raises(ValueError):
        kcs_decision(np.zeros((0, 4)), 5)
    with pytest.raises(ValueError):
        kcs_decision(np.zeros((3, 3)), 5)
    with pytest.raises(ValueError):
        kcs_decision(np.full((3, 4), 0.25), 0)


def test_vectorised_rank_rule_matches_the_scalar_rule():
    rng = np.random.default_rng(0)
    pool = rng.dirichlet(np.ones(4), size=30)
    conf = pss_confidence(pool)
    order = np.argsort(-conf, kind="stable")
    class_by_rank = pool.argmax(1)[order]
    rank_of = np.empty(30, int)
    rank_of[order] = np.arange(30)
    draws = rng.integers(0, 30, size=(50, 12))
    fast = kcs_scores_from_ranks(rank_of[draws], class_by_rank, 5)
    slow = [kcs_decision(pool[d], 5).score_index for d in draws]
    assert fast.tolist() == slow
