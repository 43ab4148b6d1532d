"""MIL training through `her2viewer train --dataset mil`, 3-way label mapping, and the method comparison."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from her2viewer.models.checkpoint import load_checkpoint
from her2viewer.scoring.asco import SCORES3, SCORES4
from her2viewer.scoring.base import ScoreOptions, create_scorer
from her2viewer.slide import open_slide
from training.compare import CompareConfig, MethodPredictions, compare, format_table, task_metrics
from training.config import TrainConfig
from training.items import map_labels, read_items
from training.metrics import classification_metrics
from training.mil import fit_aggregator, item_features
from training.runner import train

FEATURES = {"backbone": "mobilenetv2_050", "weights": "random:0", "tile_px": 32, "mpp": 4.0, "min_tissue": 0.3}


def test_mil_training_writes_a_scorable_checkpoint(tiny_cores, tmp_path):
    cfg = TrainConfig(data=str(tiny_cores), out=str(tmp_path / "mil"), model="mil_abmil", dataset="mil",
                      epochs=3, lr=1e-3, seed=3, features=dict(FEATURES), feature_cache=str(tmp_path / "fc"),
                      model_kwargs={"hidden": 16, "attn_dim": 8}, val_fraction=0.34)
    rep = train(cfg, command="test")
    model, card = load_checkpoint(rep.checkpoint)
    assert card.method == "mil" and card.architecture["name"] == "mil_abmil"
    assert card.input_spec["tiles"]["tile_px"] == 32 and card.input_spec["extractor"]["weights"] == "random:0"
    assert card.metrics["validation"]["n"] == 4 and len(card.extra["history"]) >= 1
    assert card.training_data["train"]["n_items"] == 8
    # the scorer rebuilds the same features and scores with it
    scorer = create_scorer("mil", ScoreOptions(model_path=str(rep.checkpoint), device="cpu",
                                               extra={"feature_cache": False}))
    item = read_items(tiny_cores)[0]
    with open_slide(item.path) as src:
        from training.data import item_region
        res = scorer.score_region(src, item_region(src, item))
    assert res.score in SCORES4 and res.params["n_tiles"] >= 1


def test_train_evaluate_handles_mil_checkpoints(tiny_cores, tmp_path, capsys, monkeypatch):
    from her2viewer.cli import main
    from her2viewer.scoring.mil.testing import make_test_mil_checkpoint

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    stem = make_test_mil_checkpoint(tmp_path / "tiny", backbone="mobilenetv2_050")
    rc = main(["train", "--evaluate", str(stem), "--data", str(tiny_cores), "--json", "-"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["metrics"]["n"] == 12 and len(out["predictions"]) == 12
    assert all(len(p["probs"]) == 4 for p in out["predictions"])


def test_features_come_from_the_cache_the_second_time(tiny_cores, tmp_path):
    items = read_items(tiny_cores)[:3]
    first = item_features(items, FEATURES, cache_dir=tmp_path / "fc")
    again = item_features(items, FEATURES, cache_dir=tmp_path / "fc")
    assert first.cached == 0 and again.cached == 3
    for a, b in zip(first.bags, again.bags, strict=True):
        np.testing.assert_allclose(a, b, rtol=2e-3, atol=2e-3)  # the cache keeps float16


def test_fit_aggregator_learns_a_separable_toy_problem():
    rng = np.random.default_rng(0)
    bags = [rng.normal(size=(int(rng.integers(2, 9)), 12)).astype(np.float32) for _ in range(24)]
    labels = [i % 2 for i in range(24)]
    for b, y in zip(bags, labels, strict=True):
        b[0, :4] += 4.0 if y else -4.0  # one key instance decides the bag
    fit = fit_aggregator("clam_sb", bags[:16], labels[:16], 2, val_bags=bags[16:], val_labels=labels[16:],
                         epochs=30, lr=3e-3, model_kwargs={"hidden": 16, "attn_dim": 8})
    from her2viewer.models.mil.train import predict_bags
    acc = np.mean(predict_bags(fit.model, bags[16:]).argmax(1) == np.array(labels[16:]))
    assert acc >= 0.75 and fit.history[-1]["train_loss"] < fit.history[0]["train_loss"]


def test_three_way_label_map_and_metrics():
    from training.items import Item
    items = [Item("a", lab, "p") for lab in ("0", "1+", "2+", "3+", "Low")]
    assert [it.label for it in map_labels(items, "3way")] == ["0", "Low", "Low", "High", "Low"]
    m = classification_metrics([0, 1, 2, 1], [0, 1, 1, 1], np.array([[.8, .1, .1], [.1, .8, .1], [.1, .6, .3],
                                                                      [.2, .7, .1]]))
    assert m["classes"] == list(SCORES3) and m["accuracy"] == pytest.approx(0.75)
    assert m["3way"]["accuracy"] == m["accuracy"] and len(m["confusion"]) == 3


def test_task_metrics_of_four_and_three_way_methods():
    y4 = np.array([0, 1, 2, 3, 0, 3])
    perfect = MethodPredictions("x", SCORES4, np.eye(4)[y4])
    m = task_metrics(y4, perfect, np.arange(6))
    assert m["4way"]["accuracy"] == 1.0 and m["3way"]["accuracy"] == 1.0 and m["binary"]["auc"] == 1.0
    # a 3-way method: no 4-way row; calling every case Low is right only for the 1+ and 2+ cases
    low = MethodPredictions("y", SCORES3, np.tile([0.1, 0.8, 0.1], (6, 1)))
    m3 = task_metrics(y4, low, np.arange(6))
    assert "4way" not in m3 and m3["3way"]["accuracy"] == pytest.approx(2 / 6)
    assert m3["binary"]["accuracy"] == pytest.approx(4 / 6)
    table = format_table({"y": {"3way": {"auc": {"mean": .5, "sd": .1}}}})
    assert "| y | n/a | n/a | n/a | 50.0 ± 10.0 |" in table


def test_task_metrics_score_a_method_by_its_own_calls_and_a_missing_call_as_wrong():
    """PSS calls the highest score among its confident samples and rules the ASCO/CAP table: the table reports
    those calls, not the top probability; an item without a call (-1) is wrong in every task."""
    from training.compare import pooled_calibration

    y4 = np.array([0, 1, 2, 3])
    flat = np.tile([0.4, 0.3, 0.2, 0.1], (4, 1))          # top probability: 0 for every item
    own = MethodPredictions("x", SCORES4, flat, calls=np.array([0, 1, 2, -1]))
    m = task_metrics(y4, own, np.arange(4))
    assert m["4way"]["accuracy"] == pytest.approx(3 / 4)      # by the top probability it would be 1/4
    assert m["3way"]["accuracy"] == pytest.approx(3 / 4) and m["binary"]["accuracy"] == pytest.approx(3 / 4)
    assert task_metrics(y4, MethodPredictions("x", SCORES4, flat), np.arange(4))["4way"]["accuracy"] == 0.25
    pooled = pooled_calibration(y4, own)
    assert pooled["n"] == 4 and pooled["accuracy"] == pytest.approx(3 / 4)
    assert pooled["called"] == 3 and pooled["mean_confidence"] == pytest.approx((0.4 + 0.3 + 0.2) / 3)
    table = format_table({"x": {"4way": {"accuracy": {"mean": .75, "sd": 0}}, "pooled": pooled}})
    assert f"| {pooled['ece']:.3f} | {pooled['ece_if_calibrated']:.3f} |" in table


def test_compare_runs_methods_on_the_same_patient_folds(tiny_cores, tmp_path, capsys):
    items = read_items(tiny_cores)
    cfg = CompareConfig(data=str(tiny_cores), methods=("rules", "mil_abmil", "mil_dtfd"), folds=3, mil_epochs=2,
                        features=dict(FEATURES), feature_cache=str(tmp_path / "fc"),
                        predictions_dir=str(tmp_path / "preds"))
    res = compare(cfg, items)
    assert set(res["summary"]) == {"rules", "mil_abmil", "mil_dtfd"}
    folds = res["folds"]
    assert sorted(i for f in folds for i in f) == list(range(len(items)))
    for m in ("rules", "mil_abmil"):
        assert len(res["per_fold"][m]) == 3 and "4way" in res["summary"][m]
    assert "| mil_dtfd |" in res["table"]
    saved = sorted(p.name.split("-")[0] for p in (tmp_path / "preds").iterdir())
    assert saved == ["mil_abmil", "mil_dtfd", "rules"]
    again = compare(cfg, items)  # predictions reused: the same table and the rules' own calls
    assert again["table"] == res["table"]
    assert again["predictions"]["rules"]["calls"] == res["predictions"]["rules"]["calls"]
    assert res["summary"]["rules"]["pooled"]["n"] == len(items)
    from her2viewer.cli import main
    rc = main(["compare", "--data", str(tiny_cores), "--methods", "nope"])
    assert rc != 0 and "unknown method" in capsys.readouterr().err
    json.dumps(res)  # JSON-ready


def test_patch_aggregators_are_fitted_from_labelled_items_and_used_by_the_scorer(tiny_cores, tmp_path):
    from her2viewer.scoring.patch.scorer import PatchScorer
    from her2viewer.scoring.patch.testing import make_test_patch_checkpoint
    from training.patch_aggregators import fit_aggregators

    stem = make_test_patch_checkpoint(tmp_path / "tiny", aggregator=None)
    files = fit_aggregators(stem, tiny_cores, ("rf", "mlp"), cache_dir=tmp_path / "counts")
    assert [f.name for f in files] == ["tiny.aggregator-rf.json", "tiny.aggregator-mlp.json"]
    assert len(list((tmp_path / "counts").glob("patch_counts-*.npy"))) == 1  # counts kept for the next fit
    scorer = PatchScorer(ScoreOptions(model_path=str(stem), device="cpu"))
    assert scorer.aggregator.kind == "rf" and scorer.aggregator.X.shape == (12, len(scorer.patch_classes))


def test_compare_trains_the_low_resolution_model_per_fold(tiny_cores):
    cfg = CompareConfig(data=str(tiny_cores), methods=("lowres",), folds=3, lowres_epochs=1, lowres_size=64)
    res = compare(cfg, read_items(tiny_cores))
    probs = np.asarray(res["predictions"]["lowres"]["probs"])
    assert res["predictions"]["lowres"]["classes"] == list(SCORES3) and probs.shape == (12, 3)
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-4)
    assert "4way" not in res["summary"]["lowres"] and "3way" in res["summary"]["lowres"]


def test_compare_refuses_three_way_labels(tmp_path):
    from training.items import Item
    items = [Item(str(tmp_path / f"{i}.png"), lab, f"p{i}") for i, lab in enumerate(["0", "Low", "High"] * 4)]
    with pytest.raises(ValueError, match="needs 4-way labels"):
        compare(CompareConfig(data="x.csv", methods=("rules",), folds=3), items)


def test_mil_training_says_what_it_does_not_support(tmp_path, capsys):
    """--folds and --finetune were silently ignored for MIL (a fresh aggregator on one split)."""
    from her2viewer.cli import main

    base = ["train", "--dataset", "mil", "--model", "mil_abmil", "--data", str(tmp_path), "--out", str(tmp_path / "m")]
    assert main([*base, "--folds", "3"]) == 2
    assert "her2viewer compare" in capsys.readouterr().err
    assert main([*base, "--finetune", str(tmp_path / "parent")]) == 2
    assert "not supported for MIL" in capsys.readouterr().err


def test_compare_gives_rules_a_call_precision_fitted_without_each_item(tiny_cores, monkeypatch):
    """The shipped profile's call precision was fitted on real_dev; compare fits its own, leaving each item out."""
    from her2viewer.scoring.rules import confidence as conf

    items = read_items(tiny_cores)
    seen = []
    real_fit = conf.fit_call_precision

    def spy(calls, labels, *a, **k):
        seen.append(len(calls))
        return real_fit(calls, labels, *a, **k)

    monkeypatch.setattr(conf, "fit_call_precision", spy)
    res = compare(CompareConfig(data=str(tiny_cores), methods=("rules",), folds=3), items)
    called = sum(c >= 0 for c in res["predictions"]["rules"]["calls"])   # the input checks withhold some
    assert called > 0 and seen == [len(items) - 1] * called  # one matrix per called item, fitted on the others
    probs = np.asarray(res["predictions"]["rules"]["probs"])
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-4)  # stored to 5 places
    calls = res["predictions"]["rules"]["calls"]
    assert all(np.allclose(probs[i], 0.25) for i, c in enumerate(calls) if c < 0)   # no call: nothing known
    # not the bootstrap's near-certainty: every row is mixed through the matrix and its prior
    assert probs.max() < 0.99


