"""The paper's inference protocol over N PSS predictions of one core (pure numpy).

* confidence of a PSS = top-1 minus top-2 softmax probability (the "disparity");
* the k-Confident Selection (KCS) = the k most confident PSSs; ties are broken by sample index (the
  earlier sample wins), k > N keeps all;
* the final score = the HIGHEST score (class index) predicted by any PSS in the KCS (the paper's rule:
  err towards the higher category when confident samples disagree);
* the reported probabilities = the mean of the KCS rows. They describe the confident samples and may put
  their largest mass on a lower class than the final score when the KCS disagrees; the score is the call.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..asco import SCORES4


def pss_confidence(probs: np.ndarray) -> np.ndarray:
    """Top-1 minus top-2 probability of each row of an (N, C) array."""
    p = np.asarray(probs, dtype=np.float64)
    if p.shape[-1] < 2:
        return np.ones(p.shape[:-1])
    top2 = np.partition(p, -2, axis=-1)[..., -2:]
    return top2[..., 1] - top2[..., 0]


def kcs_indices(confidence: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k most confident samples, most confident first, ties by lower index."""
    conf = np.asarray(confidence, dtype=np.float64)
    order = np.argsort(-conf, kind="stable")
    return order[:max(int(k), 1)]


@dataclass
class KCSDecision:
    """The outcome of the KCS / max rule on N PSS predictions."""

    score: str
    score_index: int
    probabilities: np.ndarray  # (C,) mean of the KCS rows
    confidence: np.ndarray  # (N,) per sample
    sample_index: np.ndarray  # (N,) argmax class per sample
    selected: np.ndarray  # (N,) bool: in the KCS
    classes: tuple[str, ...]

    @property
    def sample_scores(self) -> list[str]:
        """The class name each sample predicts."""
        return [self.classes[i] for i in self.sample_index]

    @property
    def mean_confidence(self) -> float:
        """Mean confidence of the KCS samples."""
        return float(self.confidence[self.selected].mean())


def kcs_decision(probs: np.ndarray, k: int = 5, classes: tuple[str, ...] = SCORES4) -> KCSDecision:
    """Apply the KCS / max rule to an (N, C) array of softmax probabilities."""
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] == 0 or p.shape[1] != len(classes):
        raise ValueError(f"expected an (N>0, {len(classes)}) probability array, got shape {p.shape}")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    conf = pss_confidence(p)
    idx = kcs_indices(conf, k)
    selected = np.zeros(len(p), bool)
    selected[idx] = True
    sample_index = p.argmax(axis=1)
    top = int(sample_index[selected].max())
    return KCSDecision(classes[top], top, p[selected].mean(axis=0), conf, sample_index, selected, tuple(classes))


def kcs_scores_from_ranks(ranks: np.ndarray, class_by_rank: np.ndarray, k: int) -> np.ndarray:
    """Vectorised KCS/max rule for many draws: `ranks` (D, N) are pool ranks by decreasing confidence;
    returns (D,) the highest class among the k lowest ranks of each draw."""
    r = np.asarray(ranks)
    kk = min(int(k), r.shape[1])
    low = np.partition(r, kk - 1, axis=1)[:, :kk] if kk < r.shape[1] else r
    return class_by_rank[low].max(axis=1)
