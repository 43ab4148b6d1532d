"""One optimisation step for any MIL aggregator, and a tiny fit loop over in-memory bags.

Every aggregator's `training_loss(features, label)` is its paper's objective (CE; CLAM: + instance loss;
DTFD: tier-1 + tier-2 on detached AFS features), so one backward per bag is right for all of them. The
training module (`training/`) owns data, cross-validation and checkpoints; this is the inner step it calls.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn


def mil_train_step(model: nn.Module, features: torch.Tensor, label: int, optimizers: Sequence[torch.optim.Optimizer],
                   grad_clip: float = 5.0) -> float:
    """Zero grads, one backward of the model's training loss on one bag, clip, step; returns the loss."""
    model.train()
    for opt in optimizers:
        opt.zero_grad(set_to_none=True)
    loss, _, _ = model.training_loss(features, label)
    loss.backward()
    if grad_clip > 0:
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.grad is not None], grad_clip)
    for opt in optimizers:
        opt.step()
    return float(loss.detach())


def fit_bags(model: nn.Module, bags: Sequence[np.ndarray], labels: Sequence[int], *, epochs: int = 10,
             lr: float = 2e-4, weight_decay: float = 1e-4, seed: int = 0, device: str = "cpu") -> list[float]:
    """Train on in-memory bags (one bag per step, shuffled per epoch, AdamW); returns the mean loss per epoch."""
    gen = np.random.default_rng(seed)
    torch.manual_seed(seed)
    model.to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    tensors = [torch.as_tensor(b, dtype=torch.float32, device=device) for b in bags]
    history = []
    for _ in range(epochs):
        losses = [mil_train_step(model, tensors[i], int(labels[i]), [opt]) for i in gen.permutation(len(tensors))]
        history.append(float(np.mean(losses)))
    model.eval()
    return history


def predict_bags(model: nn.Module, bags: Sequence[np.ndarray], device: str = "cpu") -> np.ndarray:
    """(n bags, C) softmax probabilities."""
    model.eval().to(device)
    out = []
    with torch.inference_mode():
        for b in bags:
            logits, _, _ = model(torch.as_tensor(b, dtype=torch.float32, device=device))
            out.append(torch.softmax(logits.float(), 0).cpu().numpy())
    return np.stack(out)
