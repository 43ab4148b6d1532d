"""A dozen tiny synthetic cores (a few hundred px) written once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from training.synth_data import write_balanced_set


@pytest.fixture(scope="session")
def tiny_cores(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with 12 class-balanced synthetic cores of 320 px and labels.csv."""
    out = tmp_path_factory.mktemp("tiny_cores")
    write_balanced_set(out, list(range(100, 112)), diameters=(320,), workers=1)
    return out


@pytest.fixture()
def tiny_config():
    """Settings for a seconds-long CPU run on the tiny cores."""
    from training.config import TrainConfig

    return TrainConfig(model="pss_mobilenetv2", init="imagenet", epochs=2, batch_size=6, lr=5e-4,
                       samples_per_item=3, num_workers=0, eval_n=4, eval_k=2, seed=7, early_stopping=0,
                       spec={"n_full": 3, "n_half": 1, "whole": True, "patch_size": 48, "mpp": 1.0})
