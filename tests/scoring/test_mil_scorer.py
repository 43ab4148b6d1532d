"""The "mil" scorer: CLI contract with the attention heatmap, the feature cache, 3-way mapping, errors."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from her2viewer.cli import main
from her2viewer.models import checkpoint as ckpt_mod
from her2viewer.models.checkpoint import CheckpointError
from her2viewer.scoring.base import ScoreOptions, create_scorer
from her2viewer.scoring.mil.common import THREE_WAY_NOTE
from her2viewer.scoring.mil.testing import TEST_MIL_MODEL_NAME, make_test_mil_checkpoint
from her2viewer.scoring.result import ContractError, ScoreResult, validate_contract
from her2viewer.slide import open_slide
from her2viewer.slide.region import Region
from her2viewer.synth.core import generate_core


@pytest.fixture(scope="module")
def core_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("mil")
    core = generate_core("2+", 0, diameter_px=800)
    cv2.imwrite(str(d / "core.png"), cv2.cvtColor(core.image, cv2.COLOR_RGB2BGR))
    for agg in ("abmil", "clam_mb", "dtfd"):
        make_test_mil_checkpoint(d / f"tiny_{agg}", aggregator=agg)
    make_test_mil_checkpoint(d / "tiny3", aggregator="clam_sb", classes=("0", "Low", "High"))
    return d


@pytest.fixture(autouse=True)
def _cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))


def _score_cli(args, capsys):
    rc = main(["score", *args])
    out = capsys.readouterr()
    return rc, out.out, out.err


@pytest.mark.parametrize("agg", ["abmil", "clam_mb", "dtfd"])
def test_cli_json_meets_the_contract_and_carries_the_heatmap(core_dir, agg, capsys):
    rc, out, err = _score_cli([str(core_dir / "core.png"), "--method", "mil", "--model",
                               str(core_dir / f"tiny_{agg}"), "--device", "cpu", "--json", "-"], capsys)
    assert rc == 0, err
    doc = json.loads(out)
    validate_contract(doc)
    assert doc["method"] == "mil" and doc["model"]["name"] == TEST_MIL_MODEL_NAME
    assert doc["params"]["aggregator"] == agg
    heat = [h for h in doc["evidence"]["heatmaps"] if h["name"] == "mil_attention"]
    assert len(heat) == 1
    vals = np.array([np.nan if v is None else v for v in heat[0]["values"]], float).reshape(heat[0]["shape"])
    on = vals[~np.isnan(vals)]
    assert on.size == doc["params"]["n_tiles"] >= 2 and on.max() == pytest.approx(1.0) and on.min() >= 0
    # 64 px at 2 um/px, in level-0 px of the image's pixel size (estimated from its nuclei: no mpp in the PNG)
    assert doc["qc"]["mpp_source"] == "estimated"
    assert heat[0]["l0_cell_size"] == pytest.approx(128.0 / doc["qc"]["mpp"], rel=1e-3)
    assert len(doc["evidence"]["patch_boxes"]) == min(10, on.size)
    ScoreResult.from_dict(doc)


def test_rescoring_uses_the_feature_cache(core_dir):
    opts = ScoreOptions(device="cpu", model_path=str(core_dir / "tiny_abmil"))
    scorer = create_scorer("mil", opts)
    with open_slide(core_dir / "core.png") as src:
        region = Region((0, 0, *src.dimensions), None, "slide")
        calls = scorer.extractor.calls
        first = scorer.score_region(src, region)
        assert scorer.extractor.calls > calls and not first.params["features_cached"]
        calls = scorer.extractor.calls
        second = scorer.score_region(src, region)
    assert scorer.extractor.calls == calls and second.params["features_cached"]
    assert second.score == first.score
    np.testing.assert_allclose(list(second.probabilities.values()), list(first.probabilities.values()), atol=1e-3)


def test_three_way_model_gives_score3_only_and_says_so(core_dir):
    scorer = create_scorer("mil", ScoreOptions(device="cpu", model_path=str(core_dir / "tiny3")))
    with open_slide(core_dir / "core.png") as src:
        r = scorer.score_region(src, Region((0, 0, *src.dimensions), None, "slide"))
    p3 = r.params["probabilities3"]
    assert set(p3) == {"0", "Low", "High"}
    assert r.score3 == max(p3, key=p3.get)
    assert r.score is None and r.probabilities == pytest.approx(p3)     # no 4-way score made up
    assert r.confidence == pytest.approx(p3[r.score3])
    assert THREE_WAY_NOTE in r.explanation
    validate_contract(r.to_dict())
    bad = r.to_dict()
    bad["probabilities"] = {"0": 1.0, "1+": 0.0, "2+": 0.0, "3+": 0.0}
    with pytest.raises(ContractError, match="Low"):
        validate_contract(bad)


def test_missing_default_checkpoint_is_named(tmp_path, monkeypatch, core_dir, capsys):
    monkeypatch.setattr(ckpt_mod, "RESOURCES_MODELS", tmp_path / "models")
    rc, out, err = _score_cli([str(core_dir / "core.png"), "--method", "mil", "--json", "-"], capsys)
    assert rc != 0 and out == ""
    assert "mil_dtfd_default.safetensors" in err and "not there" in err and len(err.strip().splitlines()) == 1
    with pytest.raises(CheckpointError, match="mil_dtfd_default.safetensors"):
        create_scorer("mil", ScoreOptions(extra={"aggregator": "dtfd"}))


def test_wrong_aggregator_and_foreign_features_are_refused(core_dir, tmp_path):
    with pytest.raises(CheckpointError, match="not the asked-for aggregator 'clam_sb'"):
        create_scorer("mil", ScoreOptions(device="cpu", model_path=str(core_dir / "tiny_abmil"),
                                          extra={"aggregator": "clam_sb"}))
    with pytest.raises(ValueError, match="unknown MIL aggregator"):
        create_scorer("mil", ScoreOptions(extra={"aggregator": "transmil"}))
    stem = make_test_mil_checkpoint(tmp_path / "other", weights="random:0")
    card = json.loads(stem.with_suffix(".json").read_text())
    card["input_spec"]["extractor"]["weights"] = "random:5"  # features from another encoder than trained on
    stem.with_suffix(".json").write_text(json.dumps(card))
    with pytest.raises(CheckpointError, match="trained on features of weights"):
        create_scorer("mil", ScoreOptions(device="cpu", model_path=str(stem)))
