"""The model registry and the PSS networks."""

from __future__ import annotations

import pytest
import torch

from her2viewer.models.pss_net import PSS_BACKBONES, PSSNet
from her2viewer.models.registry import create_model, list_models, register_model


def test_builtin_pss_models_are_registered():
    assert {"pss_mobilenetv2", "pss_efficientnet_lite0", "pss_densenet201"} <= set(list_models())


@pytest.mark.parametrize("name", ["pss_mobilenetv2", "pss_efficientnet_lite0"])
def test_pss_net_widens_first_conv_and_has_four_classes(name):
    net = create_model(name, n_patches=5)
    assert isinstance(net, PSSNet) and net.backbone == PSS_BACKBONES[name]
    first = dict(net.net.named_parameters())[net.net.pretrained_cfg["first_conv"] + ".weight"]
    assert first.shape[1] == 15
    with torch.inference_mode():
        out = net.eval()(torch.zeros(2, 15, 64, 64))
    assert out.shape == (2, 4)
    assert net.config() == {"n_patches": 5, "num_classes": 4, "drop_rate": 0.0}
    assert len(net.mean) == 3 and len(net.std) == 3


def test_densenet201_builds_with_the_paper_input():
    net = create_model("pss_densenet201", n_patches=51)
    assert net.in_chans == 153
    assert net.net.features.conv0.weight.shape[1] == 153


def test_unknown_model_and_duplicate_names_are_refused():
    with pytest.raises(KeyError, match="unknown model"):
        create_model("no_such_model")
    with pytest.raises(ValueError, match="already registered"):
        register_model("pss_mobilenetv2")(lambda **kw: None)
