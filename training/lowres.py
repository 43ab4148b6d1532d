"""The low-resolution classifier (IPD-Breast approach b) trained in memory, for cross-validation folds:
the same datasets, augmentation and loop (`training.loop.fit`) as `her2viewer train --dataset lowres`, the
epoch of lowest selection loss kept, no files written."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np
from torch import nn

from her2viewer.progress import Task

from .augment import Augment
from .config import TrainConfig
from .data import LowResDataset
from .evaluate import predict_probs
from .items import Item
from .loop import fit, resolve_device, seed_everything

#: the recipe used when none is given (light augmentation: colour carries the label)
LOWRES_AUGMENT: dict[str, Any] = {"flip": True, "rot90": True, "affine_p": 0.3, "stain_p": 0.5,
                                  "dab_scale": 0.05, "hema_scale": 0.10}


def fit_lowres(items: Sequence[Item], labels: Sequence[int], val_items: Sequence[Item], val_labels: Sequence[int],
               *, model: str = "lowres_convnext_atto", size: int = 224, epochs: int = 30, lr: float = 1e-3,
               seed: int = 0, device: str = "cpu", batch_size: int = 16, pretrained: bool = False,
               task: Task | None = None) -> nn.Module:
    """Train a fresh 3-way low-resolution classifier (random or local ImageNet init); returns the model of the
    best validation loss."""
    from .runner import build_model, make_dataset

    n_classes = max(3, int(max(list(labels) + list(val_labels))) + 1)
    cfg = TrainConfig(dataset="lowres", model=model, init="imagenet" if pretrained else "random", epochs=epochs,
                      batch_size=batch_size, lr=lr, weight_decay=5e-2, plateau_patience=2, early_stopping=5,
                      seed=seed, device=device, num_workers=0, lowres_size=size, augment=dict(LOWRES_AUGMENT))
    seed_everything(seed)
    net, _, _ = build_model(cfg, n_classes, 1)
    train_ds = make_dataset(cfg, items, labels, None, train=True)
    val_ds = make_dataset(cfg, val_items, val_labels, None, train=False)
    best: dict[str, Any] = {}

    def on_best(m: nn.Module, epoch: int, row: dict[str, Any]) -> None:
        best["state"] = copy.deepcopy(m.state_dict())

    fit(net, train_ds, val_ds, cfg, n_classes=n_classes, on_best=on_best, task=task)
    if "state" in best:
        net.load_state_dict(best["state"])
    return net.eval()


def predict_lowres(model: nn.Module, items: Sequence[Item], size: int = 224, device: str = "cpu") -> np.ndarray:
    """(n items, C) class probabilities of each item's whole image at size x size."""
    ds = LowResDataset(items, [0] * len(items), size=size, augment=Augment.off())
    return predict_probs(model, ds, device=resolve_device(device), batch_size=16, num_workers=0, task=Task())
