"""Tiny randomly initialised MIL checkpoints for tests (NOT trained models: their predictions mean nothing).

The model card says so in its name and description. Features come from a seeded random-weight backbone
("random:0") on small tiles, so a test scores a synthetic core in a second.
"""

from __future__ import annotations

from pathlib import Path

from ...features import TileSpec, get_extractor
from ...models.checkpoint import ModelCard, save_checkpoint
from ...models.mil import MIL_MODELS
from ...models.registry import create_model
from .scorer import mil_input_spec

TEST_MIL_MODEL_NAME = "TEST MIL MODEL (random weights, not trained)"
TEST_TILES = TileSpec(tile_px=64, mpp=2.0, min_tissue=0.3)


def make_test_mil_checkpoint(path: str | Path, *, aggregator: str = "abmil", classes: tuple[str, ...] | None = None,
                             backbone: str = "mobilenetv2_050", weights: str = "random:0",
                             tiles: TileSpec = TEST_TILES, seed: int = 0) -> Path:
    """Save a random MIL aggregator on the features of `backbone`/`weights`; returns the checkpoint stem."""
    import torch

    classes = tuple(classes or ("0", "1+", "2+", "3+"))
    ext = get_extractor(backbone, weights, "cpu")
    torch.manual_seed(seed)
    net = create_model(MIL_MODELS[aggregator], in_dim=ext.dim, num_classes=len(classes), hidden=32, attn_dim=16)
    card = ModelCard(
        name=TEST_MIL_MODEL_NAME, architecture={"name": MIL_MODELS[aggregator], "kwargs": net.config()},
        classes=list(classes), input_spec=mil_input_spec(ext.identity(), tiles, weights), version="0-test",
        method="mil", training_data={"note": "none: randomly initialised for tests"},
        command="make_test_mil_checkpoint",
        description="A randomly initialised MIL aggregator for testing the plumbing. Its predictions mean nothing.")
    return save_checkpoint(net, card, path)