def test_compare_reports_a_profile_fitted_on_the_items_by_its_leave_one_out_calls(tiny_cores, tmp_path,
                                                                                    monkeypatch):
    """Cut-offs fitted on the items would score them in-sample: compare takes the profile's held-out calls."""
    from her2viewer.scoring.rules import calibrate as C
    from her2viewer.scoring.rules import profile as P

    images = C.measure_folder(tiny_cores)
    prof, _, loo = C.calibrated_profile(images, P.StainProfile(), "scale", "tiny")
    monkeypatch.setattr(P, "DEFAULT_PROFILE", prof.save(tmp_path / "fitted.json"))
    items = read_items(tiny_cores)
    res = compare(CompareConfig(data=str(tiny_cores), methods=("rules",), folds=3), items)
    want = [SCORES4.index(c) if c in SCORES4 else -1 for c in loo.predictions]
    assert res["predictions"]["rules"]["calls"] == want
    assert "was fitted on these cases: its leave-one-out calls" in res["notes"]["rules"]
    # other items (one label changed): scored afresh
    other = [dataclasses.replace(it, label="3+" if it.label != "3+" else "0") if i == 0 else it
             for i, it in enumerate(items)]
    res = compare(CompareConfig(data=str(tiny_cores), methods=("rules",), folds=3), other)
    assert "fitted on these cases" not in res["notes"]["rules"]


