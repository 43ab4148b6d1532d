"""Label-conditional staining mixes: per-core pattern percentages that give a requested ASCO/CAP score.

A mix is the percent of tumour cells in each pattern of `PATTERNS` (strongest first). `sample_counts`
draws one for a label (often with the deciding percentage close to the 10% cut, so hard cases exist),
turns it into exact cell counts and checks the rule on them (on the cells' own drawn staining; the core
generator then scales a mix until what is visible, shared membranes included, scores the label with its
deciding percentage near the drawn one: `scaled_counts`, `deciding_percentage`); `assign_patterns` places the counts on the
cells by a spatial field, so strong cells cluster into regions (heterogeneity) rather than salt-and-pepper.
"""

from __future__ import annotations

import numpy as np

from ..scoring.asco import SCORES4, CellPercentages, asco_cap_score, cell_percentages
from . import params as P

#: (intensity class, complete) in rank order; the last one is unstained.
PATTERNS: tuple[tuple[int, bool], ...] = (
    (3, True), (3, False), (2, True), (2, False), (1, True), (1, False), (0, False),
)
CS, IS, CM, IM, CF, IF, NONE = range(7)


def _deciding(rng: np.random.Generator, above: bool, hi: float = 90.0) -> float:
    """A percentage just above (or at most) the 10% cut, often inside the near-threshold window."""
    lo_w, hi_w = P.NEAR_THRESHOLD_WINDOW
    near = rng.random() < P.NEAR_THRESHOLD_PROBABILITY
    if above:
        return float(rng.uniform(10.6, hi_w) if near else rng.uniform(hi_w, hi))
    return float(rng.uniform(lo_w, 9.6) if near else rng.uniform(0.0, lo_w))


def _fill(pct: np.ndarray, free: list[int], amount: float, rng: np.random.Generator) -> None:
    """Spread `amount` percent over the `free` patterns at random (Dirichlet)."""
    if amount <= 0 or not free:
        return
    pct[free] += amount * rng.dirichlet(np.full(len(free), 0.8))


def sample_mix(label: str, rng: np.random.Generator) -> np.ndarray:
    """Pattern percentages (7,) that produce `label` under the ASCO/CAP rule (before rounding)."""
    p = np.zeros(7)
    if label == "3+":
        p[CS] = _deciding(rng, True, 92.0)
        _fill(p, [IS, CM, IM, CF, IF], rng.uniform(0, 100 - p[CS]) * rng.uniform(0.3, 1.0), rng)
    elif label == "2+":
        variant = rng.choice(3, p=[0.7, 0.15, 0.15])
        if variant == 0:        # weak-to-moderate complete in > 10%
            total = _deciding(rng, True, 85.0)
            p[CS] = min(rng.choice([0.0, rng.uniform(0, 4), rng.uniform(4, 9.5)], p=[0.4, 0.35, 0.25]), total)
            p[CM] = total - p[CS]
            p[IS] = rng.uniform(0, 6)
            _fill(p, [IM, CF, IF], rng.uniform(0, 100 - p.sum()) * rng.uniform(0.2, 0.8), rng)
        elif variant == 1:      # intense but incomplete in > 10%
            p[IS] = _deciding(rng, True, 50.0)
            p[CS] = rng.uniform(0, 0.8)
            p[CM] = rng.uniform(0, 9.0 - p[CS])
            _fill(p, [IM, CF, IF], rng.uniform(0, 100 - p.sum()) * rng.uniform(0.2, 0.8), rng)
        else:                   # intense complete in <= 10% (heterogeneous)
            p[CS] = rng.uniform(1.6, 9.5)
            p[CM] = rng.uniform(0, 9.5 - p[CS])
            p[IS] = rng.uniform(0, 9.0)
            _fill(p, [IM, CF, IF], rng.uniform(0, 100 - p.sum()) * rng.uniform(0.2, 0.8), rng)
    elif label == "1+":
        anyp = _deciding(rng, True, 95.0)
        p[IS] = rng.choice([0.0, rng.uniform(0.2, 4.0)], p=[0.6, 0.4])   # a few strong incomplete cells
        p[CM] = rng.choice([0.0, rng.uniform(0.0, 6.0)], p=[0.5, 0.5])
        _fill(p, [IM, CF, IF], max(0.0, anyp - p[IS] - p[CM]), rng)
        p[[IM, CF, IF]] *= [0.6, 0.8, 1.0]  # mostly faint, often incomplete
        p[IF] += max(0.0, anyp - p[:NONE].sum())
    elif label == "0":
        anyp = 0.0 if rng.random() < 0.2 else _deciding(rng, False)
        if anyp > 0:
            p[CM] = rng.choice([0.0, rng.uniform(0.0, 1.5)], p=[0.7, 0.3])
            p[IM] = rng.uniform(0, 0.3) * anyp
            p[CF] = rng.uniform(0, 0.2) * anyp
            p[IF] = max(0.0, anyp - p[CM] - p[IM] - p[CF])
    else:
        raise ValueError(f"not a HER2 score: {label!r}")
    p[NONE] = max(0.0, 100.0 - p[:NONE].sum())
    return p / p.sum() * 100.0


