"""Tiny randomly initialised patch-classifier checkpoints (and aggregators) for tests. NOT trained models."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...models.checkpoint import ModelCard, save_checkpoint
from ...models.registry import create_model
from ..asco import SCORES4
from .aggregate import CountAggregator
from .scorer import aggregator_path

TEST_PATCH_MODEL_NAME = "TEST PATCH MODEL (random weights, not trained)"


def make_test_patch_checkpoint(path: str | Path, *, arch: str = "patch_mobilenetv2",
                               classes: tuple[str, ...] = (*SCORES4, "Stroma"), tile_px: int = 64,
                               mpp: float = 2.0, size: int = 64, aggregator: str | None = "rf", seed: int = 0
                               ) -> Path:
    """Save a random patch classifier (and an aggregator fitted on random count vectors); returns the stem."""
    import torch

    torch.manual_seed(seed)
    net = create_model(arch, num_classes=len(classes))
    card = ModelCard(
        name=TEST_PATCH_MODEL_NAME, architecture={"name": arch, "kwargs": net.config()}, classes=list(classes),
        input_spec={"tile_px": tile_px, "mpp": mpp, "min_tissue": 0.3, "size": size, "mean": list(net.mean),
                    "std": list(net.std)},
        version="0-test", method="patch", training_data={"note": "none: randomly initialised for tests"},
        command="make_test_patch_checkpoint",
        description="A randomly initialised patch classifier for testing the plumbing. Predictions mean nothing.")
    stem = save_checkpoint(net, card, path)
    if aggregator and aggregator != "vote":
        rng = np.random.default_rng(seed)
        X = rng.dirichlet(np.ones(len(classes)), size=40)
        y = np.arange(40) % 4
        CountAggregator(aggregator, list(SCORES4), list(classes)).fit(X, y).save(aggregator_path(stem, aggregator))
    return stem
