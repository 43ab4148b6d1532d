"""Attention multiple-instance-learning (MIL) aggregators over patch features: a bag of N feature vectors
(one per tissue tile) -> slide logits and per-patch attention.

Registered models (build with `her2viewer.models.registry.create_model`):

* `mil_abmil`    gated attention MIL (Ilse et al. 2018)                       `abmil.py`
* `mil_clam_sb`  CLAM single-branch with the instance-clustering loss (Lu et al. 2021)   `clam.py`
* `mil_clam_mb`  CLAM multi-branch (one attention branch per class)           `clam.py`
* `mil_dtfd`     DTFD-MIL, double-tier feature distillation with AFS (Zhang et al. 2022)  `dtfd.py`

Every aggregator has the same interface:

* `forward(features [N, D]) -> (logits [C], attention, extras)`; attention is [N] (or [C, N] for CLAM-MB)
  and sums to 1 over the instances; `forward(features, attention_only=True)` returns just the attention.
* `training_loss(features, label) -> (loss, logits, extras)`: the method's full training objective
  (CLAM adds its instance loss, DTFD its tier-1 loss), one scalar to back-propagate once
  (`train.mil_train_step`).
* `config()`: the keyword arguments that rebuild it (what a model card stores).

This package file imports no torch: the classes load on first attribute access, so the scorer registry can
know the aggregator names without starting torch.
"""

from __future__ import annotations

import importlib
from typing import Any

#: aggregator short name (ScoreOptions.extra["aggregator"]) -> registry name
MIL_MODELS: dict[str, str] = {
    "abmil": "mil_abmil",
    "clam_sb": "mil_clam_sb",
    "clam_mb": "mil_clam_mb",
    "dtfd": "mil_dtfd",
}

#: the modules whose import registers the aggregators (listed in registry.BUILTIN_MODEL_MODULES)
MODULES: tuple[str, ...] = ("abmil", "clam", "dtfd")

_LAZY: dict[str, str] = {
    "ABMIL": "abmil", "GatedAttention": "abmil", "CLAM_SB": "clam", "CLAM_MB": "clam", "DTFDMIL": "dtfd",
    "dtfd_train_step": "dtfd", "mil_train_step": "train", "fit_bags": "train", "predict_bags": "train",
}

__all__ = ["MIL_MODELS", *sorted(_LAZY)]


def __getattr__(name: str) -> Any:
    """Import the submodule that defines `name` on first use."""
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
