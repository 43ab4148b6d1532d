"""Short real training runs on a dozen tiny synthetic cores: loss falls, resume, fine-tuning, CLI."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from her2viewer.models.checkpoint import load_checkpoint, read_card
from training.augment import Augment
from training.data import PSSDataset
from training.items import class_names, label_indices, read_items
from training.runner import make_spec, train


@pytest.mark.slow
def test_two_epoch_run_loss_falls_and_writes_a_full_card(tiny_cores, tiny_config, tmp_path):
    cfg = dataclasses.replace(tiny_config, data=str(tiny_cores), val_data=str(tiny_cores),
                              test_data=str(tiny_cores), out=str(tmp_path / "m"))
    report = train(cfg, command="her2viewer train --data X")
    hist = report.fits[0].history
    assert [h["epoch"] for h in hist] == [0, 1]
    assert hist[1]["train_loss"] < hist[0]["train_loss"]
    model, card = load_checkpoint(tmp_path / "m")
    assert card.architecture == {"name": "pss_mobilenetv2", "kwargs": {"n_patches": 5, "num_classes": 4,
                                                                       "drop_rate": 0.0}}
    assert card.input_spec["patch_size"] == 48 and card.input_spec["mean"]
    assert card.training_data["train"]["counts"] == {"0": 3, "1+": 3, "2+": 3, "3+": 3}
    assert card.training_data["train"]["seeds"] == "100-111"
    assert card.training_data["train"]["generator_version"].startswith("synth-")
    assert card.command == "her2viewer train --data X" and card.extra["config"]["epochs"] == 2
    assert card.metrics["test"]["protocol"] == {"N": 4, "k": 2, "seed": cfg.seed + 2}
    assert card.metrics["test"]["n"] == 12 and len(card.metrics["test"]["confusion"]) == 4
    assert "hardware" in card.extra and card.extra["training_time_s"] > 0
    log = json.loads((tmp_path / "m.metrics.json").read_text())
    assert len(log) == 2 and (tmp_path / "m.metrics.csv").read_text().startswith("epoch,")


@pytest.mark.slow
def test_resume_continues_from_the_saved_epoch(tiny_cores, tiny_config, tmp_path):
    base = dataclasses.replace(tiny_config, data=str(tiny_cores), val_data=str(tiny_cores),
                               out=str(tmp_path / "m"), nk_on_val=False)
    first = train(dataclasses.replace(base, epochs=1))
    assert first.fits[0].epochs_run == 1
    again = train(dataclasses.replace(base, epochs=2, resume=str(tmp_path / "m.state")))
    hist = again.fits[0].history
    assert [h["epoch"] for h in hist] == [0, 1]
    assert hist[0] == first.fits[0].history[0]  # the first epoch comes from the state, not re-run


@pytest.mark.slow
def test_finetuned_card_names_its_parent(tiny_cores, tiny_config, tmp_path):
    parent_cfg = dataclasses.replace(tiny_config, data=str(tiny_cores), val_data=str(tiny_cores),
                                     out=str(tmp_path / "parent"), epochs=1, nk_on_val=False)
    train(parent_cfg)
    parent = read_card(tmp_path / "parent")
    child_cfg = dataclasses.replace(parent_cfg, out=str(tmp_path / "child"), finetune=str(tmp_path / "parent"),
                                    freeze_backbone=True, spec={})
    train(child_cfg)
    child = read_card(tmp_path / "child")
    assert child.parent == f"{parent.name} sha256:{parent.sha256}"
    assert child.extra["parent_checkpoint"]["sha256"] == parent.sha256
    assert child.input_spec["patch_size"] == 48  # the parent's input spec is kept
    assert child.sha256 != parent.sha256


def test_pss_samples_are_reproducible_per_seed_and_epoch(tiny_cores):
    items = read_items(tiny_cores)
    labels = label_indices(items, class_names(items))
    spec = make_spec({"n_full": 3, "n_half": 1, "patch_size": 48, "mpp": 1.0})
    a = PSSDataset(items, labels, spec, seed=1, augment=Augment())
    b = PSSDataset(items, labels, spec, seed=1, augment=Augment())
    assert np.array_equal(a[3][0].numpy(), b[3][0].numpy())
    b.set_epoch(1)
    assert not np.array_equal(a[3][0].numpy(), b[3][0].numpy())  # a fresh PSS every epoch
    assert a[3][0].shape == (15, 48, 48)


def test_preload_in_processes_keeps_samplers_that_read_their_slide_on_demand(tiny_cores, monkeypatch):
    from her2viewer.scoring.pss.sampler import PSSSampler

    # nothing fits in memory: every sampler keeps its open slide, which cannot be sent between processes
    monkeypatch.setattr(PSSSampler.__init__, "__defaults__", (16,))
    items = read_items(tiny_cores)[:4]
    labels = label_indices(items, class_names(items))
    spec = make_spec({"n_full": 3, "n_half": 1, "patch_size": 48, "mpp": 1.0})
    ds = PSSDataset(items, labels, spec, seed=1, augment=Augment.off())
    ds.preload(2)  # raised MaybeEncodingError ("cannot pickle '_thread.RLock' object") before
    ref = PSSDataset(items, labels, spec, seed=1, augment=Augment.off())
    for i in range(len(items)):
        assert not ds.sampler_for(i).in_memory
        assert np.array_equal(ds[i][0].numpy(), ref[i][0].numpy())


@pytest.mark.slow
def test_cli_trains_and_evaluates(tiny_cores, tmp_path, capsys):
    from her2viewer.cli import main

    cfg = tmp_path / "cfg.toml"
    cfg.write_text('init = "random"\nbatch_size = 6\nnum_workers = 0\nnk_on_val = false\n'
                   '[spec]\nn_full = 2\nn_half = 1\npatch_size = 32\nmpp = 1.0\n')
    rc = main(["train", "--config", str(cfg), "--data", str(tiny_cores), "--val-data", str(tiny_cores),
               "--epochs", "1", "--out", str(tmp_path / "c"), "--seed", "3"])
    assert rc == 0
    card = read_card(tmp_path / "c")
    assert "--epochs 1" in card.command and card.extra["config"]["seed"] == 3
    capsys.readouterr()
    rc = main(["train", "--evaluate", str(tmp_path / "c"), "--data", str(tiny_cores), "-N", "3", "-k", "2",
               "--num-workers", "0", "--json", "-"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["metrics"]["n"] == 12 and len(out["predictions"]) == 12
    assert all(len(p["sample_probs"]) == 3 and sum(p["selected"]) == 2 for p in out["predictions"])


def test_cli_errors_are_one_line(tmp_path, capsys):
    from her2viewer.cli import main

    assert main(["train", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and "Traceback" not in err
    bad = tmp_path / "bad.toml"
    bad.write_text("epochs = 3\nfoo = 1\n")
    assert main(["train", "--config", str(bad), "--data", str(tmp_path), "--out", str(tmp_path / "x")]) == 2
    assert "unknown setting(s) foo" in capsys.readouterr().err


def test_evaluate_a_three_way_model_on_four_way_labels(tiny_cores, capsys):
    """--evaluate maps 0 / 1+ / 2+ / 3+ to 0 / Low / High for a 3-way checkpoint, as training does."""
    from her2viewer.cli import main
    from her2viewer.models.checkpoint import default_model_path

    rc = main(["train", "--evaluate", str(default_model_path("lowres")), "--data", str(tiny_cores),
               "--num-workers", "0", "--json", "-"])
    assert rc == 0, capsys.readouterr().err
    out = json.loads(capsys.readouterr().out)
    assert out["metrics"]["n"] == 12 and out["metrics"]["classes"] == ["0", "Low", "High"]
