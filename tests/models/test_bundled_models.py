"""The bundled default checkpoints: present, loadable, honest cards, and each scores a core through its method."""

from __future__ import annotations

import cv2
import pytest

from her2viewer.models.checkpoint import RESOURCES_MODELS, default_model_path, load_checkpoint, read_card
from her2viewer.scoring.base import ScoreOptions, create_scorer
from her2viewer.scoring.result import validate_contract
from her2viewer.slide import open_slide
from her2viewer.slide.region import Region
from her2viewer.synth.core import generate_core

#: stem name -> (method, extra scorer options)
BUNDLED = {
    "pss": ("pss", {}),
    "lowres": ("lowres", {}),
    "lowres_synth": ("lowres", {}),
    "pss_synth": ("pss", {}),
    "patch": ("patch", {}),
    "mil_abmil": ("mil", {"aggregator": "abmil"}),
    "mil_clam_sb": ("mil", {"aggregator": "clam_sb"}),
    "mil_clam_mb": ("mil", {"aggregator": "clam_mb"}),
    "mil_dtfd": ("mil", {"aggregator": "dtfd"}),
}


@pytest.fixture(scope="module")
def small_core(tmp_path_factory):
    path = tmp_path_factory.mktemp("bundled") / "core.png"
    core = generate_core("3+", 4242, diameter_px=700)
    cv2.imwrite(str(path), cv2.cvtColor(core.image, cv2.COLOR_RGB2BGR))
    return path


def _stem(name: str):
    """A bundled checkpoint: `<method>_default`, or a kept parent such as lowres_synth or pss_synth."""
    return RESOURCES_MODELS / name if (RESOURCES_MODELS / f"{name}.json").is_file() else default_model_path(name)


@pytest.mark.parametrize("name", sorted(BUNDLED))
def test_bundled_card_is_complete_and_honest(name):
    stem = _stem(name)
    card = read_card(stem)
    _, loaded = load_checkpoint(stem)  # weights match the card's sha256 and architecture
    assert loaded.sha256 == card.sha256
    assert card.method == BUNDLED[name][0]
    assert "synthetic" in card.description.lower() and "not a medical device" in card.description.lower()
    if card.parent:   # fine-tuned on real cases: its parent is bundled too, and the card says on what and how well
        parent_name, sha = card.parent.split(" sha256:")
        assert read_card(RESOURCES_MODELS / parent_name).sha256 == sha
        train, cv = card.training_data["train"], card.metrics["finetune_cv"]
        assert train["licence"] and sum(train["counts"].values()) == cv["finetuned"]["n"] == cv["base"]["n"]
        assert card.training_data["replay"]["generator_version"].startswith("synth-")
        assert card.command.startswith("python -m training.finetune") and card.extra["config"]["replay"]
        assert 0.05 <= card.extra["calibration"]["temperature"] <= 20.0
        return
    assert card.training_data["train"]["generator_version"].startswith("synth-")
    assert card.training_data["train"]["seeds"] and card.command and card.extra["config"]
    assert card.metrics, "a bundled model states what it measured"


@pytest.mark.parametrize("name", sorted(BUNDLED))
def test_bundled_model_scores_a_core(name, small_core, tmp_path):
    method, extra = BUNDLED[name]
    kept_parent = None if _stem(name) == default_model_path(name) else str(_stem(name))
    scorer = create_scorer(method, ScoreOptions(device="cpu", n_samples=4, top_k=2, model_path=kept_parent,
                                                extra={**extra, "feature_cache": str(tmp_path)}))
    with open_slide(small_core) as src:
        res = scorer.score_region(src, Region((0, 0, *src.dimensions), None, "slide"))
    assert res.model.sha256 == read_card(_stem(name)).sha256
    validate_contract(res.to_dict())
