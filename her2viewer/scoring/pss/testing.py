"""Tiny randomly initialised PSS checkpoints for tests and demos of the plumbing (NOT a trained model).

Their model card says so in the name and description; predictions are meaningless.
"""

from __future__ import annotations

from pathlib import Path

from ...models.checkpoint import ModelCard, save_checkpoint
from ...models.registry import create_model
from .sampler import PSSSpec

TEST_MODEL_NAME = "TEST MODEL (random weights, not trained)"


def make_test_checkpoint(path: str | Path, *, n_full: int = 2, n_half: int = 1, whole: bool = True,
                         patch_size: int = 32, mpp: float = 2.0, arch: str = "pss_mobilenetv2",
                         seed: int = 0) -> Path:
    """Save a randomly initialised PSS network with a small input spec; returns the checkpoint stem."""
    import torch

    spec = PSSSpec(n_full=n_full, n_half=n_half, whole=whole, patch_size=patch_size, mpp=mpp)
    torch.manual_seed(seed)
    net = create_model(arch, n_patches=spec.n_patches)
    card = ModelCard(
        name=TEST_MODEL_NAME, architecture={"name": arch, "kwargs": net.config()},
        input_spec={**spec.to_dict(), "mean": list(net.mean), "std": list(net.std)}, version="0-test",
        training_data={"note": "none: randomly initialised for tests"}, command="make_test_checkpoint",
        description="A randomly initialised network for testing the plumbing. Its predictions mean nothing.")
    return save_checkpoint(net, card, path)
