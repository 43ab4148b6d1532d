"""Settings for seconds-long training runs (the tiny cores are a fixture of tests/conftest.py)."""

from __future__ import annotations

import pytest


@pytest.fixture()
def tiny_config():
    """Settings for a seconds-long CPU run on the tiny cores."""
    from training.config import TrainConfig

    return TrainConfig(model="pss_mobilenetv2", init="imagenet", epochs=2, batch_size=6, lr=5e-4,
                       samples_per_item=3, num_workers=0, eval_n=4, eval_k=2, seed=7, early_stopping=0,
                       spec={"n_full": 3, "n_half": 1, "whole": True, "patch_size": 48, "mpp": 1.0})
