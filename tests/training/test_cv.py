"""Patient-wise splits never put one patient on both sides."""

from __future__ import annotations

import numpy as np
import pytest

from training.cv import SplitError, holdout_split, patient_folds


def _data(n_patients: int = 30, seed: int = 0):
    rng = np.random.default_rng(seed)
    labels, patients = [], []
    for p in range(n_patients):
        for _ in range(int(rng.integers(1, 5))):  # 1-4 cores per patient
            labels.append(int(rng.integers(4)))
            patients.append(f"P{p}")
    return labels, patients


@pytest.mark.parametrize("k", [2, 5])
def test_folds_never_split_a_patient_and_cover_everything(k):
    labels, patients = _data()
    folds = patient_folds(labels, patients, k, seed=3)
    assert len(folds) == k
    seen = np.concatenate([va for _, va in folds])
    assert sorted(seen.tolist()) == list(range(len(labels)))
    g = np.asarray(patients)
    for tr, va in folds:
        assert not set(g[tr]) & set(g[va])
        assert len(set(tr.tolist()) | set(va.tolist())) == len(labels)


def test_holdout_split_is_patient_wise_and_about_the_fraction():
    labels, patients = _data(60)
    keep, held = holdout_split(labels, patients, 0.2, seed=1)
    g = np.asarray(patients)
    assert not set(g[keep]) & set(g[held])
    assert 0.1 < len(held) / len(labels) < 0.3


def test_too_few_patients_is_a_clear_error():
    with pytest.raises(SplitError, match="at least 5 patients"):
        patient_folds([0, 1, 2], ["a", "b", "c"], 5)


def test_six_images_with_one_or_two_per_class_split_without_a_crash():
    # issue 19: `train --data SIX --finetune ...` raised scikit-learn's "n_splits=5 cannot be greater than the
    # number of members in each class"; a class-blind patient-wise split is made instead
    labels, patients = [0, 3, 2, 1, 3, 3], list("abcdef")
    keep, held = holdout_split(labels, patients, 0.2, seed=0)
    assert len(held) >= 1 and sorted([*keep, *held]) == list(range(6))
    folds = patient_folds(labels, patients, 5, seed=0)
    assert len(folds) == 5
    assert sorted(np.concatenate([va for _, va in folds]).tolist()) == list(range(6))
