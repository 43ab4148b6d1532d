"""The HER2 IHC decision for gastro-oesophageal adenocarcinoma (ASCO/CAP/ASCP 2016, after Hofmann et al.).

Unlike breast, complete, basolateral or lateral membrane reactivity all count ("complete-like": at least
`GastricThresholds.partial_complete` of the ring stained), there is no equivocal "unusual pattern", and the
specimen decides the quantity:

* resection: the pattern in >= 10% of tumour cells (first match from 3+ down):
  3+ strong complete-like; 2+ weak-to-moderate (or stronger) complete-like; 1+ faint / barely perceptible
  (any part of the membrane); 0 otherwise;
* biopsy: a cohesive cluster of >= 5 tumour cells showing the pattern, whatever the percentage.

Cells are in a cohesive cluster when a chain of them lies within `cluster_link_um` of each other.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .asco import AscoDecision

CRITERIA = ("breast", "gastric")
SPECIMENS = ("resection", "biopsy")
CRITERIA_NAMES = {"breast": "ASCO/CAP 2018/2023 (breast)",
                  "gastric": "ASCO/CAP/ASCP 2016 (gastro-oesophageal adenocarcinoma)"}


@dataclass(frozen=True)
class GastricThresholds:
    """Cut-offs of the gastric decision; defaults are the guideline's (the partial cut is ours)."""

    positive_pct: float = 10.0     # resection: ">= 10% of tumour cells"
    cluster_cells: int = 5         # biopsy: "a cluster of >= 5 tumour cells"
    cluster_link_um: float = 25.0  # neighbours of a cohesive cluster are at most this far apart
    partial_complete: float = 0.35  # ring fraction that is at least lateral (two sides) reactivity


def largest_cluster(xy_um: np.ndarray, link_um: float) -> int:
    """Cells in the largest cohesive cluster of points (um)."""
    n = len(xy_um)
    if n == 0:
        return 0
    if n == 1:
        return 1
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    graph = cKDTree(xy_um).sparse_distance_matrix(cKDTree(xy_um), link_um, output_type="coo_matrix")
    _, labels = connected_components(graph, directed=False)
    return int(np.bincount(labels).max())


def gastric_score(intensity: np.ndarray, completeness: np.ndarray, specimen: str = "resection",
                  xy_um: np.ndarray | None = None, t: GastricThresholds | None = None) -> AscoDecision:
    """The gastric decision from tumour cells' intensity classes (0..3) and ring completeness (0..1)."""
    t = t or GastricThresholds()
    if specimen not in SPECIMENS:
        raise ValueError(f"unknown specimen {specimen!r}; use one of {', '.join(SPECIMENS)}")
    inten = np.asarray(intensity, int)
    whole = np.asarray(completeness, float) >= t.partial_complete
    n = int(inten.size)
    if n == 0:
        return AscoDecision("0", None, "No tumour cells were found, so no reactivity could be seen.")
    patterns = [("3+", (inten >= 3) & whole, "strong complete, basolateral or lateral"),
                ("2+", (inten >= 2) & whole, "weak-to-moderate complete, basolateral or lateral"),
                ("1+", inten >= 1, "faint / barely perceptible")]
    if specimen == "resection":
        for score, mask, words in patterns:
            pct = 100.0 * float(mask.sum()) / n
            if pct >= t.positive_pct:
                return AscoDecision(score, None, f"{words.capitalize()} membranous reactivity in {pct:.1f}% of "
                                                 f"tumour cells (>= {t.positive_pct:g}%, resection).")
        pct = 100.0 * float((inten >= 1).sum()) / n
        return AscoDecision("0", None, f"Membranous reactivity in only {pct:.1f}% of tumour cells "
                                       f"(< {t.positive_pct:g}%, resection).")
    if xy_um is None or len(xy_um) != n:
        raise ValueError("a biopsy needs the tumour cells' positions (um) to find cohesive clusters")
    for score, mask, words in patterns:
        size = largest_cluster(np.asarray(xy_um, float)[mask], t.cluster_link_um)
        if size >= t.cluster_cells:
            return AscoDecision(score, None, f"A cohesive cluster of {size} tumour cells with {words} membranous "
                                             f"reactivity (>= {t.cluster_cells} cells, biopsy).")
    return AscoDecision("0", None, f"No cohesive cluster of {t.cluster_cells} or more tumour cells with membranous "
                                   "reactivity (biopsy).")
