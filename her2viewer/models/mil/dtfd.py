"""DTFD-MIL (Zhang et al., CVPR 2022, "DTFD-MIL: Double-Tier Feature Distillation Multiple Instance
Learning"), with AFS (attention-based feature selection) distillation.

A bag of N instances is split at random into G pseudo-bags (G = min(n_groups, N)). Tier 1: an attention
MIL per pseudo-bag, trained with the bag's label; its attention-weighted feature of each pseudo-bag (AFS)
is the distilled feature. Tier 2: an attention MIL over the G distilled features gives the slide logits.

Training, written for current torch: the upstream loop back-propagates the tier-1 loss with retain_graph,
steps the tier-1 optimizer (modifying in place parameters the tier-2 graph still needs) and then calls
backward on the tier-2 loss, which current torch rejects. Here the distilled features are detached before
tier 2 (as in the paper: tier 2 learns from tier 1's output, its gradient does not flow into tier 1), the
two losses are added and back-propagated ONCE, and the optimizer(s) step afterwards. The parameter sets of
the two tiers are disjoint, so this is exactly the two-optimizer update of the paper; `tier1_parameters()`
and `tier2_parameters()` give them for separate learning rates.

Inference: the pseudo-bag split is random in training; in eval mode it comes from a generator seeded with
`eval_seed`, so a slide always gets the same score. Per-instance attention for the heatmap = tier-1
attention inside its pseudo-bag x tier-2 attention of that pseudo-bag (sums to 1 over the instances).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from ..registry import register_model
from .abmil import GatedAttention, check_bag


class _AttentionMIL(nn.Module):
    """Gated attention pooling + linear classifier over [n, L] -> (logits [C], attention [n], feature [L])."""

    def __init__(self, dim: int, attn_dim: int, num_classes: int, dropout: float) -> None:
        super().__init__()
        self.attention = GatedAttention(dim, attn_dim, 1, dropout)
        self.classifier = nn.Linear(dim, num_classes)

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        attn = torch.softmax(self.attention(h)[:, 0], dim=0)
        feat = attn @ h
        return self.classifier(feat), attn, feat


class DTFDMIL(nn.Module):
    """Double-tier feature distillation MIL with AFS (see the module docstring)."""

    def __init__(self, in_dim: int = 1280, num_classes: int = 4, hidden: int = 256, attn_dim: int = 128,
                 dropout: float = 0.25, n_groups: int = 4, eval_seed: int = 0) -> None:
        super().__init__()
        self.in_dim, self.num_classes, self.hidden = int(in_dim), int(num_classes), int(hidden)
        self.attn_dim, self.dropout = int(attn_dim), float(dropout)
        self.n_groups, self.eval_seed = int(n_groups), int(eval_seed)
        if self.n_groups < 1:
            raise ValueError(f"n_groups must be >= 1, got {n_groups}")
        self.reduce = nn.Sequential(nn.Linear(self.in_dim, self.hidden), nn.ReLU(), nn.Dropout(self.dropout))
        self.tier1 = _AttentionMIL(self.hidden, self.attn_dim, self.num_classes, self.dropout)
        self.tier2 = _AttentionMIL(self.hidden, self.attn_dim, self.num_classes, self.dropout)

    def config(self) -> dict[str, Any]:
        """Keyword arguments that rebuild this architecture."""
        return {"in_dim": self.in_dim, "num_classes": self.num_classes, "hidden": self.hidden,
                "attn_dim": self.attn_dim, "dropout": self.dropout, "n_groups": self.n_groups,
                "eval_seed": self.eval_seed}

    def tier1_parameters(self) -> Iterator[nn.Parameter]:
        """Parameters trained by the tier-1 loss (dimension reduction + tier-1 attention MIL)."""
        yield from self.reduce.parameters()
        yield from self.tier1.parameters()

    def tier2_parameters(self) -> Iterator[nn.Parameter]:
        """Parameters trained by the tier-2 loss."""
        yield from self.tier2.parameters()

    def split(self, n: int, device: torch.device) -> list[torch.Tensor]:
        """Random pseudo-bags (index tensors) of n instances; seeded by eval_seed in eval mode."""
        g = None
        if not self.training:
            g = torch.Generator().manual_seed(self.eval_seed)
        perm = torch.randperm(n, generator=g).to(device)
        return [chunk for chunk in torch.tensor_split(perm, min(self.n_groups, n)) if chunk.numel()]

    def _tiers(self, features: torch.Tensor, detach_distilled: bool) -> dict[str, Any]:
        h = self.reduce(check_bag(features, self.in_dim))
        groups = self.split(h.shape[0], h.device)
        t1_logits, t1_attn, distilled = [], [], []
        for idx in groups:
            logits, attn, feat = self.tier1(h[idx])
            t1_logits.append(logits)
            t1_attn.append(attn)
            distilled.append(feat)                       # AFS: the pseudo-bag's attention-weighted feature
        d = torch.stack(distilled)                       # [G, L]
        logits2, attn2, _ = self.tier2(d.detach() if detach_distilled else d)
        inst_attn = h.new_zeros(h.shape[0])
        for g, (idx, a) in enumerate(zip(groups, t1_attn, strict=True)):
            inst_attn = inst_attn.index_add(0, idx, a * attn2[g])   # out of place: no saved tensor is modified
        return {"logits": logits2, "attention": inst_attn, "tier1_logits": torch.stack(t1_logits),
                "tier2_attention": attn2, "groups": groups}

    def forward(self, features: torch.Tensor, attention_only: bool = False) -> Any:
        """[N, D] -> (logits [C], attention [N], extras) or just the attention."""
        out = self._tiers(features, detach_distilled=self.training)
        if attention_only:
            return out["attention"]
        return out["logits"], out["attention"], {k: out[k] for k in ("tier1_logits", "tier2_attention", "groups")}

    def training_loss(self, features: torch.Tensor, label: int | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor,
                                                                                      dict[str, Any]]:
        """Tier-1 loss (mean CE over pseudo-bags, each with the bag's label) + tier-2 loss on detached AFS."""
        out = self._tiers(features, detach_distilled=True)
        y = int(torch.as_tensor(label).item())
        t1 = out["tier1_logits"]
        loss1 = F.cross_entropy(t1, torch.full((t1.shape[0],), y, dtype=torch.long, device=t1.device))
        loss2 = F.cross_entropy(out["logits"][None], torch.tensor([y], device=t1.device))
        return loss1 + loss2, out["logits"], {"tier1_loss": loss1.detach(), "tier2_loss": loss2.detach(),
                                              "attention": out["attention"]}


def dtfd_train_step(model: DTFDMIL, features: torch.Tensor, label: int, optimizers: list[torch.optim.Optimizer],
                    grad_clip: float = 5.0) -> dict[str, float]:
    """One DTFD update: zero grads, one backward of tier-1 + tier-2 loss, clip, then step every optimizer."""
    model.train()
    for opt in optimizers:
        opt.zero_grad(set_to_none=True)
    loss, _, extras = model.training_loss(features, label)
    loss.backward()
    if grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(list(model.tier1_parameters()), grad_clip)
        torch.nn.utils.clip_grad_norm_(list(model.tier2_parameters()), grad_clip)
    for opt in optimizers:
        opt.step()
    return {"loss": float(loss.detach()), "tier1_loss": float(extras["tier1_loss"]),
            "tier2_loss": float(extras["tier2_loss"])}


@register_model("mil_dtfd")
def mil_dtfd(**kwargs: Any) -> DTFDMIL:
    """DTFD-MIL with AFS distillation (Zhang et al. 2022)."""
    return DTFDMIL(**kwargs)