def counts_from_mix(pct: np.ndarray, n: int) -> np.ndarray:
    """Exact integer counts (7,) summing to n, by largest remainder."""
    raw = pct / 100.0 * n
    c = np.floor(raw).astype(int)
    rest = n - c.sum()
    if rest > 0:
        c[np.argsort(-(raw - c))[:rest]] += 1
    return c


def _label_of_counts(c: np.ndarray) -> str:
    return asco_cap_score(counts_percentages(c)).score


def sample_counts(label: str, n: int, rng: np.random.Generator, tries: int = 200) -> np.ndarray:
    """Pattern counts (7,) for n cells whose ASCO/CAP score is `label` (resampled until it is)."""
    if label not in SCORES4:
        raise ValueError(f"not a HER2 score: {label!r}")
    if n <= 0:
        raise ValueError("a core needs at least one tumour cell")
    for _ in range(tries):
        c = counts_from_mix(sample_mix(label, rng), n)
        if _label_of_counts(c) == label:
            return c
    raise RuntimeError(f"could not draw a staining mix for {label} with {n} cells")


def scaled_counts(pct: np.ndarray, n: int, scale: float = 1.0) -> np.ndarray:
    """Exact counts (7,) for n cells of a mix whose stained shares are multiplied by `scale` (<= 100% in all)."""
    if n <= 0:
        raise ValueError("a core needs at least one tumour cell")
    p = np.asarray(pct, float).copy()
    p[:NONE] *= scale
    stained = p[:NONE].sum()
    if stained > 100.0:
        p[:NONE] *= 100.0 / stained
    p[NONE] = max(0.0, 100.0 - p[:NONE].sum())
    return counts_from_mix(p / p.sum() * 100.0, n)


def deciding_percentage(label: str, pct: CellPercentages) -> float:
    """The percentage that decides `label` against the 10% cut (any staining for 0 and 1+, complete strong for
    3+, the larger of complete >= weak-moderate and incomplete strong for 2+)."""
    if label == "3+":
        return pct.complete_strong
    if label == "2+":
        return max(pct.complete_at_least_moderate, pct.incomplete_strong)
    return pct.any_staining


def counts_percentages(c: np.ndarray) -> CellPercentages:
    """Cell percentages of pattern counts."""
    inten = np.repeat([p[0] for p in PATTERNS], c)
    comp = np.repeat([p[1] for p in PATTERNS], c)
    return cell_percentages(inten, comp)


def assign_patterns(counts: np.ndarray, rank_field: np.ndarray, rng: np.random.Generator,
                    scatter: float = 0.1) -> np.ndarray:
    """Pattern index per cell: the highest `rank_field` cells get the strongest patterns.

    A `scatter` fraction of each stained pattern is placed on random cells instead (isolated cells).
    """
    n = int(counts.sum())
    order = np.argsort(-rank_field, kind="stable")
    pattern = np.empty(n, dtype=np.int8)
    pattern[order] = np.repeat(np.arange(len(counts)), counts).astype(np.int8)
    k = int(scatter * (n - counts[NONE]))
    if k > 1:
        idx = rng.choice(n, size=k, replace=False)
        pattern[idx] = pattern[rng.permutation(idx)]
    return pattern
