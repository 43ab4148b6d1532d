"""From per-cell membrane measurements to intensity classes, the ASCO/CAP score and honest probabilities.

There is no model, so the class probabilities measure how stable the decision is: the tumour cells are
resampled with replacement (bootstrap) and, in each resample, the OD thresholds are jittered by a
relative `threshold_jitter` (log-normal) and the completeness cut-off by half that in absolute terms. The
probability of a score is the fraction of resamples that land on it (with a pseudo-count of 0.5 per
class, so no score is called impossible). A case far from every cut-off gets ~1.0; a case with 10.5% of
complete strong cells splits between 2+ and 3+.
"""

from __future__ import annotations

import numpy as np

from ..asco import SCORES4, AscoDecision, AscoThresholds, CellPercentages, asco_cap_from_cells
from .params import MembraneThresholds


def intensity_class(membrane_od: np.ndarray, t: MembraneThresholds, scale: float = 1.0) -> np.ndarray:
    """Intensity class per cell: 0 none, 1 faint, 2 weak-moderate, 3 strong (thresholds times `scale`)."""
    cuts = np.array([t.faint, t.moderate, t.strong], np.float32) * scale
    return np.searchsorted(cuts, np.asarray(membrane_od, np.float32), side="right").astype(np.int8)


def is_complete(completeness: np.ndarray, intensity: np.ndarray, t: MembraneThresholds,
                shift: float = 0.0) -> np.ndarray:
    """Complete (circumferential) rings: stained, with completeness >= the cut-off (plus `shift`)."""
    return (np.asarray(completeness) >= t.complete + shift) & (np.asarray(intensity) > 0)


def decide(membrane_od: np.ndarray, completeness: np.ndarray, t: MembraneThresholds,
           positive_pct: float = 10.0) -> tuple[AscoDecision, CellPercentages, np.ndarray, np.ndarray]:
    """The ASCO/CAP decision for tumour cells, with their classes and completeness flags."""
    inten = intensity_class(membrane_od, t)
    comp = is_complete(completeness, inten, t)
    decision, pcts = asco_cap_from_cells(inten, comp, AscoThresholds(positive_pct=positive_pct))
    return decision, pcts, inten, comp


def bootstrap_probabilities(membrane_od: np.ndarray, completeness: np.ndarray, t: MembraneThresholds,
                            n_boot: int = 200, jitter: float = 0.1, seed: int = 0,
                            positive_pct: float = 10.0) -> dict[str, float]:
    """Score probabilities: fraction of cell resamples (with jittered thresholds) giving each score."""
    od = np.asarray(membrane_od, np.float32)
    comp = np.asarray(completeness, np.float32)
    n = od.size
    counts = dict.fromkeys(SCORES4, 0.0)
    if n == 0 or n_boot <= 0:
        decision, *_ = decide(od, comp, t, positive_pct)
        counts[decision.score] = 1.0
        return counts
    rng = np.random.default_rng(seed)
    cut = AscoThresholds(positive_pct=positive_pct)
    for _ in range(n_boot):
        idx = rng.integers(0, n, n)
        scale = float(np.exp(rng.normal(0.0, jitter))) if jitter > 0 else 1.0
        shift = float(rng.normal(0.0, jitter / 2)) if jitter > 0 else 0.0
        inten = intensity_class(od[idx], t, scale)
        decision, _ = asco_cap_from_cells(inten, is_complete(comp[idx], inten, t, shift), cut)
        counts[decision.score] += 1.0
    total = n_boot + 0.5 * len(SCORES4)
    return {k: (v + 0.5) / total for k, v in counts.items()}


def confidence(probabilities: dict[str, float]) -> float:
    """Top-1 minus top-2 probability."""
    top = sorted(probabilities.values(), reverse=True)
    return float(top[0] - (top[1] if len(top) > 1 else 0.0))
