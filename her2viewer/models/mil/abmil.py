"""Gated attention MIL (Ilse, Tomczak & Welling 2018) and the gated attention block shared by CLAM and DTFD."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from ..registry import register_model


class GatedAttention(nn.Module):
    """Gated attention scores: a = w^T (tanh(V h) * sigmoid(U h)); [N, L] -> [N, branches] (unnormalised)."""

    def __init__(self, in_dim: int, attn_dim: int, branches: int = 1, dropout: float = 0.0) -> None:
        super().__init__()
        self.tanh = nn.Sequential(nn.Linear(in_dim, attn_dim), nn.Tanh(), nn.Dropout(dropout))
        self.sigm = nn.Sequential(nn.Linear(in_dim, attn_dim), nn.Sigmoid(), nn.Dropout(dropout))
        self.score = nn.Linear(attn_dim, branches)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """[N, L] instance embeddings -> [N, branches] attention logits."""
        return self.score(self.tanh(h) * self.sigm(h))


def check_bag(features: torch.Tensor, in_dim: int) -> torch.Tensor:
    """Accept [N, D] or [1, N, D]; raise ValueError naming the problem otherwise."""
    if features.ndim == 3 and features.shape[0] == 1:
        features = features[0]
    if features.ndim != 2 or features.shape[1] != in_dim:
        raise ValueError(f"a bag must be [N, {in_dim}] features, got {tuple(features.shape)}")
    if features.shape[0] < 1:
        raise ValueError("a bag needs at least one instance")
    return features


class ABMIL(nn.Module):
    """Gated attention MIL: embed -> gated attention (softmax over instances) -> weighted mean -> classifier."""

    def __init__(self, in_dim: int = 1280, num_classes: int = 4, hidden: int = 256, attn_dim: int = 128,
                 dropout: float = 0.25) -> None:
        super().__init__()
        self.in_dim, self.num_classes, self.hidden = int(in_dim), int(num_classes), int(hidden)
        self.attn_dim, self.dropout = int(attn_dim), float(dropout)
        self.embed = nn.Sequential(nn.Linear(self.in_dim, self.hidden), nn.ReLU(), nn.Dropout(self.dropout))
        self.attention = GatedAttention(self.hidden, self.attn_dim, 1, self.dropout)
        self.classifier = nn.Linear(self.hidden, self.num_classes)

    def config(self) -> dict[str, Any]:
        """Keyword arguments that rebuild this architecture."""
        return {"in_dim": self.in_dim, "num_classes": self.num_classes, "hidden": self.hidden,
                "attn_dim": self.attn_dim, "dropout": self.dropout}

    def forward(self, features: torch.Tensor, attention_only: bool = False) -> Any:
        """[N, D] -> (logits [C], attention [N], extras) or, with attention_only, attention [N]."""
        h = self.embed(check_bag(features, self.in_dim))             # [N, L]
        attn = torch.softmax(self.attention(h)[:, 0], dim=0)          # [N]
        if attention_only:
            return attn
        bag = attn @ h                                                # [L]
        return self.classifier(bag), attn, {"bag_feature": bag}

    def training_loss(self, features: torch.Tensor, label: int | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor,
                                                                                      dict[str, Any]]:
        """Cross entropy of the bag prediction."""
        logits, attn, extras = self(features)
        target = torch.as_tensor(label, device=logits.device).view(1)
        loss = F.cross_entropy(logits[None], target)
        return loss, logits, {**extras, "attention": attn}


@register_model("mil_abmil")
def mil_abmil(**kwargs: Any) -> ABMIL:
    """Gated attention MIL (Ilse et al. 2018)."""
    return ABMIL(**kwargs)
