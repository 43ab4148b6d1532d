"""The low-resolution scorer (method "lowres", IPD-Breast approach b): the whole image (a slide's tissue)
or the core, resized to S x S (224 or 512, from the model card's input_spec "size"), into a small ConvNeXt;
3-way 0 / Low / High as in the paper (a 4-way model works too).

Framing: a region with id "slide" (the tissue of a whole slide or a single-core image) is read as its
tissue's bounding box, squared and grown by `FRAME_MARGIN` a side (within the image): a core image then
looks as in training (`training.data.LowResDataset` resizes core images that the core fills), and a whole
slide's tissue is not lost in a glass-filled frame. A TMA core or a user box is read as its bounding box.
Either is stretched to S x S, not padded.

A 3-way model gives `score3` (0 / Low / High) and its three probabilities only; `score` is null (see
`her2viewer.scoring.mil.common`). Options: `model_path` (default resources/models/lowres_default), `device`.
No heatmap: the model sees one image and has no per-location output.
"""

from __future__ import annotations

import logging
import time

from ...models.calibration import apply_temperature, temperature_of
from ...models.checkpoint import CheckpointError
from ...models.stain_normalisation import source_normaliser
from ...progress import Task
from ...slide.base import SlideSource
from ...slide.read import read_l0_box
from ...slide.region import Region
from ..base import ScoreOptions, register_scorer
from ..mil.common import call_result, check_classes, checkpoint_for, class_call, classify_tiles
from ..pss.scorer import cached_checkpoint, resolve_device
from ..result import ModelInfo, ScoreResult

log = logging.getLogger(__name__)

#: context around the tissue of a "slide" region, as a fraction of its longer side (each side)
FRAME_MARGIN = 0.05


class LowResScorer:
    """Scores a region from one low-resolution image of it."""

    method = "lowres"

    def __init__(self, options: ScoreOptions | None = None) -> None:
        self.options = options or ScoreOptions()
        self.device = resolve_device(self.options.device)
        self.model_path = checkpoint_for(self.options.model_path, "lowres", "low-resolution")
        self.model, self.card = cached_checkpoint(self.model_path, self.device)
        where = f"{self.model_path}.json"
        check_classes(self.card.classes, where)
        spec = dict(self.card.input_spec)
        try:
            self.size = int(spec["size"])
        except (KeyError, TypeError, ValueError) as e:
            raise CheckpointError(f"{where}: input_spec.size (the image side in px) is missing") from e
        self.mean = tuple(spec.get("mean") or getattr(self.model, "mean", (0.485, 0.456, 0.406)))
        self.std = tuple(spec.get("std") or getattr(self.model, "std", (0.229, 0.224, 0.225)))
        self.normalise = source_normaliser(spec, where)

    @property
    def model_info(self) -> ModelInfo:
        """Name, sha256 and version from the model card."""
        return ModelInfo(self.card.name, self.card.sha256, self.card.version)

    def frame(self, source: SlideSource, region: Region) -> tuple[int, int, int, int]:
        """The level-0 box the model sees: for a "slide" region its tissue, squared with a margin; else the
        region's box."""
        if region.id != "slide":
            return tuple(int(v) for v in region.l0_bbox)
        W, H = source.dimensions
        x, y, w, h = (float(v) for v in region.l0_bbox)
        side = max(w, h) * (1.0 + 2.0 * FRAME_MARGIN)
        cx, cy = x + w / 2.0, y + h / 2.0
        x0, y0 = max(0, int(cx - side / 2)), max(0, int(cy - side / 2))
        x1, y1 = min(int(W), int(round(cx + side / 2))), min(int(H), int(round(cy + side / 2)))
        return x0, y0, max(1, x1 - x0), max(1, y1 - y0)

    def score_region(self, source: SlideSource, region: Region, task: Task | None = None) -> ScoreResult:
        """Score one region from its S x S image."""
        task = task or Task()
        t0 = time.perf_counter()
        task.report(0.0, f"reading {region.id} at low resolution")
        x, y, w, h = self.frame(source, region)
        img = read_l0_box(self.normalise(source), x, y, w, h, self.size, self.size)
        task.report(0.5, "classifying")
        probs = classify_tiles(self.model, img[None], self.mean, self.std, self.device)[0]
        call = class_call(self.card.classes, apply_temperature(probs, temperature_of(self.card, str(self.model_path))),
                          self.options.ish_positive)
        what = f"{'the tissue' if region.id == 'slide' else 'the region'} at {self.size} x {self.size} px"
        result = call_result(source, region, self.method, call, self.model_info, what,
                             params={"size": self.size, "frame": [x, y, w, h], "device": self.device,
                                     "stain_normalised": self.normalise.reference is not None,
                                     "model_path": str(self.model_path), "classes": list(self.card.classes)},
                             ish_positive=self.options.ish_positive)
        result.elapsed_s = time.perf_counter() - t0
        task.report(1.0, f"lowres: {call.score3}")
        log.info("lowres scorer: %s (%s) for %s in %.2f s", call.score3, call.score, region.id, result.elapsed_s)
        return result


@register_scorer("lowres")
def create_lowres_scorer(options: ScoreOptions) -> LowResScorer:
    """Factory registered as the "lowres" method."""
    return LowResScorer(options)
