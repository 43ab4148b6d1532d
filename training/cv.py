"""Patient-wise splits: stratified group k-fold cross-validation and a held-out test split.

No patient ever appears on both sides of a split; every function asserts it before returning.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.model_selection import GroupKFold, StratifiedGroupKFold


class SplitError(ValueError):
    """A split cannot be made from these items (too few patients or classes)."""


def _check_disjoint(groups: np.ndarray, a: np.ndarray, b: np.ndarray) -> None:
    shared = set(groups[a].tolist()) & set(groups[b].tolist())
    assert not shared, f"patients on both sides of a split: {sorted(shared)[:5]}"


def _splitter(y: np.ndarray, n_splits: int, seed: int) -> StratifiedGroupKFold | GroupKFold:
    """Stratified group k-fold; plain shuffled group k-fold when no class has n_splits members (scikit-learn's
    stratified splitter refuses that, e.g. six images, one or two per class, and five folds)."""
    if np.bincount(y).max(initial=0) >= n_splits:
        return StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    return GroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)


def patient_folds(labels: Sequence[int], patients: Sequence[str], n_folds: int,
                  seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train_idx, val_idx) per fold, stratified by label and grouped by patient."""
    y = np.asarray(labels)
    g = np.asarray([str(p) for p in patients])
    n_groups = len(set(g.tolist()))
    if n_folds < 2:
        raise SplitError("cross-validation needs at least 2 folds")
    if n_groups < n_folds:
        raise SplitError(f"{n_folds} folds need at least {n_folds} patients; the data has {n_groups}")
    folds = []
    for tr, va in _splitter(y, n_folds, seed).split(np.zeros(len(y)), y, g):
        _check_disjoint(g, tr, va)
        folds.append((np.sort(tr), np.sort(va)))
    return folds


def holdout_split(labels: Sequence[int], patients: Sequence[str], fraction: float,
                  seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(keep_idx, held_idx): about `fraction` of the items, whole patients, stratified by label."""
    if not 0.0 < fraction < 1.0:
        raise SplitError(f"a held-out fraction must be in (0, 1), got {fraction}")
    y = np.asarray(labels)
    g = np.asarray([str(p) for p in patients])
    n_splits = max(2, int(round(1.0 / fraction)))
    if len(set(g.tolist())) < n_splits:
        raise SplitError(f"a {fraction:.0%} held-out split needs at least {n_splits} patients")
    keep, held = next(iter(_splitter(y, n_splits, seed).split(np.zeros(len(y)), y, g)))
    _check_disjoint(g, keep, held)
    return np.sort(keep), np.sort(held)
