"""The patch classifier of the patch pipeline (IPD-Breast approach c): a small timm CNN labelling one
tissue patch (classes from the annotations, typically HER2 0 / 1+ / 2+ / 3+, optionally Tumour / Stroma).

Registered names (`create_model`): `patch_mobilenetv2` (local ImageNet weights; the default),
`patch_efficientnet_lite0` (local ImageNet weights), `patch_convnext_atto` (random init only).
Same keyword arguments and input convention as the low-resolution classifier (`lowres.TimmClassifier`).
"""

from __future__ import annotations

from .lowres import _register

#: registry name -> timm backbone
PATCH_BACKBONES: dict[str, str] = {
    "patch_mobilenetv2": "mobilenetv2_100",
    "patch_efficientnet_lite0": "tf_efficientnet_lite0",
    "patch_convnext_atto": "convnext_atto",
}
DEFAULT_PATCH_MODEL = "patch_mobilenetv2"

for _name, _backbone in PATCH_BACKBONES.items():
    _register(_name, _backbone, "Patch classifier")
