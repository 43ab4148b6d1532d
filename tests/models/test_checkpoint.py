"""Checkpoints: safetensors + JSON model card round trip, and every way a checkpoint can fail to fit."""

from __future__ import annotations

import json

import pytest
import torch

from her2viewer.models.checkpoint import (
    CheckpointError,
    ModelCard,
    default_model_path,
    load_checkpoint,
    save_checkpoint,
)
from her2viewer.models.registry import create_model
from her2viewer.scoring.pss.sampler import PSSSpec

SPEC = PSSSpec(n_full=2, n_half=1, whole=True, patch_size=32, mpp=2.0)


def _card(net, **kw) -> ModelCard:
    return ModelCard(name="test-model (random weights, tests only)",
                     architecture={"name": "pss_mobilenetv2", "kwargs": net.config()},
                     input_spec={**SPEC.to_dict(), "mean": list(net.mean), "std": list(net.std)},
                     training_data={"note": "none: randomly initialised test model"}, command="pytest", **kw)


@pytest.fixture()
def saved(tmp_path):
    torch.manual_seed(0)
    net = create_model("pss_mobilenetv2", n_patches=SPEC.n_patches).eval()
    stem = save_checkpoint(net, _card(net), tmp_path / "ckpt")
    return net, stem


def _edit_card(stem, fn) -> None:
    p = stem.with_suffix(".json")
    d = json.loads(p.read_text())
    fn(d)
    p.write_text(json.dumps(d))


def test_round_trip_from_stem_or_either_file(saved):
    net, stem = saved
    assert stem.with_suffix(".safetensors").is_file() and stem.with_suffix(".json").is_file()
    x = torch.randn(1, SPEC.channels, 32, 32)
    with torch.inference_mode():
        ref = net(x)
    for p in (stem, stem.with_suffix(".json"), stem.with_suffix(".safetensors")):
        model, card = load_checkpoint(p)
        assert not model.training
        assert card.classes == ["0", "1+", "2+", "3+"] and len(card.sha256) == 64 and card.created
        assert PSSSpec.from_dict(card.input_spec) == SPEC
        with torch.inference_mode():
            torch.testing.assert_close(model(x), ref)


def test_changed_weights_fail_the_sha256_check(saved, tmp_path):
    _, stem = saved
    other = create_model("pss_mobilenetv2", n_patches=SPEC.n_patches)
    save_checkpoint(other, _card(other), tmp_path / "other")
    stem.with_suffix(".safetensors").write_bytes((tmp_path / "other.safetensors").read_bytes())
    with pytest.raises(CheckpointError, match="sha256"):
        load_checkpoint(stem)


def test_bad_json_names_the_card_file(saved):
    _, stem = saved
    stem.with_suffix(".json").write_text("{not json")
    with pytest.raises(CheckpointError, match=r"ckpt\.json.*not valid JSON"):
        load_checkpoint(stem)


def test_missing_files_are_named(tmp_path, saved):
    with pytest.raises(CheckpointError, match=r"nothing\.safetensors.*not found"):
        load_checkpoint(tmp_path / "nothing")
    _, stem = saved
    stem.with_suffix(".json").unlink()
    with pytest.raises(CheckpointError, match=r"ckpt\.json.*not found"):
        load_checkpoint(stem)


def test_corrupt_weights_file(saved):
    _, stem = saved
    data = b"\x10\x00\x00\x00\x00\x00\x00\x00garbage!garbage!"
    stem.with_suffix(".safetensors").write_bytes(data)
    import hashlib

    _edit_card(stem, lambda d: d.update(sha256=hashlib.sha256(data).hexdigest()))
    with pytest.raises(CheckpointError, match="not a valid safetensors"):
        load_checkpoint(stem)


def test_shape_mismatch_is_listed(saved):
    _, stem = saved
    _edit_card(stem, lambda d: d["architecture"]["kwargs"].update(n_patches=7))
    with pytest.raises(CheckpointError, match=r"conv_stem\.weight: shape \(32, 12, 3, 3\) in the file, "
                                              r"\(32, 21, 3, 3\)"):
        load_checkpoint(stem)


def test_other_architecture_lists_missing_and_unexpected(saved):
    _, stem = saved
    _edit_card(stem, lambda d: d["architecture"].update(name="pss_densenet201"))
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(stem)
    assert "missing" in str(e.value) and "unexpected" in str(e.value) and "net.features.conv0.weight" in str(e.value)


def test_wrong_class_count(saved):
    _, stem = saved
    _edit_card(stem, lambda d: d.update(classes=["0", "Low", "High"]))
    with pytest.raises(CheckpointError, match="3 classes.*num_classes=4"):
        load_checkpoint(stem)

    def three_way(d):
        d["classes"] = ["0", "Low", "High"]
        del d["architecture"]["kwargs"]["num_classes"]

    _edit_card(stem, three_way)
    with pytest.raises(CheckpointError, match=r"classifier\.weight: shape \(4, 1280\) in the file, \(3, 1280\)"):
        load_checkpoint(stem)


def test_unknown_architecture_and_missing_fields(saved):
    _, stem = saved
    _edit_card(stem, lambda d: d["architecture"].update(name="resnet9000"))
    with pytest.raises(CheckpointError, match="unknown architecture 'resnet9000'"):
        load_checkpoint(stem)
    _edit_card(stem, lambda d: d.pop("architecture"))
    with pytest.raises(CheckpointError, match="missing field"):
        load_checkpoint(stem)


def test_card_keeps_unknown_keys_and_default_path():
    card = ModelCard.from_dict({"name": "x", "architecture": {"name": "pss_mobilenetv2"}, "future": 1})
    assert card.extra == {"future": 1}
    p = default_model_path("pss")
    assert p.name == "pss_default" and p.parent.name == "models" and p.parent.parent.name == "resources"
