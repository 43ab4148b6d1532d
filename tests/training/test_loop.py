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


def test_validation_loss_stays_finite_when_validation_has_a_class_training_lacks():
    from torch import nn

    from training.loop import validation_loss

    train, val = [0, 0, 1, 1], [2, 2]
    loss_fn = nn.CrossEntropyLoss(weight=class_weights(train, 4))
    logits, y = torch.randn(2, 4), torch.tensor(val)
    assert torch.isnan(loss_fn(logits, y))                              # the weight-0 class: 0 / 0
    chosen = validation_loss(train, val, 4, loss_fn, "cpu")
    assert chosen is not loss_fn and torch.isfinite(chosen(logits, y))
    assert validation_loss(train, [0, 1], 4, loss_fn, "cpu") is loss_fn  # the usual case is unchanged


def test_cross_validation_on_six_cases_of_three_patients_runs_to_the_end(tmp_path, capsys):
    """Each fold holds out one patient whose class the other folds lack (issue: fold 3 saved no model)."""
    from her2viewer.cli import main
    from her2viewer.models.checkpoint import default_model_path, read_card

    assert main(["synth", str(tmp_path / "six"), "--cores", "6", "--seed", "3", "--diameter", "320"]) == 0
    from pathlib import Path

    config = Path(__file__).resolve().parents[2] / "training" / "configs" / "lowres_default.toml"
    rc = main(["train", "--config", str(config), "--finetune",
               str(default_model_path("lowres")), "--epochs", "1", "--num-workers", "0",
               "--data", str(tmp_path / "six"), "--folds", "3", "--out", str(tmp_path / "m")])
    assert rc == 0, capsys.readouterr().err
    card = read_card(tmp_path / "m")
    assert card.metrics["cv"]["folds"] == 3 and len(card.metrics["cv"]["per_fold"]) == 3
