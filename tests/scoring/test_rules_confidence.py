"""The rules scorer's confidence through a stain profile's call precision on labelled real images."""

from __future__ import annotations

import json

import numpy as np
import pytest

from her2viewer.scoring.base import ScoreOptions
from her2viewer.scoring.rules.confidence import (
    apply_call_precision,
    call_precision_section,
    fit_call_precision,
    prior_row,
)
from her2viewer.scoring.rules.profile import ProfileError, StainProfile, default_profile, profile_extra

from ..conftest import write_labelled_cores
from .test_rules import draw_cells, score

SURE = {"1+": {"0": 0.0025, "1+": 0.9925, "2+": 0.0025, "3+": 0.0025}}


def test_the_matrix_is_the_labels_of_each_call_with_a_weak_prior():
    calls = ["1+"] * 20
    labels = ["1+"] * 10 + ["2+"] * 8 + ["0"] * 2
    m = fit_call_precision(calls, labels)
    assert m.shape == (4, 4) and np.allclose(m.sum(1), 1.0)
    assert m[1, 1] == pytest.approx((10 + 2 * 0.6) / 22)  # counts plus two pseudo-images of the prior
    assert m[1, 2] == pytest.approx((8 + 2 * 0.2) / 22)
    assert np.allclose(m[3], prior_row(3))  # a call never made keeps the prior
    assert prior_row(3).argmax() == 3 and prior_row(0)[1] > 0 and prior_row(0)[3] == 0


def test_applying_it_mixes_the_rows_by_the_bootstrap():
    m = fit_call_precision(["1+", "3+"], ["2+", "3+"])
    q = apply_call_precision({"1+": 0.5, "3+": 0.5}, m)
    assert sum(q.values()) == pytest.approx(1.0)
    assert [q[s] for s in ("0", "1+", "2+", "3+")] == pytest.approx(list(0.5 * m[1] + 0.5 * m[3]))


def test_section_measures_an_overconfident_bootstrap_and_leaves_each_image_out():
    # 20 "1+" calls, all at 0.99 by the bootstrap, right only half the time
    calls = ["1+"] * 20 + ["3+"]
    labels = ["1+"] * 10 + ["2+"] * 10 + ["3+"]
    boot = [SURE["1+"]] * 20 + [{"0": 0.0025, "1+": 0.0025, "2+": 0.0025, "3+": 0.9925}]
    sec = call_precision_section(calls, labels, boot, fitted_on="test")
    assert sec["n"] == 21 and sec["accuracy"] == pytest.approx(11 / 21, abs=1e-4)
    assert sec["ece_bootstrap"] > 0.4 and sec["mean_confidence_bootstrap"] > 0.95
    # on the whole, the calibrated confidence is about how often the calls were right
    assert abs(sec["mean_confidence_calibrated_loo"] - sec["accuracy"]) < 0.1
    # the one 3+ call is scored with a matrix fitted without it: the prior alone for its row
    assert sec["mean_confidence_calibrated_loo"] < sec["mean_confidence_bootstrap"]
    assert sec["counts_rows_call_cols_label"][3] == [0, 0, 0, 1]
    # images without a call (not assessable) are left out
    sec2 = call_precision_section(calls + ["n/a"], labels + ["0"], boot + [None], fitted_on="test")
    assert sec2["n"] == 21


def test_profile_round_trips_the_confidence_and_refuses_a_bad_matrix(tmp_path):
    sec = call_precision_section(["1+", "2+"], ["1+", "3+"], [SURE["1+"], SURE["1+"]], fitted_on="t")
    path = StainProfile(confidence=sec).save(tmp_path / "p.json")
    back = StainProfile.load(path)
    assert back.confidence["matrix"] == sec["matrix"]
    assert profile_extra(back)["confidence_matrix"] == sec["matrix"]
    d = json.loads(path.read_text())
    for bad in ([[1.0, 0.0, 0.0]] * 4, [[0.5, 0.0, 0.0, 0.0]] * 4, "x", [[-0.5, 1.5, 0.0, 0.0]] * 4):
        d["confidence"] = {**sec, "matrix": bad}
        path.write_text(json.dumps(d))
        with pytest.raises(ProfileError, match="p.json.*confidence.matrix"):
            StainProfile.load(path)
    d["confidence"] = {"method": "magic", "matrix": sec["matrix"]}
    path.write_text(json.dumps(d))
    with pytest.raises(ProfileError, match="p.json.*method"):
        StainProfile.load(path)


def test_shipped_profile_carries_its_real_ihc_call_precision():
    conf = default_profile().confidence
    assert conf is not None and conf["n"] >= 20
    # the bootstrap says how stable a call is (0.95 on average), the call precision how often such calls were
    # right: it brings the mean confidence to the accuracy (the 10-bin ECE of 23 leave-one-out calls is mostly
    # the artefact of leaving each call out of its own precision, see README)
    assert abs(conf["mean_confidence_calibrated_loo"] - conf["accuracy"]) < 0.1
    assert abs(conf["mean_confidence_bootstrap"] - conf["accuracy"]) > 0.25
    assert "non-commercial" in conf["data_licence"]


