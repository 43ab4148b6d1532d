"""Tiny randomly initialised low-resolution checkpoints for tests (NOT trained: predictions mean nothing)."""

from __future__ import annotations

from pathlib import Path

from ...models.checkpoint import ModelCard, save_checkpoint
from ...models.lowres import LOWRES_CLASSES
from ...models.registry import create_model

TEST_LOWRES_MODEL_NAME = "TEST LOWRES MODEL (random weights, not trained)"


def make_test_lowres_checkpoint(path: str | Path, *, arch: str = "lowres_convnext_atto", size: int = 64,
                                classes: tuple[str, ...] = LOWRES_CLASSES, seed: int = 0) -> Path:
    """Save a randomly initialised low-resolution classifier taking size x size images; returns the stem."""
    import torch

    torch.manual_seed(seed)
    net = create_model(arch, num_classes=len(classes))
    card = ModelCard(
        name=TEST_LOWRES_MODEL_NAME, architecture={"name": arch, "kwargs": net.config()}, classes=list(classes),
        input_spec={"size": size, "mean": list(net.mean), "std": list(net.std)}, version="0-test",
        method="lowres", training_data={"note": "none: randomly initialised for tests"},
        command="make_test_lowres_checkpoint",
        description="A randomly initialised classifier for testing the plumbing. Its predictions mean nothing.")
    return save_checkpoint(net, card, path)
