"""Class weights, training state round trip."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from training.loop import class_weights
from training.state import load_state, read_state_meta, save_state


def test_weights_are_inverse_class_frequency_normalised():
    labels = [0] * 10 + [1] * 5 + [2] * 2 + [3] * 1
    w = class_weights(labels, 4).numpy()
    counts = np.bincount(labels)
    assert w.sum() == pytest.approx(1.0)
    prod = w * counts  # inversely proportional: weight x count is the same for every class
    assert np.allclose(prod, prod[0])
    assert w[3] == pytest.approx(10 * w[0])


def test_absent_class_gets_zero_weight():
    w = class_weights([0, 0, 1, 3], 4).numpy()
    assert w[2] == 0.0
    assert w[1] == pytest.approx(2 * w[0])


def test_state_round_trip_restores_model_optimizer_and_epoch(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=0)
    for _ in range(3):
        opt.zero_grad()
        model(torch.randn(8, 4)).sum().backward()
        opt.step()
    sched.step(1.0)
    sched.step(2.0)  # plateau: lr reduced
    save_state(tmp_path / "s", model, opt, sched, epoch=4, extra={"best_val_loss": float("inf")})
    assert not list(tmp_path.glob("*.pt")) and not list(tmp_path.glob("*.pkl"))
    model2 = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3))
    opt2 = torch.optim.AdamW(model2.parameters(), lr=1e-2)
    sched2 = torch.optim.lr_scheduler.ReduceLROnPlateau(opt2, patience=0)
    meta = load_state(tmp_path / "s", model2, opt2, sched2)
    assert meta["epoch"] == 4 and meta["extra"]["best_val_loss"] == float("inf")
    for a, b in zip(model.state_dict().values(), model2.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert opt2.param_groups[0]["lr"] == pytest.approx(opt.param_groups[0]["lr"])
    s1, s2 = opt.state_dict()["state"], opt2.state_dict()["state"]
    assert torch.equal(s1[0]["exp_avg"], s2[0]["exp_avg"]) and float(s2[0]["step"]) == 3.0
    assert read_state_meta(tmp_path / "s.safetensors")["epoch"] == 4
