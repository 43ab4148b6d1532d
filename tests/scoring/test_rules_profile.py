"""Stain profiles for the rules scorer (shipped, --profile, bad files), `her2viewer calibrate` (fit,
leave-one-out, not-assessable images), and the cohesion rule for tumour cells."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from her2viewer.cli import main
from her2viewer.scoring.rules import calibrate as C
from her2viewer.scoring.rules.params import MembraneThresholds, NucleusParams
from her2viewer.scoring.rules.profile import (
    DEFAULT_PROFILE,
    ProfileError,
    StainProfile,
    default_profile,
    profile_extra,
)
from her2viewer.scoring.rules.scorer import RulesScorer
from her2viewer.scoring.rules.tiles import cohesive
from her2viewer.synth.core import generate_core

from ..conftest import write_labelled_cores


def test_shipped_profile_is_honest_and_used_by_default():
    prof = default_profile()
    assert prof.path == str(DEFAULT_PROFILE)
    # fitted on real IHC, with the data's licence and leave-one-out figures; its synthetic start ships beside it
    assert "real_dev" in prof.fitted_on and "BCI" in prof.data_licence
    cv = prof.cross_validation
    assert cv["method"] == "leave-one-out" and cv["n"] == 26 and cv["accuracy"] > cv["before"]["accuracy"]
    assert prof.confidence and "leave-one-out calls" in prof.confidence["fitted_on"]
    synthetic = StainProfile.load(DEFAULT_PROFILE.with_name("rules_synthetic.json"))
    assert "not fitted on real IHC" in synthetic.fitted_on and synthetic.membrane == MembraneThresholds()
    assert prof.membrane.faint == synthetic.membrane.faint      # the intensity fit keeps the faint cut
    params = RulesScorer().params
    assert params.membrane == prof.membrane and params.positive_pct == prof.positive_pct
    assert params.profile["name"] == prof.name
    # an explicit cut-off wins over the profile
    from her2viewer.scoring.base import ScoreOptions

    own = RulesScorer(ScoreOptions(extra={"rules": {"membrane": {"strong": 0.9}}})).params
    assert own.membrane.strong == 0.9 and own.profile is None


@pytest.mark.shared
def test_shipped_profile_is_what_its_command_fits(shared_data):
    # the command in the profile's fitted_on, as a function: the same cut-offs and leave-one-out figures
    prof = default_profile()
    start = StainProfile.load(DEFAULT_PROFILE.with_name("rules_synthetic.json"))
    images = C.measure_folder(shared_data / "real_dev")
    membrane, pct, _ = C.fit_profile(images, start, mode="intensity")
    assert membrane == prof.membrane and pct == prof.positive_pct
    loo = C.leave_one_out(images, start, mode="intensity")
    assert round(loo.accuracy, 4) == prof.cross_validation["accuracy"]
    assert loo.confusion().tolist() == prof.cross_validation["confusion"]


def test_profile_round_trip_and_bad_files(tmp_path):
    prof = StainProfile(MembraneThresholds(0.05, 0.15, 0.4, 0.6), 12.5, 0.073, "lab A", fitted_on="x")
    path = prof.save(tmp_path / "p.json")
    back = StainProfile.load(path)
    assert back.membrane == prof.membrane and back.positive_pct == 12.5 and back.sector_floor == 0.073
    extra = profile_extra(back)
    assert extra["membrane"]["strong"] == 0.4 and extra["cell"]["sector_floor"] == 0.073
    cases = {
        "missing.json": None,
        "text.json": "this is not json",
        "format.json": json.dumps({"format": "something-else"}),
        "order.json": json.dumps({"format": "her2viewer-stain-profile/1",
                                  "thresholds": {"faint": 0.5, "moderate": 0.2, "strong": 0.6, "complete": 0.5}}),
        "number.json": json.dumps({"format": "her2viewer-stain-profile/1",
                                   "thresholds": {"faint": "low", "moderate": 0.2, "strong": 0.6, "complete": 0.5}}),
    }
    for name, text in cases.items():
        p = tmp_path / name
        if text is not None:
            p.write_text(text)
        with pytest.raises(ProfileError) as err:
            StainProfile.load(p)
        assert str(p) in str(err.value)


@pytest.fixture(scope="module")
def core3(tmp_path_factory):
    d = tmp_path_factory.mktemp("profile")
    path = d / "core3.png"
    img = generate_core("3+", seed=4, diameter_px=900, mpp=0.5).image
    cv2.imwrite(str(path), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    return path


def test_score_profile_changes_the_call_and_is_recorded(core3, tmp_path, capsys):
    out = tmp_path / "r.json"
    assert main(["score", str(core3), "--method", "rules", "--mpp", "0.5", "--json", str(out)]) == 0
    shipped = json.loads(out.read_text())
    assert shipped["score"] in ("2+", "3+") and shipped["params"]["profile"]["name"] == default_profile().name
    strict = StainProfile(MembraneThresholds(0.073, 4.0, 5.0, 0.512), name="nothing is intense")
    strict.save(tmp_path / "strict.json")
    assert main(["score", str(core3), "--method", "rules", "--mpp", "0.5", "--profile",
                 str(tmp_path / "strict.json"), "--json", str(out)]) == 0
    d = json.loads(out.read_text())
    assert d["score"] in ("0", "1+") and d["params"]["profile"]["name"] == "nothing is intense"
    (tmp_path / "bad.json").write_text("{")
    capsys.readouterr()
    assert main(["score", str(core3), "--profile", str(tmp_path / "bad.json")]) == 2
    assert "bad.json" in capsys.readouterr().err


def _measured(label: str, od: float, comp: float, n: int = 200, seed: int = 0) -> C.MeasuredImage:
    rng = np.random.default_rng(seed)
    return C.MeasuredImage(f"{label}-{seed}.png", label,
                           np.clip(rng.normal(od, od * 0.1, n), 0, None).astype(np.float32),
                           np.clip(rng.normal(comp, 0.05, n), 0, 1).astype(np.float32))


def test_fit_recovers_a_paler_stain_and_leave_one_out_scores_held_out_images():
    # a lab whose staining reads half as dark as the shipped cut-offs expect
    pattern = {"0": (0.02, 0.2), "1+": (0.07, 0.3), "2+": (0.17, 0.9), "3+": (0.4, 0.95)}
    images = [_measured(lab, od, comp, seed=s) for s in range(3) for lab, (od, comp) in pattern.items()]
    shipped = default_profile()
    before = C.evaluate(images, shipped.membrane, shipped.positive_pct)
    membrane, pct, loss = C.fit_profile(images, shipped)
    after = C.evaluate(images, membrane, pct)
    loo = C.leave_one_out(images, shipped)
    assert before.accuracy < 0.8 and after.accuracy == 1.0 and loss == 0.0
    assert loo.accuracy >= 0.9 and len(loo.predictions) == len(images)
    assert membrane.strong < shipped.membrane.strong


def test_too_few_tumour_cells_is_not_assessable_and_not_fitted_on():
    images = [_measured("2+", 0.3, 0.9, n=10), _measured("0", 0.01, 0.1), _measured("3+", 0.8, 0.95)]
    ev = C.evaluate(images, MembraneThresholds(), 10.0)
    assert ev.predictions[0] == C.NOT_ASSESSABLE and ev.not_assessable == 1
    assert ev.accuracy == 1.0 and ev.confusion()[2, 4] == 1


def test_calibrate_command(tmp_path, capsys):
    data = write_labelled_cores(tmp_path / "lab", ["0", "1+", "2+", "3+"] * 2, 60, 700)
    out = tmp_path / "lab.json"
    assert main(["calibrate", "--data", str(data), "--out", str(out), "--mpp", "0.5", "--licence", "ours"]) == 0
    text = capsys.readouterr().out
    assert "before" in text and "leave-one-out" in text and "label \\ called" in text
    prof = StainProfile.load(out)
    assert prof.n_images == 8 and prof.data_licence == "ours" and prof.sector_floor == C.MEASURE_SECTOR_FLOOR
    assert prof.cross_validation["method"] == "leave-one-out" and prof.cross_validation["n"] == 8
    # the lab's own call precision, from its leave-one-out calls, with the ECE before and after
    conf = prof.confidence
    assert conf is not None and conf["n"] == 8 - prof.cross_validation["not_assessable"]
    assert sum(map(sum, conf["counts_rows_call_cols_label"])) == conf["n"]
    assert "ECE" in text and f"{conf['ece_calibrated_loo']:.3f}" in text
    (data / "labels.csv").write_text("file,label\nc0.png,5+\n")
    assert main(["calibrate", "--data", str(data), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "labels.csv" in err and "5+" in err


def test_cohesion_keeps_nests_and_drops_scattered_nuclei():
    rng = np.random.default_rng(0)
    nest = rng.normal(0, 15, (60, 2)) + 500          # 60 nuclei in a nest (um at 1 um/px)
    scattered = rng.uniform(0, 3000, (40, 2))        # stromal nuclei far apart
    pts = np.concatenate([nest, scattered])
    keep = cohesive(pts[:, 0], pts[:, 1], np.ones(len(pts), bool), 1.0, NucleusParams())
    assert keep[:60].mean() > 0.9 and keep[60:].mean() < 0.2
    off = cohesive(pts[:, 0], pts[:, 1], np.ones(len(pts), bool), 1.0, NucleusParams(cohesion_min=0))
    assert off.all()


def test_intensity_fit_recovers_strong_membranes_that_read_paler_than_a_scale_allows():
    # unstained cells as dark as the shipped faint cut allows, but complete strong membranes of only ~0.3 OD:
    # a factor small enough for the 3+ calls the 0 images 1+
    pattern = {"0": (0.05, 0.2), "1+": (0.12, 0.3), "2+": (0.2, 0.9), "3+": (0.3, 0.95)}
    images = [_measured(lab, od, comp, seed=s) for s in range(3) for lab, (od, comp) in pattern.items()]
    shipped = default_profile()
    scale = C.evaluate(images, *C.fit_profile(images, shipped, "scale")[:2])
    membrane, pct, loss = C.fit_profile(images, shipped, "intensity")
    assert C.evaluate(images, membrane, pct).accuracy == 1.0 and loss == 0.0
    assert scale.accuracy < 1.0                                   # one factor cannot split 2+ from 3+ here
    assert membrane.faint == shipped.membrane.faint and 0.2 < membrane.strong <= 0.33
    assert C.leave_one_out(images, shipped, mode="intensity").accuracy >= 0.9
