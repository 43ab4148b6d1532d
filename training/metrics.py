"""Evaluation metrics for HER2 scoring: accuracy, macro F1, one-vs-rest AUC, confusion matrices,
the PSS paper's adjacent-class accuracies, 4-way and 3-way, and mean / sd over cross-validation folds.

Labels and predictions are class indices into `SCORES4` ("0", "1+", "2+", "3+") unless a metric says
otherwise. Adjacent-class accuracy (Yoruc Selcuk et al., "0 vs 1+", "1+ vs 2+", "2+ vs 3+") is defined
here as the plain accuracy on the cores whose TRUE label is one of the two classes: a 1+ core predicted
3+ counts as wrong for "0 vs 1+" and for "1+ vs 2+"; cores of the other classes are left out. It is
undefined (None) when no core of either class is present.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, roc_auc_score

from her2viewer.scoring.asco import SCORES3, SCORES4, to_3way

ADJACENT_PAIRS: tuple[tuple[int, int], ...] = ((0, 1), (1, 2), (2, 3))


def adjacent_accuracy(y_true: Sequence[int], y_pred: Sequence[int], a: int, b: int) -> float | None:
    """Accuracy on the cores whose true label is class a or b (None when there are none)."""
    t = np.asarray(y_true)
    p = np.asarray(y_pred)
    keep = (t == a) | (t == b)
    if not keep.any():
        return None
    return float(np.mean(t[keep] == p[keep]))


def ovr_auc(y_true: Sequence[int], probs: np.ndarray) -> dict[str, float | None]:
    """One-vs-rest ROC AUC per class and their macro mean over classes that are present (None if undefined)."""
    t = np.asarray(y_true)
    p = np.asarray(probs, dtype=np.float64)
    names = SCORES4 if p.shape[1] == 4 else SCORES3 if p.shape[1] == 3 else [str(c) for c in range(p.shape[1])]
    out: dict[str, float | None] = {}
    vals = []
    for c in range(p.shape[1]):
        pos = t == c
        if pos.all() or not pos.any():
            out[names[c]] = None
            continue
        v = float(roc_auc_score(pos.astype(int), p[:, c]))
        out[names[c]] = v
        vals.append(v)
    out["macro"] = float(np.mean(vals)) if vals else None
    return out


def to_3way_indices(labels4: Sequence[int], ish: Sequence[bool | None] | None = None) -> list[int]:
    """4-way class indices mapped to 3-way indices into SCORES3 (2+ is High only with positive ISH; -1 stays)."""
    ish = list(ish) if ish is not None else [None] * len(labels4)
    return [SCORES3.index(to_3way(SCORES4[int(c)], i)) if int(c) >= 0 else -1     # -1: no call stays none
            for c, i in zip(labels4, ish, strict=True)]


def probs_to_3way(probs4: np.ndarray) -> np.ndarray:
    """4-class probabilities summed into 0 / Low (1+ and 2+) / High (3+)."""
    p = np.asarray(probs4, dtype=np.float64)
    return np.stack([p[:, 0], p[:, 1] + p[:, 2], p[:, 3]], axis=1)


def class_metrics(y_true: Sequence[int], y_pred: Sequence[int], n_classes: int,
                  probs: np.ndarray | None = None, *, calls_given: bool = False) -> dict:
    """Accuracy, macro F1 and confusion over classes 0..n_classes-1 (a prediction of -1, no call, is wrong),
    and one-vs-rest AUC and ECE when probs are given (None values for an empty set). The ECE is that of the
    top-class probability, or with `calls_given` that of each prediction's own probability."""
    t = np.asarray(y_true, dtype=int)
    p = np.asarray(y_pred, dtype=int)
    labels = list(range(n_classes))
    out: dict = {
        "accuracy": float(accuracy_score(t, p)) if len(t) else None,
        "macro_f1": float(f1_score(t, p, labels=labels, average="macro", zero_division=0)) if len(t) else None,
        "confusion": confusion_matrix(t, p, labels=labels).tolist(),
    }
    if probs is not None and len(t):
        out["auc"] = ovr_auc(t, probs)
        pr = np.asarray(probs, dtype=np.float64)
        if pr.ndim == 2 and pr.shape[1] == n_classes:
            from .calibration import ece

            out["ece"] = ece(pr, t, calls=p if calls_given else None)
    return out


def classification_metrics(y_true: Sequence[int], y_pred: Sequence[int], probs: np.ndarray | None = None,
                           *, ish: Sequence[bool | None] | None = None) -> dict:
    """All metrics for one set of 4-way predictions: 4-way, adjacent-class and 3-way (3-way predictions of
    a 3-class model, recognised by 3 probability columns: its 3-way metrics, also under "3way")."""
    t = np.asarray(y_true, dtype=int)
    p = np.asarray(y_pred, dtype=int)
    if probs is not None and np.asarray(probs).ndim == 2 and np.asarray(probs).shape[1] == len(SCORES3):
        return three_way_metrics(t, p, np.asarray(probs))
    out: dict = {
        "n": int(len(t)),
        **class_metrics(t, p, len(SCORES4), probs),
        "adjacent": {f"{SCORES4[a]} vs {SCORES4[b]}": adjacent_accuracy(t, p, a, b) for a, b in ADJACENT_PAIRS},
    }
    out["3way"] = class_metrics(to_3way_indices(t, ish), to_3way_indices(p, ish), len(SCORES3),
                                probs_to_3way(probs) if probs is not None else None)
    return out


def three_way_metrics(y_true: Sequence[int], y_pred: Sequence[int], probs: np.ndarray | None = None) -> dict:
    """Metrics of a 3-class (0 / Low / High) model on 3-way labels; the same block also under "3way"."""
    block = class_metrics(y_true, y_pred, len(SCORES3), probs)
    return {"n": int(len(y_true)), "classes": list(SCORES3), **block, "3way": dict(block)}


def _flatten(d: dict, prefix: str = "") -> dict[str, float]:
    """Numeric leaves of a nested metrics dict as 'a.b.c' -> value (lists and None left out)."""
    flat: dict[str, float] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            flat.update(_flatten(v, key + "."))
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            flat[key] = float(v)
    return flat


def summarize_folds(per_fold: Sequence[dict]) -> dict[str, dict[str, float]]:
    """Mean and sample sd over folds of every numeric metric: {'accuracy': {'mean':..,'sd':..,'n':..}}."""
    flats = [_flatten(m) for m in per_fold]
    keys = sorted({k for f in flats for k in f})
    out: dict[str, dict[str, float]] = {}
    for k in keys:
        vals = [f[k] for f in flats if k in f and not math.isnan(f[k])]
        if not vals:
            continue
        sd = float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0
        out[k] = {"mean": float(np.mean(vals)), "sd": sd, "n": len(vals)}
    return out
