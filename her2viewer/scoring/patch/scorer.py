"""The patch-pipeline scorer (method "patch", IPD-Breast approach c): tissue tiles -> patch classifier ->
per-class patch fractions -> slide aggregator (majority vote, random forest, SVM or MLP).

Checkpoint (`model_path`, default resources/models/patch_default): the patch classifier, whose card gives
the patch classes and input_spec {"tile_px", "mpp", "min_tissue", "size" (network input side), "mean",
"std"}. Aggregators live next to it as `<stem>.aggregator-<kind>.json` (see `aggregate.py`: JSON with the
training count vectors, re-fitted on load, no pickle). Options in `extra`: `patch_aggregator` ("vote", "rf",
"svm", "mlp"; default "rf" when its file exists, else the "vote" baseline), `aggregator_path` (another
file), `batch_size` (tiles per forward pass, default 32), `max_tiles`.

Slide classes: the aggregator file's; for the vote, the HER2 classes among the patch classes (4-way, or
3-way with the documented mapping of `her2viewer.scoring.mil.common`).

Evidence: heatmap "patch_score", per tile the expected HER2 score from the patch classifier's probabilities
over the HER2 classes (0..3; NaN off tissue or where the tile is not a HER2 class), and the patch counts
in params.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from ...features import TileSpec
from ...features.tiling import TileGrid, iter_tile_batches, tile_grid
from ...models.checkpoint import CheckpointError
from ...models.stain_normalisation import refuse_normalisation
from ...progress import Task
from ...slide.base import SlideSource
from ...slide.region import Region
from ..asco import SCORES3, SCORES4
from ..base import ScoreOptions, register_scorer
from ..mil.common import call_result, check_classes, checkpoint_for, class_call, classify_tiles
from ..pss.scorer import cached_checkpoint, resolve_device
from ..result import Evidence, Heatmap, ModelInfo, ScoreResult
from .aggregate import KINDS, AggregatorError, CountAggregator, count_vector

log = logging.getLogger(__name__)


def aggregator_path(stem: Path, kind: str) -> Path:
    """Where the `kind` aggregator of a patch classifier checkpoint lives."""
    return Path(f"{stem}.aggregator-{kind}.json")


def vote_classes(patch_classes: list[str]) -> list[str]:
    """Slide classes the majority vote can produce from these patch classes."""
    if any(c in patch_classes for c in SCORES4[1:]) and "Low" not in patch_classes:
        return list(SCORES4)
    if any(c in patch_classes for c in ("Low", "High")):
        return list(SCORES3)
    raise ValueError(f"patch classes {patch_classes} contain no HER2 score to vote with")


def expected_score(probs: np.ndarray, patch_classes: list[str]) -> np.ndarray:
    """Per tile, the expected HER2 score (0..3) over the HER2 classes; NaN when no HER2 class is likeliest."""
    scale = {c: float(i) for i, c in enumerate(SCORES4)} | {"Low": 1.5, "High": 3.0}
    cols = [i for i, c in enumerate(patch_classes) if c in scale]
    vals = np.array([scale[patch_classes[i]] for i in cols])
    p = probs[:, cols]
    out = (p * vals).sum(1) / np.maximum(p.sum(1), 1e-12)
    best_is_her2 = np.isin(np.argmax(probs, axis=1), cols)
    return np.where(best_is_her2, out, np.nan)


class PatchScorer:
    """Scores a region from its patch classes and a slide-level aggregator."""

    method = "patch"

    def __init__(self, options: ScoreOptions | None = None) -> None:
        self.options = options or ScoreOptions()
        self.device = resolve_device(self.options.device)
        self.model_path = checkpoint_for(self.options.model_path, "patch", "patch classifier")
        self.model, self.card = cached_checkpoint(self.model_path, self.device)
        where = f"{self.model_path}.json"
        refuse_normalisation(self.card.input_spec, where, "patch scorer")
        spec = dict(self.card.input_spec)
        missing = [k for k in ("tile_px", "mpp") if k not in spec]
        if missing:
            log.warning("%s: input_spec has no %s; assuming patches of %d px at %.2f um/px", where,
                        " or ".join(missing), spec.get("tile_px", TileSpec.tile_px), spec.get("mpp", TileSpec.mpp))
        if "max_tiles" in self.options.extra:
            spec["max_tiles"] = int(self.options.extra["max_tiles"])
        self.tile_spec = TileSpec.from_dict(spec)
        self.size = int(spec.get("size", self.tile_spec.tile_px))
        self.mean = tuple(spec.get("mean") or getattr(self.model, "mean", (0.485, 0.456, 0.406)))
        self.std = tuple(spec.get("std") or getattr(self.model, "std", (0.229, 0.224, 0.225)))
        self.batch_size = max(1, int(self.options.extra.get("batch_size", 32)))
        self.patch_classes = list(self.card.classes)
        self.aggregator = self._aggregator(where)
        check_classes(self.aggregator.slide_classes, str(self.aggregator_file or where))

    def _aggregator(self, where: str) -> CountAggregator:
        kind = self.options.extra.get("patch_aggregator")
        given = self.options.extra.get("aggregator_path")
        if kind is not None and kind not in KINDS:
            raise ValueError(f"unknown patch aggregator {kind!r}; use one of {', '.join(KINDS)}")
        if kind is None and not given:
            kind = "rf" if aggregator_path(self.model_path, "rf").is_file() else "vote"
        self.aggregator_file: Path | None = None
        if kind == "vote" and not given:
            try:
                return CountAggregator("vote", vote_classes(self.patch_classes), self.patch_classes)
            except ValueError as e:
                raise CheckpointError(f"{where}: {e}") from e
        path = Path(given) if given else aggregator_path(self.model_path, str(kind))
        if not path.is_file():
            raise CheckpointError(f"{path}: the {kind} patch aggregator is not there; fit it on count vectors "
                                  "(training) or use --method patch with the vote baseline")
        try:
            agg = CountAggregator.load(path)
        except AggregatorError as e:
            raise CheckpointError(str(e)) from e
        if kind is not None and agg.kind != kind:
            raise CheckpointError(f"{path}: a {agg.kind} aggregator, not {kind}")
        if agg.patch_classes != self.patch_classes:
            raise CheckpointError(f"{path}: counts of {agg.patch_classes}, but the patch classifier predicts "
                                  f"{self.patch_classes}")
        self.aggregator_file = path
        return agg

    @property
    def model_info(self) -> ModelInfo:
        """The patch classifier's card, with the aggregator kind in the version."""
        return ModelInfo(self.card.name, self.card.sha256, f"{self.card.version}+{self.aggregator.kind}")

    def patch_probabilities(self, source: SlideSource, region: Region, task: Task) -> tuple[np.ndarray, TileGrid]:
        """(n tiles, n patch classes) probabilities and the tile grid."""
        grid = tile_grid(source, region, self.tile_spec)
        probs = np.zeros((len(grid), len(self.patch_classes)))
        for start, tiles in iter_tile_batches(source, grid, self.batch_size):
            probs[start:start + len(tiles)] = classify_tiles(self.model, tiles, self.mean, self.std, self.device,
                                                             self.size)
            task.report((start + len(tiles)) / len(grid), f"patches {start + len(tiles)}/{len(grid)}")
        return probs, grid

    def score_region(self, source: SlideSource, region: Region, task: Task | None = None) -> ScoreResult:
        """Score one region: classify its tissue patches, count, aggregate."""
        task = task or Task()
        t0 = time.perf_counter()
        probs, grid = self.patch_probabilities(source, region, task.sub(0.0, 0.95))
        counts = count_vector(probs, len(self.patch_classes))
        slide_probs = self.aggregator.calibrated_proba(counts)[0]
        call = class_call(self.aggregator.slide_classes, slide_probs, self.options.ish_positive)
        heat = Heatmap("patch_score", grid.to_grid(expected_score(probs, self.patch_classes)), grid.l0_origin,
                       grid.l0_tile_size, 0.0, 3.0, "expected HER2 score of each patch (patch classifier)")
        n_by = {c: int(round(f * len(grid))) for c, f in zip(self.patch_classes, counts, strict=True)}
        spread = ", ".join(f"{n} x {c}" for c, n in n_by.items() if n)
        result = call_result(
            source, region, self.method, call, self.model_info,
            f"{self.aggregator.kind} over {len(grid)} patches ({spread})",
            evidence=Evidence(heatmaps=[heat]),
            params={"aggregator": self.aggregator.kind, "aggregator_sha256": self.aggregator.sha256,
                    "temperature": self.aggregator.temperature,
                    "aggregator_path": str(self.aggregator_file or ""), "patch_counts": n_by,
                    "patch_fractions": {c: float(f) for c, f in zip(self.patch_classes, counts, strict=True)},
                    "tiles": self.tile_spec.to_dict(), "size": self.size, "device": self.device,
                    "model_path": str(self.model_path), "classes": list(self.aggregator.slide_classes)},
            ish_positive=self.options.ish_positive)
        result.elapsed_s = time.perf_counter() - t0
        task.report(1.0, f"patch: {call.score}")
        log.info("patch scorer (%s): %s for %s, %d patches, %.1f s", self.aggregator.kind, call.score, region.id,
                 len(grid), result.elapsed_s)
        return result


@register_scorer("patch")
def create_patch_scorer(options: ScoreOptions) -> PatchScorer:
    """Factory registered as the "patch" method."""
    return PatchScorer(options)
