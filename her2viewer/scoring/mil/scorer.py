"""The attention-MIL scorer (method "mil", IPD-Breast approach a): tissue tiles -> backbone features
(cached) -> an attention aggregator (ABMIL, CLAM-SB, CLAM-MB or DTFD-MIL) -> slide probabilities, with the
per-tile attention as the heatmap.

Options: `ScoreOptions.model_path` (a MIL checkpoint), `device`, and in `extra`:

* `aggregator`: "abmil" | "clam_sb" | "clam_mb" | "dtfd". Without `model_path` it picks the bundled
  `resources/models/mil_<aggregator>_default` (none given: DEFAULT_AGGREGATOR); with `model_path` the
  checkpoint must be that aggregator.
* `feature_cache`: a folder for the feature cache, or False to turn it off (default: the user cache dir).
* `max_tiles`: cap on tiles per region (a seeded, spatially spread subset; 0 = all; default from the card).

The model card's `input_spec` says how features were made: {"tiles": TileSpec fields, "extractor":
{"backbone", "weights" ("imagenet", "random:SEED" or a .safetensors path), "sha256", "dim"}}; the scorer
builds the same extractor and refuses one whose weights hash differs.

Evidence: heatmap "mil_attention" on the tile grid (l0_origin = region top-left, cell = the tile's level-0
size), attention divided by its maximum (1 = the most attended tile; NaN off tissue; raw attention sums to 1
over the bag). CLAM-MB shows the branch of the predicted class. The `top_tiles` most attended tiles are
patch boxes (sample 0) with their attention in `params["top_tiles"]`, for a list that moves the view.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from ...features import FeatureCache, TileSpec, extract_bag, get_extractor
from ...models.calibration import apply_temperature, temperature_of
from ...models.checkpoint import CheckpointError
from ...models.mil import MIL_MODELS
from ...models.stain_normalisation import refuse_normalisation
from ...progress import Task
from ...slide.base import SlideSource
from ...slide.region import Region
from ..base import ScoreOptions, register_scorer
from ..pss.scorer import cached_checkpoint, resolve_device
from ..result import Evidence, Heatmap, ModelInfo, PatchBox, ScoreResult
from .common import call_result, check_classes, checkpoint_for, class_call

log = logging.getLogger(__name__)

TOP_TILES = 10
#: the aggregator of `--method mil` when none is named (its bundled checkpoint: resources/models/mil_<it>_default)
DEFAULT_AGGREGATOR = "dtfd"


def mil_model_path(options: ScoreOptions) -> Path:
    """The MIL checkpoint the options name, or the bundled default of the chosen aggregator."""
    agg = options.extra.get("aggregator")
    if agg is not None and agg not in MIL_MODELS:
        raise ValueError(f"unknown MIL aggregator {agg!r}; use one of {', '.join(MIL_MODELS)}")
    if options.model_path:
        return checkpoint_for(options.model_path, "mil", "MIL")
    agg = agg or DEFAULT_AGGREGATOR
    return checkpoint_for(None, f"mil_{agg}", f"MIL ({agg})")


def feature_cache_for(options: ScoreOptions) -> FeatureCache | None:
    """The feature cache the options ask for (default folder; None when turned off)."""
    where = options.extra.get("feature_cache", True)
    if where is False or where in ("off", "none", ""):
        return None
    return FeatureCache(None if where is True else where)


class MILScorer:
    """Scores a region with tile features and an attention-MIL aggregator."""

    method = "mil"

    def __init__(self, options: ScoreOptions | None = None) -> None:
        self.options = options or ScoreOptions()
        self.device = resolve_device(self.options.device)
        self.model_path = mil_model_path(self.options)
        self.model, self.card = cached_checkpoint(self.model_path, self.device)
        where = f"{self.model_path}.json"
        refuse_normalisation(self.card.input_spec, where, "MIL scorer")
        arch = self.card.architecture["name"]
        agg = self.options.extra.get("aggregator")
        if arch not in MIL_MODELS.values():
            raise CheckpointError(f"{where}: {arch!r} is not a MIL aggregator ({', '.join(MIL_MODELS.values())})")
        if agg and MIL_MODELS[agg] != arch:
            raise CheckpointError(f"{where}: the checkpoint is {arch!r}, not the asked-for aggregator {agg!r}")
        self.aggregator = next(k for k, v in MIL_MODELS.items() if v == arch)
        check_classes(self.card.classes, where)
        spec = dict(self.card.input_spec)
        ext = spec.get("extractor")
        if not isinstance(ext, dict) or "backbone" not in ext:
            raise CheckpointError(f"{where}: input_spec.extractor (backbone, weights, sha256) is missing")
        tiles = dict(spec.get("tiles", {}))
        if "max_tiles" in self.options.extra:
            tiles["max_tiles"] = int(self.options.extra["max_tiles"])
        self.tile_spec = TileSpec.from_dict(tiles)
        self.extractor = get_extractor(ext["backbone"], ext.get("weights", "imagenet"), self.device)
        if ext.get("sha256") and ext["sha256"] != self.extractor.sha256:
            raise CheckpointError(f"{where}: trained on features of weights {ext['sha256'][:12]}..., but "
                                  f"{ext['backbone']} / {ext.get('weights')} here is {self.extractor.sha256[:12]}...")
        if self.extractor.dim != getattr(self.model, "in_dim", self.extractor.dim):
            raise CheckpointError(f"{where}: the aggregator takes {self.model.in_dim}-d features, the extractor "
                                  f"gives {self.extractor.dim}")
        self.cache = feature_cache_for(self.options)

    @property
    def model_info(self) -> ModelInfo:
        """Name, sha256 and version from the model card."""
        return ModelInfo(self.card.name, self.card.sha256, self.card.version)

    def predict(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(n, dim) features -> (class probabilities (C,), attention (n,) or (C, n))."""
        import torch

        x = torch.from_numpy(np.ascontiguousarray(features, np.float32)).to(self.device)
        with torch.inference_mode():
            logits, attn, _ = self.model(x)
            probs = torch.softmax(logits.float(), dim=0)
        return probs.cpu().numpy().astype(np.float64), attn.float().cpu().numpy()

    def score_region(self, source: SlideSource, region: Region, task: Task | None = None) -> ScoreResult:
        """Score one region: features (cached), aggregator, attention heatmap and top tiles."""
        task = task or Task()
        t0 = time.perf_counter()
        calls0 = self.extractor.calls
        bag = extract_bag(source, region, self.extractor, self.tile_spec, cache=self.cache, task=task.sub(0.0, 0.9))
        probs, attn = self.predict(bag.features)
        call = class_call(self.card.classes, apply_temperature(probs, temperature_of(self.card, str(self.model_path))),
                          self.options.ish_positive)
        if attn.ndim == 2:  # CLAM-MB: the branch of the predicted class
            attn = attn[int(np.argmax(probs))]
        grid = bag.grid
        rel = attn / max(float(attn.max()), 1e-12)
        heat = Heatmap("mil_attention", grid.to_grid(rel), grid.l0_origin, grid.l0_tile_size, 0.0, 1.0,
                       f"{self.aggregator} attention per tile relative to the most attended tile")
        top = np.argsort(-attn, kind="stable")[:TOP_TILES]
        s = int(round(grid.l0_tile_size))
        boxes = [PatchBox((int(grid.l0_xy[i, 0]), int(grid.l0_xy[i, 1]), s, s), 0, call.score) for i in top]
        what = (f"{self.aggregator} over {len(grid)} tissue tiles of {self.tile_spec.tile_px} px at "
                f"{self.tile_spec.mpp:g} um/px")
        result = call_result(
            source, region, self.method, call, self.model_info, what,
            evidence=Evidence(patch_boxes=boxes, heatmaps=[heat]),
            params={"aggregator": self.aggregator, "n_tiles": len(grid), "tiles": self.tile_spec.to_dict(),
                    "extractor": self.extractor.identity(), "device": self.device,
                    "model_path": str(self.model_path), "classes": list(self.card.classes),
                    "features_cached": self.extractor.calls == calls0,
                    "top_tiles": [{"bbox": list(b.bbox), "attention": float(attn[i])}
                                  for b, i in zip(boxes, top, strict=True)]},
            ish_positive=self.options.ish_positive)
        result.elapsed_s = time.perf_counter() - t0
        task.report(1.0, f"mil: {call.score}")
        log.info("mil scorer (%s): %s for %s, %d tiles, %.1f s", self.aggregator, call.score, region.id, len(grid),
                 result.elapsed_s)
        return result


@register_scorer("mil")
def create_mil_scorer(options: ScoreOptions) -> MILScorer:
    """Factory registered as the "mil" method."""
    return MILScorer(options)


def mil_input_spec(extractor_identity: dict[str, Any], tiles: TileSpec, weights: str) -> dict[str, Any]:
    """The model card input_spec of a MIL checkpoint trained on these features."""
    return {"tiles": tiles.to_dict(), "extractor": {**extractor_identity, "weights": weights}}
