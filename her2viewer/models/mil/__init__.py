"""Attention multiple-instance-learning (MIL) aggregators over patch features: a bag of N feature vectors
(one per tissue tile) -> slide logits and per-patch attention.

Registered models (build with `her2viewer.models.registry.create_model`):

* `mil_abmil`    gated attention MIL (Ilse et al. 2018)
* `mil_clam_sb`  CLAM single-branch with the instance-clustering loss (Lu et al. 2021)
* `mil_clam_mb`  CLAM multi-branch (one attention branch per class)
* `mil_dtfd`     DTFD-MIL, double-tier feature distillation with AFS (Zhang et al. 2022)

Every aggregator has the same interface:

* `forward(features [N, D]) -> (logits [C], attention, extras)`; attention is [N] (or [C, N] for CLAM-MB)
  and sums to 1 over the instances; `forward(features, attention_only=True)` returns just the attention.
* `training_loss(features, label) -> (loss, logits, extras)`: the method's full training objective
  (CLAM adds its instance loss, DTFD its tier-1 loss), one scalar to back-propagate once.
* `config()`: the keyword arguments that rebuild it (what a model card stores).
"""

from .abmil import ABMIL, GatedAttention
from .clam import CLAM_MB, CLAM_SB
from .dtfd import DTFDMIL, dtfd_train_step

__all__ = ["ABMIL", "CLAM_MB", "CLAM_SB", "DTFDMIL", "GatedAttention", "dtfd_train_step", "MIL_MODELS"]

#: aggregator short name (ScoreOptions.extra["aggregator"]) -> registry name
MIL_MODELS: dict[str, str] = {
    "abmil": "mil_abmil",
    "clam_sb": "mil_clam_sb",
    "clam_mb": "mil_clam_mb",
    "dtfd": "mil_dtfd",
}
