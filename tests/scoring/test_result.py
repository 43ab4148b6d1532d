"""ScoreResult: JSON round trip exactly as the contract, and the contract check's error messages."""

from __future__ import annotations

import json

import numpy as np
import pytest

from her2viewer.scoring.result import (
    CellDetections,
    ContractError,
    CoreResult,
    Evidence,
    Heatmap,
    ModelInfo,
    PatchBox,
    SampleRecord,
    ScoreResult,
    validate_contract,
)

PROBS = {"0": 0.01, "1+": 0.2, "2+": 0.7, "3+": 0.09}


def _result() -> ScoreResult:
    return ScoreResult(
        slide="core.png", method="pss", score="2+", probabilities=PROBS,
        model=ModelInfo("pss_default", "ab" * 32, "1"),
        samples=[SampleRecord("2+", PROBS, 0.5, True), SampleRecord("1+", PROBS, 0.1, False)],
        cores=[CoreResult("A1", (10, 20, 300, 300), "2+", "Low", PROBS, 0.5)],
        cells={"n": 10, "pct_complete_strong": 3.0},
        evidence=Evidence(
            patch_boxes=[PatchBox((1, 2, 3, 4), 0, "2+")],
            cells=CellDetections(np.array([1.0, 2.0]), np.array([3.0, 4.0]), np.array([0, 3]),
                                 np.array([False, True])),
            heatmaps=[Heatmap("density", np.array([[0.0, 0.5], [1.0, np.nan]]), (0.0, 0.0), 64.0)],
        ),
        elapsed_s=1.25,
    )


def test_three_way_follows_the_ish_rule():
    r = _result()
    assert r.score3 == "Low"
    r2 = ScoreResult("s", "rules", "2+", PROBS, ModelInfo("m"), ish_positive=True)
    assert r2.score3 == "High"


def test_json_round_trip_keeps_everything():
    r = _result()
    d = json.loads(r.to_json())
    validate_contract(d)
    for key in ("slide", "method", "model", "score", "score3", "probabilities", "samples", "cores", "cells",
                "elapsed_s"):
        assert key in d
    back = ScoreResult.from_json(r.to_json())
    assert back.score == "2+" and back.score3 == "Low"
    assert back.model == r.model
    assert back.samples == r.samples
    assert back.cores[0].bbox == (10, 20, 300, 300)
    assert back.evidence.patch_boxes == r.evidence.patch_boxes
    np.testing.assert_array_equal(back.evidence.cells.intensity, [0, 3])
    hm = back.evidence.heatmaps[0]
    assert hm.values.shape == (2, 2) and np.isnan(hm.values[1, 1]) and hm.values[1, 0] == 1.0


def test_save_and_load(tmp_path):
    p = tmp_path / "r.json"
    _result().save(p)
    assert ScoreResult.load(p).score == "2+"


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.pop("score"), "missing key 'score'"),
        (lambda d: d.update(score="4+"), "score '4+'"),
        (lambda d: d.update(score3="Medium"), "score3 'Medium'"),
        (lambda d: d.update(probabilities={"0": 1.0}), "exactly the keys"),
        (lambda d: d.update(probabilities={"0": 0.5, "1+": 0.5, "2+": 0.5, "3+": 0.0}), "sum to"),
        (lambda d: d["samples"].append({"score": "2+"}), "samples[2] needs"),
        (lambda d: d["cores"][0].update(bbox=[1, 2]), "bbox must be"),
        (lambda d: d["model"].pop("sha256"), "sha256 is missing"),
    ],
)
def test_contract_errors_name_the_problem(mutate, message):
    d = json.loads(_result().to_json())
    mutate(d)
    with pytest.raises(ContractError, match=message.replace("[", r"\[").replace("+", r"\+")):
        validate_contract(d)


def test_load_names_the_file_on_bad_json(tmp_path):
    p = tmp_path / "bad.json"
    p.write_text("{not json", encoding="utf-8")
    with pytest.raises(ContractError, match="bad.json"):
        ScoreResult.load(p)
