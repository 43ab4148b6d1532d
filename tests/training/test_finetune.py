"""Fine-tuning on a lab's cases: base vs fine-tuned by cross-validation, a staged checkpoint with its card,
small data refused with a sentence, and the child-process command line."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from her2viewer.models.checkpoint import load_checkpoint, read_card
from her2viewer.models.library import cases_file
from training.finetune import FinetuneRequest, run_finetune
from training.items import read_items


def _subset_csv(tiny_cores: Path, tmp_path: Path, n: int) -> Path:
    items = read_items(tiny_cores)[:n]
    path = tmp_path / "cases.csv"
    path.write_text("path,label,patient_id\n" + "".join(f"{it.path},{it.label},{it.patient_id}\n" for it in items))
    return path


@pytest.mark.slow
def test_finetune_cross_validates_and_stages_a_model_with_an_honest_card(tiny_cores, tiny_pss_base, tmp_path):
    req = FinetuneRequest(items_csv=str(tiny_cores / "labels.csv"), method="pss", base=str(tiny_pss_base),
                          name="lab_model", staging=str(tmp_path / "stage"), epochs=2, folds=3, eval_n=4,
                          eval_k=2, samples_per_item=2, num_workers=0, replay=str(tiny_cores))
    events: list[dict] = []
    out = run_finetune(req, events.append)
    kinds = [e["event"] for e in events]
    assert kinds[0] == "plan" and kinds[-1] == "done" and "base" in kinds and "finetuned" in kinds
    epochs = [e for e in events if e["event"] == "epoch"]
    assert [e["phase"] for e in epochs] == ["fold 1/3"] * 2 + ["fold 2/3"] * 2 + ["fold 3/3"] * 2 + ["final"] * 2
    assert all(np.isfinite(e["train_loss"]) for e in epochs)
    base, tuned = out["base"], out["finetuned"]
    assert base["n"] == tuned["n"] == 12
    assert sum(map(sum, base["confusion"])) == sum(map(sum, tuned["confusion"])) == 12
    assert 0.0 <= tuned["ece"] <= 1.0 and 0.05 <= tuned["temperature"] <= 20.0
    model, card = load_checkpoint(out["checkpoint"])
    parent = read_card(tiny_pss_base)
    assert card.name == "lab_model" and card.parent == f"{parent.name} sha256:{parent.sha256}"
    assert card.metrics["finetune_cv"]["finetuned"]["accuracy"] == tuned["accuracy"]
    assert card.metrics["finetune_cv"]["base"]["accuracy"] == base["accuracy"]
    assert card.training_data["train"]["counts"] == {"0": 3, "1+": 3, "2+": 3, "3+": 3}
    assert card.extra["calibration"]["temperature"] == pytest.approx(tuned["temperature"], abs=1e-3)
    # the fine-tuned figures are at that temperature, as shipped; the untempered ones are kept beside them
    assert card.extra["calibration"]["ece_before"] == pytest.approx(tuned["uncalibrated"]["ece"], abs=1e-4)
    assert card.extra["calibration"]["ece_after"] == pytest.approx(tuned["ece"], abs=1e-4)
    assert card.input_spec["n_full"] == 3 and card.sha256 != parent.sha256
    kept = cases_file(out["checkpoint"])
    assert kept.read_text() == (tiny_cores / "labels.csv").read_text()
    assert card.training_data["train"]["cases_file"] == "lab_model.cases.csv"
    assert card.training_data["replay"]["counts"] == {"0": 3, "1+": 3, "2+": 3, "3+": 3}
    # every case's held-out probabilities travel in the card, so `compare` need not score the cases again
    held = card.metrics["finetune_cv"]["held_out"]
    assert len(held["files"]) == len(held["labels"]) == len(held["probs"]) == 12
    assert held["classes"] == ["0", "1+", "2+", "3+"] and held["temperature"] == card.extra["calibration"]["temperature"]
    assert np.allclose(np.sum(held["probs"], axis=1), 1.0, atol=1e-3)
    assert sorted(held["labels"]) == sorted(["0", "1+", "2+", "3+"] * 3)
    # PSS's own (KCS / max) calls, whose accuracy is the card's, and each sample's raw probabilities
    calls = np.array([held["classes"].index(c) for c in held["calls"]])
    labels = np.array([held["classes"].index(c) for c in held["labels"]])
    assert np.mean(calls == labels) == pytest.approx(tuned["accuracy"])
    assert len(held["sample_probs"]) == 12 and np.allclose(np.sum(held["sample_probs"][0], axis=1), 1.0, atol=1e-3)
    from training.compare import held_out_predictions

    items = read_items(tiny_cores)
    pred = held_out_predictions(out["checkpoint"], "pss", items)
    assert pred is not None and "held-out predictions" in pred.note
    assert np.array_equal(pred.pred_index(), [calls[held["files"].index(Path(it.path).name)] for it in items])
    assert held_out_predictions(out["checkpoint"], "pss", items[:5]) is not None   # a subset is found too
    # a card from before the calls were kept: the top probability, and the note says so
    older = tmp_path / "older"
    older.mkdir()
    shutil.copy(Path(out["checkpoint"]).with_suffix(".safetensors"), older / "lab_model.safetensors")
    data = json.loads(Path(out["checkpoint"]).with_suffix(".json").read_text())
    del data["metrics"]["finetune_cv"]["held_out"]["calls"]
    (older / "lab_model.json").write_text(json.dumps(data))
    old = held_out_predictions(str(older / "lab_model"), "pss", items)
    assert old is not None and old.calls is None and "keeps no calls" in old.note
    assert held_out_predictions(str(tiny_pss_base), "pss", items) is None           # no fine-tune: none


def test_one_case_is_refused_with_the_reason(tiny_cores, tiny_pss_base, tmp_path):
    req = FinetuneRequest(items_csv=str(_subset_csv(tiny_cores, tmp_path, 1)), method="pss",
                          base=str(tiny_pss_base), name="x", staging=str(tmp_path / "stage"), num_workers=0)
    events: list[dict] = []
    with pytest.raises(ValueError, match="at least 2 classes"):
        run_finetune(req, events.append)
    assert events[0]["event"] == "plan" and not events[0]["ok"]
    assert not (tmp_path / "stage").exists()


def test_child_process_prints_one_json_event_per_line_and_a_sentence_on_error(tmp_path):
    bad = tmp_path / "request.json"
    bad.write_text(json.dumps({"items_csv": str(tmp_path / "none.csv"), "method": "pss",
                               "base": "resources/models/pss_default", "name": "x",
                               "staging": str(tmp_path / "s")}))
    proc = subprocess.run([sys.executable, "-m", "training.finetune", "--request", str(bad)],
                          capture_output=True, text=True, timeout=120, cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == 2
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    assert events[-1]["event"] == "error" and "none.csv" in events[-1]["message"]
    bad.write_text(json.dumps({"items_csv": "x", "method": "mil", "base": "b", "name": "x", "staging": "s"}))
    proc = subprocess.run([sys.executable, "-m", "training.finetune", "--request", str(bad)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "cannot fine-tune the 'mil' method" in proc.stdout


@pytest.mark.slow
def test_command_line_form_fine_tunes_a_labelled_folder(tiny_cores, tiny_pss_base, tmp_path, capsys):
    from training.finetune import main

    assert main(["--data", str(tiny_cores), "--method", "pss", "--base", str(tiny_pss_base),
                 "--out", str(tmp_path / "out" / "m"), "--epochs", "1"]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert events[0]["scheme"] == "leave-one-patient-out (12 folds)" and events[-1]["event"] == "done"
    card = read_card(tmp_path / "out" / "m")
    assert card.metrics["finetune_cv"]["folds"] == 12 and cases_file(tmp_path / "out" / "m").is_file()
