"""The ASCO/CAP 2018 (reaffirmed 2023) HER2 IHC decision from per-cell membrane staining.

Per-cell input: membrane intensity class (0 none, 1 faint / barely perceptible, 2 weak-to-moderate,
3 strong / intense) and whether the staining is complete (circumferential). Evaluated from 3+ down, first
match wins:

* 3+ : complete strong staining in > 10% of tumour cells.
* 2+ : complete staining of at least weak-to-moderate intensity in > 10% of cells; or the unusual patterns
  ASCO/CAP asks to treat as equivocal: strong but incomplete staining in > 10% of cells, or complete strong
  staining in <= 10% of cells (counted from `min_unusual_pct`, default 1%, so that a single stray cell does
  not flip a case).
* 1+ : any membrane staining (incomplete / faint included) in > 10% of cells.
* 0  : otherwise; "null" when no cell stains (below `null_max_pct`), "ultralow" when > 0% and <= 10% stain.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SCORES4: tuple[str, ...] = ("0", "1+", "2+", "3+")
SCORES3: tuple[str, ...] = ("0", "Low", "High")
INTENSITY_NAMES: tuple[str, ...] = ("none", "faint", "weak-moderate", "strong")


def to_3way(score4: str, ish_positive: bool | None = None) -> str:
    """Map a 4-way score to 0 / Low / High; 2+ is High only when ISH is positive."""
    if score4 not in SCORES4:
        raise ValueError(f"not a HER2 score: {score4!r}")
    if score4 == "0":
        return "0"
    if score4 == "3+" or (score4 == "2+" and ish_positive):
        return "High"
    return "Low"


@dataclass(frozen=True)
class AscoThresholds:
    """Percent thresholds of the decision; defaults are the guideline's."""

    positive_pct: float = 10.0
    min_unusual_pct: float = 1.0
    null_max_pct: float = 0.0


@dataclass(frozen=True)
class CellPercentages:
    """Percent of tumour cells in each staining pattern."""

    n: int
    complete_strong: float
    complete_moderate: float
    complete_faint: float
    incomplete_strong: float
    incomplete_moderate: float
    incomplete_faint: float

    @property
    def any_staining(self) -> float:
        return (self.complete_strong + self.complete_moderate + self.complete_faint
                + self.incomplete_strong + self.incomplete_moderate + self.incomplete_faint)

    @property
    def complete_at_least_moderate(self) -> float:
        return self.complete_strong + self.complete_moderate

    @property
    def none(self) -> float:
        return max(0.0, 100.0 - self.any_staining) if self.n else 0.0

    def as_dict(self) -> dict[str, float]:
        return {
            "n": self.n,
            "pct_complete_strong": self.complete_strong,
            "pct_complete_weak_moderate": self.complete_moderate,
            "pct_complete_faint": self.complete_faint,
            "pct_incomplete_strong": self.incomplete_strong,
            "pct_incomplete_weak_moderate": self.incomplete_moderate,
            "pct_incomplete_faint": self.incomplete_faint,
            "pct_any_staining": self.any_staining,
            "pct_none": self.none,
        }


def cell_percentages(intensity: np.ndarray, complete: np.ndarray) -> CellPercentages:
    """Percentages per staining pattern from per-cell intensity classes (0..3) and completeness flags."""
    intensity = np.asarray(intensity, dtype=int)
    complete = np.asarray(complete, dtype=bool)
    n = int(intensity.size)
    if n == 0:
        return CellPercentages(0, 0, 0, 0, 0, 0, 0)

    def pct(mask: np.ndarray) -> float:
        return 100.0 * float(np.count_nonzero(mask)) / n

    return CellPercentages(
        n=n,
        complete_strong=pct(complete & (intensity == 3)),
        complete_moderate=pct(complete & (intensity == 2)),
        complete_faint=pct(complete & (intensity == 1)),
        incomplete_strong=pct(~complete & (intensity == 3)),
        incomplete_moderate=pct(~complete & (intensity == 2)),
        incomplete_faint=pct(~complete & (intensity == 1)),
    )


@dataclass(frozen=True)
class AscoDecision:
    """The 4-way score, its sub-class for 0 (null / ultralow) and the sentence that explains it."""

    score: str
    subclass: str | None
    reason: str


def asco_cap_score(p: CellPercentages, t: AscoThresholds | None = None) -> AscoDecision:
    """Apply the ASCO/CAP 2018/2023 IHC rule to cell percentages."""
    t = t or AscoThresholds()
    cut = t.positive_pct
    if p.n == 0:
        return AscoDecision("0", "null", "No tumour cells were found, so no staining could be seen.")
    if p.complete_strong > cut:
        return AscoDecision("3+", None, f"Complete, intense membrane staining in {p.complete_strong:.1f}% "
                                        f"of tumour cells (> {cut:g}%).")
    if p.complete_at_least_moderate > cut:
        return AscoDecision("2+", None, f"Complete membrane staining of at least weak-to-moderate intensity in "
                                        f"{p.complete_at_least_moderate:.1f}% of tumour cells (> {cut:g}%), "
                                        f"intense in only {p.complete_strong:.1f}%.")
    if p.incomplete_strong > cut:
        return AscoDecision("2+", None, f"Intense but incomplete membrane staining in {p.incomplete_strong:.1f}% "
                                        f"of tumour cells (> {cut:g}%): an unusual pattern treated as equivocal.")
    if p.complete_strong >= t.min_unusual_pct:
        return AscoDecision("2+", None, f"Intense complete membrane staining in {p.complete_strong:.1f}% of "
                                        f"tumour cells (<= {cut:g}%): heterogeneous, treated as equivocal.")
    if p.any_staining > cut:
        return AscoDecision("1+", None, f"Faint or incomplete membrane staining in {p.any_staining:.1f}% of "
                                        f"tumour cells (> {cut:g}%), complete staining in "
                                        f"{p.complete_at_least_moderate:.1f}%.")
    if p.any_staining > t.null_max_pct:
        return AscoDecision("0", "ultralow", f"Faint or incomplete membrane staining in only "
                                             f"{p.any_staining:.1f}% of tumour cells (<= {cut:g}%): HER2-ultralow.")
    return AscoDecision("0", "null", "No membrane staining in any tumour cell: HER2-null.")


def asco_cap_from_cells(intensity: np.ndarray, complete: np.ndarray,
                        t: AscoThresholds | None = None) -> tuple[AscoDecision, CellPercentages]:
    """The decision and the percentages it rests on, from per-cell classes."""
    p = cell_percentages(intensity, complete)
    return asco_cap_score(p, t), p
