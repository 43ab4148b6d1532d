"""How often a rules call is right on real slides, as the confidence of the call.

The bootstrap (`decision.bootstrap_probabilities`) says how stable a call is on the cells that were measured:
0.99 when the cells sit far from every cut-off. It cannot say whether the cells were the right ones, or whether
the lab's stain reads like the one the cut-offs were set on; on real IHC a 0.99 call was right about half the
time. A stain profile may therefore carry the measured **call precision** of its cut-offs on labelled real
images: a 4 x 4 matrix whose row for a call is the distribution of the labels of the images given that call
(counts plus a weak prior that puts most weight on the call and a little on its neighbours). The scorer's
probabilities are the bootstrap's passed through it, `p(label) = sum over calls of p_boot(call) x
M[call, label]`, so a "1+" that the profile's images showed to be right 43% of the time reads about 0.43.
The call itself is still the ASCO/CAP table on the measured cells.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ...models.calibration import ece
from ..asco import SCORES4

#: pseudo-images of the prior per call (the prior row: 0.6 on the call, 0.2 on each neighbour, renormalised)
PRIOR_WEIGHT = 2.0
METHOD = "call-precision"


def prior_row(call: int) -> np.ndarray:
    """The prior distribution of labels for a call: mostly the call, a little each neighbour."""
    row = np.zeros(len(SCORES4))
    row[call] = 0.6
    for n in (call - 1, call + 1):
        if 0 <= n < len(SCORES4):
            row[n] = 0.2
    return row / row.sum()


def label_counts(calls: Sequence[str], labels: Sequence[str]) -> np.ndarray:
    """4 x 4 counts: rows the call, columns the label (pairs with a call that is not a score are skipped)."""
    counts = np.zeros((len(SCORES4), len(SCORES4)))
    for c, y in zip(calls, labels, strict=True):
        if c in SCORES4 and y in SCORES4:
            counts[SCORES4.index(c), SCORES4.index(y)] += 1
    return counts


def fit_call_precision(calls: Sequence[str], labels: Sequence[str], prior_weight: float = PRIOR_WEIGHT
                       ) -> np.ndarray:
    """The call-precision matrix (rows: call 0..3+, each a distribution over the labels) from calls and labels."""
    counts = label_counts(calls, labels)
    m = counts + prior_weight * np.stack([prior_row(i) for i in range(len(SCORES4))])
    return m / m.sum(1, keepdims=True)


def apply_call_precision(probs: dict[str, float], matrix: np.ndarray) -> dict[str, float]:
    """Bootstrap probabilities of the four scores passed through a call-precision matrix."""
    p = np.array([float(probs.get(s, 0.0)) for s in SCORES4])
    q = p @ np.asarray(matrix, np.float64)
    q = q / q.sum() if q.sum() > 0 else np.full(len(SCORES4), 1.0 / len(SCORES4))
    return {s: float(v) for s, v in zip(SCORES4, q, strict=True)}


def matrix_from(value: Any, where: str) -> np.ndarray:
    """A call-precision matrix read from JSON; ValueError naming `where` unless 4 x 4 rows of probabilities."""
    try:
        m = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: must be a 4 x 4 array of numbers") from None
    if m.shape != (len(SCORES4), len(SCORES4)) or not np.isfinite(m).all() or (m < 0).any():
        raise ValueError(f"{where}: must be a 4 x 4 array of non-negative numbers, got shape {m.shape}")
    if not np.allclose(m.sum(1), 1.0, atol=1e-3):
        raise ValueError(f"{where}: each row must sum to 1 (a distribution of labels for that call)")
    return m


def leave_one_out_precision(calls: Sequence[str | None], labels: Sequence[str],
                            boot: Sequence[dict[str, float] | None]) -> list[dict[str, float] | None]:
    """Each image's bootstrap probabilities passed through a call precision fitted on all the other images
    (None where it has none)."""
    c = [x or "" for x in calls]
    return [None if not b else apply_call_precision(b, fit_call_precision(c[:i] + c[i + 1:], labels[:i] + labels[i + 1:]))
            for i, b in enumerate(boot)]


def _ece(probs: Sequence[dict[str, float]], calls: Sequence[str], labels: Sequence[str]) -> float:
    """ECE of the confidence of each call (the call's own probability)."""
    p = np.array([[d.get(s, 0.0) for s in SCORES4] for d in probs])
    return ece(p, np.array([SCORES4.index(y) for y in labels]), calls=np.array([SCORES4.index(c) for c in calls]))


def call_precision_section(calls: Sequence[str], labels: Sequence[str], boot: Sequence[dict[str, float] | None],
                           fitted_on: str, data_licence: str = "", command: str = "") -> dict[str, Any]:
    """The profile's `confidence` entry: the matrix fitted on every scored image, and how honest the confidence
    was before (bootstrap) and after (each image through a matrix fitted on the others: leave-one-out)."""
    keep = [i for i, (c, y, b) in enumerate(zip(calls, labels, boot, strict=True))
            if c in SCORES4 and y in SCORES4 and b is not None]
    c = [calls[i] for i in keep]
    y = [labels[i] for i in keep]
    b = [boot[i] for i in keep]
    loo = leave_one_out_precision(c, y, b)
    acc = float(np.mean([a == t for a, t in zip(c, y, strict=True)])) if c else 0.0
    return {
        "method": METHOD,
        "matrix": np.round(fit_call_precision(c, y), 4).tolist(),
        "counts_rows_call_cols_label": label_counts(c, y).astype(int).tolist(),
        "prior_weight": PRIOR_WEIGHT,
        "n": len(c),
        "accuracy": round(acc, 4),
        "mean_confidence_bootstrap": round(float(np.mean([d[k] for d, k in zip(b, c, strict=True)])), 4) if c else 0.0,
        "ece_bootstrap": round(_ece(b, c, y), 4) if c else 0.0,
        "mean_confidence_calibrated_loo": round(float(np.mean([d[k] for d, k in zip(loo, c, strict=True)])), 4)
        if c else 0.0,
        "ece_calibrated_loo": round(_ece(loo, c, y), 4) if c else 0.0,
        "fitted_on": fitted_on,
        "data_licence": data_licence,
        **({"command": command} if command else {}),
    }


def confidence_summary(section: dict[str, Any] | None) -> str:
    """One line on how honest the calls' confidence is, before and after the call precision."""
    if not section:
        return "Confidence: no assessable image, so the bootstrap alone (no call precision)."
    c = section
    return (f"Confidence of the calls (leave-one-out, {c['n']} assessable, accuracy {c['accuracy']:.1%}): "
            f"bootstrap alone mean {c['mean_confidence_bootstrap']:.2f}, ECE {c['ece_bootstrap']:.3f}; "
            f"with the call precision mean {c['mean_confidence_calibrated_loo']:.2f}, "
            f"ECE {c['ece_calibrated_loo']:.3f}")