def test_scorer_confidence_is_the_call_precision_of_its_bootstrap():
    img, _ = draw_cells([(0.15, 0.4)] * 15 + [(0.0, 0.0)])  # a clear 1+ on the cells
    m = np.array(default_profile().confidence["matrix"])
    r = score(img)
    boot = r.params["bootstrap_probabilities"]
    assert r.score == "1+" and boot["1+"] > 0.9
    want = apply_call_precision(boot, m)
    assert r.probabilities == pytest.approx(want, abs=1e-3)  # params round the bootstrap to 4 places
    assert r.confidence == pytest.approx(want["1+"], abs=1e-3) and r.confidence < boot["1+"] - 0.1
    assert "call precision" in r.params["probabilities"]
    # measured on breast calls only: gastric criteria keep the bootstrap
    g = score(img, options=ScoreOptions(criteria="gastric"))
    assert g.probabilities == pytest.approx(g.params["bootstrap_probabilities"], abs=1e-4)
    # a profile without one (or explicit cut-offs) keeps the bootstrap
    own = score(img, options=ScoreOptions(extra={"rules": {"membrane": {"strong": 0.505}}}))
    assert own.probabilities == pytest.approx(own.params["bootstrap_probabilities"], abs=1e-4)
    with pytest.raises(ValueError, match="confidence_matrix"):
        score(img, options=ScoreOptions(extra={"rules": {"confidence_matrix": [[1.0]]}}))


def test_a_call_the_precision_lowers_is_explained_in_sentences():
    from her2viewer.scoring.rules.scorer import precision_note, with_sentences

    boot = {"0": 0.0, "1+": 0.99, "2+": 0.01, "3+": 0.0}
    note = precision_note("1+", boot, {"0": 0.15, "1+": 0.45, "2+": 0.34, "3+": 0.06})
    assert "Confidence 45%" in note and "99% of resamples" in note
    assert precision_note("3+", {"3+": 0.99}, {"3+": 0.9}) == ""  # lowered by less than 0.2: nothing to say
    assert with_sentences("Complete staining in 12%.", note, "") == f"Complete staining in 12%. {note}."
    assert with_sentences("Score 0 (HER2-null)", "") == "Score 0 (HER2-null)"
    assert with_sentences("Score 0 (HER2-null)", "Two.", "Three") == "Score 0 (HER2-null). Two. Three."


def test_a_calibrated_score_above_the_call_is_named_for_the_reviewer():
    """bci_00014 (a 2+ slide) reads 1+ on its cells, 2+ in a third of resamples; through the shipped call
    precision 2+ came out more probable than the 1+ call, and the old sentence misquoted the 1+ call's precision."""
    from her2viewer.scoring.rules.confidence import apply_call_precision
    from her2viewer.scoring.rules.scorer import precision_note

    matrix = np.array([[0.75, 0.25, 0.0, 0.0], [0.13, 0.48, 0.34, 0.05], [0.0, 0.08, 0.44, 0.48],
                       [0.0, 0.0, 0.1, 0.9]])
    boot = {"0": 0.0025, "1+": 0.6411, "2+": 0.354, "3+": 0.0025}
    probs = apply_call_precision(boot, matrix)
    assert probs["2+"] > probs["1+"]
    note = precision_note("1+", boot, probs, matrix)
    assert "1+ in 64% and 2+ in 35% of resamples" in note
    assert "a 1+ call had that label 48% of the time and a 2+ call 44%" in note
    assert f"was 1+ about {probs['1+']:.0%}" in note
    assert f"more often 2+ ({probs['2+']:.0%}) than 1+" in note
    # the call is also the most probable score: no sentence on another score
    clear = {"0": 0.0, "1+": 0.99, "2+": 0.01, "3+": 0.0}
    assert "more often" not in precision_note("1+", clear, apply_call_precision(clear, matrix), matrix)


def test_scored_real_like_call_explains_its_lowered_confidence():
    img, _ = draw_cells([(0.15, 0.4)] * 15 + [(0.0, 0.0)])
    r = score(img)
    assert "labelled real images" in r.explanation and r.explanation.endswith(".")
    assert ".." not in r.explanation


def test_rules_confidence_command_writes_the_section_into_a_profile(tmp_path, capsys):
    from training.rules_confidence import main

    data = write_labelled_cores(tmp_path / "lab", ["1+", "2+", "3+", "3+"], 80, 600)
    prof = StainProfile().save(tmp_path / "p.json")
    assert main(["--data", str(data), "--profile", str(prof), "--write", "--licence", "ours"]) == 0
    out = capsys.readouterr().out
    assert "bootstrap alone" in out and "call precision (LOO)" in out
    conf = StainProfile.load(prof).confidence
    assert conf["data_licence"] == "ours" and conf["n"] >= 1
    assert np.allclose(np.array(conf["matrix"]).sum(1), 1.0, atol=1e-3)


def test_rules_confidence_refuses_to_overwrite_a_fitted_profiles_leave_one_out_precision(tmp_path, capsys):
    # a profile fitted on the images must keep the call precision of its leave-one-out calls (calibrate's),
    # not get one from its own in-sample calls
    from training.rules_confidence import main

    data = write_labelled_cores(tmp_path / "lab", ["1+", "2+", "3+", "3+"], 80, 600)
    fitted = StainProfile(cross_validation={"method": "leave-one-out", "n": 4}).save(tmp_path / "fitted.json")
    before = fitted.read_text()
    assert main(["--data", str(data), "--profile", str(fitted), "--write"]) == 2
    assert "leave-one-out calls of `her2viewer calibrate`" in capsys.readouterr().err
    assert fitted.read_text() == before
