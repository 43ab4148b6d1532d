"""Evaluation of a trained model on labelled items: PSS models with the N/k protocol of the scorer
(N PSSs per core, keep the k most confident, final score = the highest score among them), other models
with one prediction per item. Returns per-item predictions and `metrics.classification_metrics`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from her2viewer.progress import Task

from .augment import Augment
from .data import LowResDataset, PatchDataset, PSSDataset, make_loader
from .items import Item
from .loop import model_norm, normalize_batch
from .metrics import classification_metrics

log = logging.getLogger(__name__)


@dataclass
class Prediction:
    """One item's result: final class index, the class probabilities reported, per-sample probabilities."""

    path: str
    label: int
    pred: int
    probs: list[float]
    sample_probs: list[list[float]]
    selected: list[bool]


def predict_probs(model: nn.Module, ds: Any, *, device: torch.device, batch_size: int, num_workers: int,
                   task: Task) -> np.ndarray:
    """Softmax probabilities for every sample of `ds`, in order, shape (len(ds), C)."""
    model.eval()
    mean, std = model_norm(model)
    loader = make_loader(ds, batch_size=batch_size, shuffle=False, num_workers=num_workers, seed=0)
    out = []
    use_amp = device.type == "cuda"
    n = max(1, len(loader))
    with torch.inference_mode():
        for b, (x, _y) in enumerate(loader):
            x = normalize_batch(x.to(device), mean, std)
            with torch.autocast(device.type, dtype=torch.float16, enabled=use_amp):
                logits = model(x)
            out.append(torch.softmax(logits.float(), dim=1).cpu().numpy())
            task.report((b + 1) / n, f"evaluating batch {b + 1}/{n}")
    return np.concatenate(out, axis=0) if out else np.zeros((0, 0))


def kcs_decision(sample_probs: np.ndarray, k: int) -> tuple[int, np.ndarray, np.ndarray]:
    """(final class, reported probabilities, selected mask) of one core by the scorer's KCS/max rule."""
    from her2viewer.scoring.asco import SCORES3, SCORES4
    from her2viewer.scoring.pss.protocol import kcs_decision as protocol_kcs

    classes = SCORES4 if sample_probs.shape[1] == 4 else SCORES3
    d = protocol_kcs(sample_probs, k, classes)
    return int(d.score_index), np.asarray(d.probabilities, dtype=np.float64), np.asarray(d.selected, dtype=bool)


def evaluate_items(model: nn.Module, items: Sequence[Item], labels: Sequence[int], *, dataset: str = "pss",
                   spec: Any = None, n: int = 20, k: int = 5, seed: int = 0, lowres_size: int = 224,
                   device: torch.device | str = "cpu", batch_size: int = 16, num_workers: int = 2,
                   task: Task | None = None, ish: Sequence[bool | None] | None = None, stain: Any = None
                   ) -> dict[str, Any]:
    """Predict every item (N/k protocol for PSS models) and compute the metrics; {'metrics', 'predictions'}.
    `stain`: the StainReference the model's card declares (images normalised to it), or None."""
    task = task or Task()
    device = torch.device(device) if isinstance(device, str) else device
    model.to(device)
    per_item = n if dataset == "pss" else 1
    kw = {"seed": seed, "augment": Augment.off(), "samples_per_item": per_item, "stain": stain}
    if dataset == "pss":
        ds = PSSDataset(items, labels, spec, **kw)
    elif dataset == "lowres":
        ds = LowResDataset(items, labels, size=lowres_size, **kw)
    else:
        ds = PatchDataset(items, labels, size=lowres_size, **kw)
    probs = predict_probs(model, ds, device=device, batch_size=batch_size, num_workers=num_workers, task=task)
    probs = probs.reshape(len(items), per_item, -1)
    preds: list[Prediction] = []
    for it, y, p in zip(items, labels, probs, strict=True):
        if dataset == "pss":
            final, reported, selected = kcs_decision(p, k)
        else:
            final, reported, selected = int(p[0].argmax()), p[0], np.ones(1, bool)
        preds.append(Prediction(it.path, int(y), final, [float(v) for v in reported],
                                [[round(float(v), 5) for v in row] for row in p], selected.tolist()))
    metrics = classification_metrics([p.label for p in preds], [p.pred for p in preds],
                                     np.array([p.probs for p in preds]), ish=ish)
    metrics["protocol"] = {"N": n, "k": k, "seed": seed} if dataset == "pss" else {"single": True}
    return {"metrics": metrics, "predictions": preds}
