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
from ..gastric import GastricThresholds, gastric_score
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
           positive_pct: float = 10.0, criteria: str = "breast", specimen: str = "resection",
           xy_um: np.ndarray | None = None) -> tuple[AscoDecision, CellPercentages, np.ndarray, np.ndarray]:
    """The decision for tumour cells under the criteria (breast ASCO/CAP or gastric), with their classes,
    completeness flags (gastric: complete, basolateral or lateral) and the breast-style percentages."""
    inten = intensity_class(membrane_od, t)
    comp = is_complete(completeness, inten, t)
    decision, pcts = asco_cap_from_cells(inten, comp, AscoThresholds(positive_pct=positive_pct))
    if criteria == "gastric":
        g = GastricThresholds(positive_pct=positive_pct)
        decision = gastric_score(inten, completeness, specimen, xy_um, g)
        comp = (np.asarray(completeness) >= g.partial_complete) & (inten > 0)
    elif criteria != "breast":
        raise ValueError(f"unknown criteria {criteria!r}; use breast or gastric")
    return decision, pcts, inten, comp


def bootstrap_probabilities(membrane_od: np.ndarray, completeness: np.ndarray, t: MembraneThresholds,
                            n_boot: int = 200, jitter: float = 0.1, seed: int = 0,
                            positive_pct: float = 10.0, criteria: str = "breast", specimen: str = "resection",
                            xy_um: np.ndarray | None = None) -> dict[str, float]:
    """Score probabilities: fraction of cell resamples (with jittered thresholds) giving each score."""
    od = np.asarray(membrane_od, np.float32)
    comp = np.asarray(completeness, np.float32)
    n = od.size
    counts = dict.fromkeys(SCORES4, 0.0)
    if n == 0 or n_boot <= 0:
        decision, *_ = decide(od, comp, t, positive_pct, criteria, specimen, xy_um)
        counts[decision.score] = 1.0
        return counts
    rng = np.random.default_rng(seed)
    cut = AscoThresholds(positive_pct=positive_pct)
    gastric = GastricThresholds(positive_pct=positive_pct)
    for _ in range(n_boot):
        # a biopsy's clusters are the cells themselves: only the thresholds are jittered there
        idx = np.arange(n) if criteria == "gastric" and specimen == "biopsy" else rng.integers(0, n, n)
        scale = float(np.exp(rng.normal(0.0, jitter))) if jitter > 0 else 1.0
        shift = float(rng.normal(0.0, jitter / 2)) if jitter > 0 else 0.0
        inten = intensity_class(od[idx], t, scale)
        if criteria == "gastric":
            decision = gastric_score(inten, comp[idx] - shift, specimen,
                                     None if xy_um is None else np.asarray(xy_um)[idx], gastric)
        else:
            decision, _ = asco_cap_from_cells(inten, is_complete(comp[idx], inten, t, shift), cut)
        counts[decision.score] += 1.0
    total = n_boot + 0.5 * len(SCORES4)
    return {k: (v + 0.5) / total for k, v in counts.items()}


def confidence(probabilities: dict[str, float], call: str) -> float:
    """The probability of the call (`her2viewer.scoring.result.call_confidence`)."""
    from ..result import call_confidence

    return float(call_confidence(probabilities, call) or 0.0)
