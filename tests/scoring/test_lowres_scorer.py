"""The "lowres" scorer and its ConvNeXt models."""

from __future__ import annotations

import json

import numpy as np
import pytest

from her2viewer.cli import main
from her2viewer.models import checkpoint as ckpt_mod
from her2viewer.models.checkpoint import CheckpointError
from her2viewer.models.pretrained import PretrainedWeightsError
from her2viewer.models.registry import create_model
from her2viewer.scoring.base import ScoreOptions, create_scorer
from her2viewer.scoring.lowres.testing import TEST_LOWRES_MODEL_NAME, make_test_lowres_checkpoint
from her2viewer.scoring.result import validate_contract
from her2viewer.slide.array_source import ArraySlide
from her2viewer.slide.region import Region
from her2viewer.synth.core import generate_core


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return make_test_lowres_checkpoint(tmp_path_factory.mktemp("lowres") / "tiny")


@pytest.mark.parametrize("name", ["lowres_convnext_atto", "lowres_mobilenetv2"])
def test_lowres_models_give_three_logits(name):
    import torch

    net = create_model(name).eval()
    with torch.no_grad():
        assert net(torch.zeros(2, 3, 64, 64)).shape == (2, 3)
    assert net.config() == {"num_classes": 3, "drop_rate": 0.0}


def test_convnext_without_local_weights_says_so():
    with pytest.raises(PretrainedWeightsError, match="convnext_atto"):
        create_model("lowres_convnext_atto", pretrained=True)
    with pytest.raises(ValueError, match="stacks of 5 patches"):
        create_model("lowres_convnext_atto", n_patches=5)


def test_score_is_three_way_only_and_meets_the_contract(ckpt):
    src = ArraySlide(generate_core("3+", 2, diameter_px=600).image, mpp=0.5, name="core")
    scorer = create_scorer("lowres", ScoreOptions(device="cpu", model_path=str(ckpt)))
    r = scorer.score_region(src, Region((10, 10, 300, 300), None, "A1"))
    assert r.params["frame"] == [10, 10, 300, 300] and r.params["size"] == 64
    p3 = r.params["probabilities3"]
    assert r.score3 == max(p3, key=p3.get) and r.score is None and set(r.probabilities) == {"0", "Low", "High"}
    assert r.model.name == TEST_LOWRES_MODEL_NAME
    validate_contract(r.to_dict())
    whole = scorer.score_region(src, Region((10, 10, 300, 300), None, "slide"))
    assert whole.params["frame"] == [0, 0, 325, 325]   # the tissue squared with a 5% margin, within the image
    # a whole slide that is mostly glass: the model sees the tissue, not the glass stretched to S x S
    import numpy as np

    big = np.full((3000, 4000, 3), 240, np.uint8)
    big[1000:1600, 2000:2600] = src.read_region(0, 0, 0, 600, 600)
    fx, fy, fw, fh = scorer.frame(ArraySlide(big, mpp=0.5), Region((2000, 1000, 600, 600), None, "slide"))
    assert (fx, fy, fw, fh) == (1970, 970, 660, 660)


def test_missing_default_checkpoint_is_named(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(ckpt_mod, "RESOURCES_MODELS", tmp_path / "models")
    with pytest.raises(CheckpointError, match="lowres_default.safetensors"):
        create_scorer("lowres", ScoreOptions())


def test_cli_lowres_json(ckpt, tmp_path, capsys):
    import cv2

    cv2.imwrite(str(tmp_path / "core.png"), generate_core("0", 0, diameter_px=600).image[..., ::-1])
    rc = main(["score", str(tmp_path / "core.png"), "--method", "lowres", "--model", str(ckpt), "--json", "-"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    doc = json.loads(out.out)
    validate_contract(doc)
    assert doc["method"] == "lowres" and set(doc["params"]["probabilities3"]) == {"0", "Low", "High"}
    assert np.isclose(sum(doc["probabilities"].values()), 1.0)


def test_the_cards_temperature_is_applied(ckpt, tmp_path):
    import json
    import shutil

    src = ArraySlide(generate_core("3+", 2, diameter_px=600).image, mpp=0.5, name="core")
    region = Region((10, 10, 300, 300), None, "A1")
    plain = create_scorer("lowres", ScoreOptions(device="cpu", model_path=str(ckpt))).score_region(src, region)
    hot = tmp_path / "hot"
    shutil.copy(f"{ckpt}.safetensors", f"{hot}.safetensors")
    card = json.loads(open(f"{ckpt}.json").read())
    card.setdefault("extra", {})["calibration"] = {"temperature": 5.0, "fitted_on": "test"}
    open(f"{hot}.json", "w").write(json.dumps(card))
    flat = create_scorer("lowres", ScoreOptions(device="cpu", model_path=str(hot))).score_region(src, region)
    assert flat.score3 == plain.score3                      # the call stays
    assert flat.confidence < plain.confidence or plain.confidence == pytest.approx(1 / 3, abs=1e-3)
    assert max(flat.probabilities.values()) - min(flat.probabilities.values()) <= \
        max(plain.probabilities.values()) - min(plain.probabilities.values()) + 1e-9