def test_compare_says_when_the_pss_model_was_fine_tuned_on_real_cases():
    from her2viewer.models.checkpoint import RESOURCES_MODELS
    from training.compare import finetune_note

    note = finetune_note(None, "pss")   # the bundled default: fine-tuned on the 26 real_dev images
    assert "fine-tuned on 26 labelled real cases" in note and "in-sample" in note
    assert "--pss-model resources/models/pss_synth" in note
    assert finetune_note(str(RESOURCES_MODELS / "pss_synth"), "pss") == ""   # synthetic only: nothing to say


def test_the_compare_command_prints_each_method_note(tiny_cores, capsys):
    from her2viewer.cli import main

    assert main(["compare", "--data", str(tiny_cores), "--methods", "rules", "--folds", "2"]) == 0
    out = capsys.readouterr().out
    assert "note, rules: confidence: call precision fitted on the other items" in out
    assert "calibration, rules: ECE " in out and "a perfectly calibrated method with the same confidences" in out


@pytest.mark.shared
def test_compare_reports_the_fine_tuned_pss_by_its_held_out_predictions_on_real_dev(shared_data):
    """The bundled PSS was fine-tuned on real_dev: compare takes its card's cross-validated predictions there
    instead of scoring the images again with the model fitted on them."""
    from her2viewer.models.checkpoint import default_model_path, read_card

    data = shared_data / "real_dev"
    items = read_items(data)
    res = compare(CompareConfig(data=str(data), methods=("pss",), folds=5), items)
    held = read_card(default_model_path("pss")).metrics["finetune_cv"]["held_out"]
    assert "held-out predictions" in res["notes"]["pss"]
    probs = np.asarray(res["predictions"]["pss"]["probs"])
    assert probs.shape == (26, 4)
    first = held["files"].index(Path(items[0].path).name)
    assert np.allclose(probs[0], held["probs"][first], atol=1e-4)
    # its accuracy is that of PSS's own held-out calls at the card's temperature, as the scorer makes them
    right = np.mean([c == y for c, y in zip(held["calls"], held["labels"], strict=True)])
    assert res["summary"]["pss"]["pooled"]["accuracy"] == pytest.approx(right) and right > 0.5
