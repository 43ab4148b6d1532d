"""CLAM (Lu et al. 2021, "Data-efficient and weakly supervised computational pathology on whole-slide
images"): gated attention MIL plus instance-level clustering.

The instance loss: for the bag's true class c, the k most attended instances are pseudo-labelled positive
and the k least attended negative for class c's instance classifier; with `subtyping` (mutually exclusive
classes, as HER2 scores are) the k most attended instances of every other class's branch are pseudo-
labelled negative for that class. k adapts to small bags: k = min(k_sample, N // 2), so the positive and
negative sets never overlap; a bag of one instance has no instance loss (0). The training objective is
bag_weight * CE(bag) + (1 - bag_weight) * instance loss (paper: 0.7). Instance classifiers use cross
entropy (the paper's smooth top-1 SVM is an option there; not here).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from ..registry import register_model
from .abmil import GatedAttention, check_bag


def adaptive_k(k_sample: int, n: int) -> int:
    """Instances per side of the instance loss for a bag of n: min(k_sample, n // 2) (0 for n < 2)."""
    return max(0, min(int(k_sample), n // 2))


def instance_loss(attn: torch.Tensor, h: torch.Tensor, classifier: nn.Module, k: int, in_class: bool
                  ) -> torch.Tensor:
    """CE of one class's instance classifier on the top-k (and, in class, bottom-k) attended instances."""
    top = torch.topk(attn, k).indices
    if in_class:
        bottom = torch.topk(-attn, k).indices
        inst = torch.cat([h[top], h[bottom]])
        targets = torch.cat([torch.ones(k), torch.zeros(k)]).long().to(h.device)
    else:
        inst = h[top]
        targets = torch.zeros(k, dtype=torch.long, device=h.device)
    return F.cross_entropy(classifier(inst), targets)


class _CLAMBase(nn.Module):
    """Shared parts: embedding, instance classifiers, instance loss, config."""

    branches: int

    def __init__(self, in_dim: int, num_classes: int, hidden: int, attn_dim: int, dropout: float, k_sample: int,
                 bag_weight: float, subtyping: bool) -> None:
        super().__init__()
        self.in_dim, self.num_classes, self.hidden = int(in_dim), int(num_classes), int(hidden)
        self.attn_dim, self.dropout, self.k_sample = int(attn_dim), float(dropout), int(k_sample)
        self.bag_weight, self.subtyping = float(bag_weight), bool(subtyping)
        self.embed = nn.Sequential(nn.Linear(self.in_dim, self.hidden), nn.ReLU(), nn.Dropout(self.dropout))
        self.attention = GatedAttention(self.hidden, self.attn_dim, self.branches, self.dropout)
        self.instance_classifiers = nn.ModuleList(nn.Linear(self.hidden, 2) for _ in range(self.num_classes))

    def config(self) -> dict[str, Any]:
        """Keyword arguments that rebuild this architecture."""
        return {"in_dim": self.in_dim, "num_classes": self.num_classes, "hidden": self.hidden,
                "attn_dim": self.attn_dim, "dropout": self.dropout, "k_sample": self.k_sample,
                "bag_weight": self.bag_weight, "subtyping": self.subtyping}

    def _attend(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(embeddings [N, L], attention [branches, N] softmaxed over instances)."""
        h = self.embed(check_bag(features, self.in_dim))
        return h, torch.softmax(self.attention(h).T, dim=1)

    def _classify(self, h: torch.Tensor, attn: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def forward(self, features: torch.Tensor, attention_only: bool = False) -> Any:
        """[N, D] -> (logits [C], attention, extras) or just the attention."""
        h, attn = self._attend(features)
        out_attn = attn[0] if self.branches == 1 else attn
        if attention_only:
            return out_attn
        logits, bag = self._classify(h, attn)
        return logits, out_attn, {"bag_feature": bag, "embeddings": h}

    def instance_loss(self, h: torch.Tensor, attn: torch.Tensor, label: int) -> torch.Tensor:
        """The clustering loss for a bag of true class `label` (0 when the bag has < 2 instances)."""
        k = adaptive_k(self.k_sample, h.shape[0])
        if k == 0:
            return h.sum() * 0.0  # keeps the graph; nothing to cluster in a bag of one
        total, terms = h.new_zeros(()), 0
        for c, clf in enumerate(self.instance_classifiers):
            a = attn[0] if self.branches == 1 else attn[c]
            if c == label:
                total = total + instance_loss(a, h, clf, k, in_class=True)
                terms += 1
            elif self.subtyping:
                total = total + instance_loss(a, h, clf, k, in_class=False)
                terms += 1
        return total / max(1, terms)

    def training_loss(self, features: torch.Tensor, label: int | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor,
                                                                                      dict[str, Any]]:
        """bag_weight * CE(bag) + (1 - bag_weight) * instance loss."""
        h, attn = self._attend(features)
        logits, bag = self._classify(h, attn)
        y = int(torch.as_tensor(label).item())
        bag_loss = F.cross_entropy(logits[None], torch.tensor([y], device=logits.device))
        inst = self.instance_loss(h, attn, y)
        loss = self.bag_weight * bag_loss + (1.0 - self.bag_weight) * inst
        return loss, logits, {"bag_loss": bag_loss.detach(), "instance_loss": inst.detach(),
                              "k": adaptive_k(self.k_sample, h.shape[0]),
                              "attention": attn[0] if self.branches == 1 else attn}


class CLAM_SB(_CLAMBase):  # noqa: N801 - the paper's name
    """CLAM single-branch: one attention map, one bag classifier."""

    branches = 1

    def __init__(self, in_dim: int = 1280, num_classes: int = 4, hidden: int = 256, attn_dim: int = 128,
                 dropout: float = 0.25, k_sample: int = 8, bag_weight: float = 0.7, subtyping: bool = True) -> None:
        super().__init__(in_dim, num_classes, hidden, attn_dim, dropout, k_sample, bag_weight, subtyping)
        self.classifier = nn.Linear(self.hidden, self.num_classes)

    def _classify(self, h: torch.Tensor, attn: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        bag = attn[0] @ h                                  # [L]
        return self.classifier(bag), bag


class CLAM_MB(_CLAMBase):  # noqa: N801 - the paper's name
    """CLAM multi-branch: one attention map and one bag score per class."""

    def __init__(self, in_dim: int = 1280, num_classes: int = 4, hidden: int = 256, attn_dim: int = 128,
                 dropout: float = 0.25, k_sample: int = 8, bag_weight: float = 0.7, subtyping: bool = True) -> None:
        self.branches = int(num_classes)
        super().__init__(in_dim, num_classes, hidden, attn_dim, dropout, k_sample, bag_weight, subtyping)
        self.classifiers = nn.ModuleList(nn.Linear(self.hidden, 1) for _ in range(self.num_classes))

    def _classify(self, h: torch.Tensor, attn: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        bags = attn @ h                                    # [C, L]
        logits = torch.cat([clf(bags[c]) for c, clf in enumerate(self.classifiers)])
        return logits, bags


@register_model("mil_clam_sb")
def mil_clam_sb(**kwargs: Any) -> CLAM_SB:
    """CLAM single-branch (Lu et al. 2021)."""
    return CLAM_SB(**kwargs)


@register_model("mil_clam_mb")
def mil_clam_mb(**kwargs: Any) -> CLAM_MB:
    """CLAM multi-branch (Lu et al. 2021)."""
    return CLAM_MB(**kwargs)
