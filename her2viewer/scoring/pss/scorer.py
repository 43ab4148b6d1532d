"""The Pyramid-Sampling-Set scorer (method "pss"): N PSSs per region through the PSS network, then the
KCS / max rule (`protocol.py`).

Options: `ScoreOptions.n_samples` (N), `top_k` (k), `seed`, `device` ("auto" picks CUDA when available),
`model_path` (a checkpoint; default resources/models/pss_default), and in `extra`: `batch_size` (PSSs per
forward pass, default 10). The network runs channels_last (about 2x faster on CPU as well, measured), on
CUDA under fp16 autocast, always under `torch.inference_mode`.

Reproducibility: PSS i of a region uses a generator seeded by (seed, region id, i), so the first N PSSs
are the same whatever the batch size or pool size.

Evidence: the patch boxes of the selected (KCS) PSSs, each tagged with its PSS's score, and a heatmap
"pss_support": over a grid on the region, the share of sampled patch area that came from PSSs predicting
the final score (normalised to a maximum of 1), i.e. where the tissue that drove the call lay.
"""

from __future__ import annotations

import logging
import threading
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...models.calibration import temperature_of
from ...models.checkpoint import (
    CheckpointError,
    ModelCard,
    checkpoint_files,
    checkpoint_stem,
    default_model_path,
    load_checkpoint,
)
from ...models.stain_normalisation import source_normaliser
from ...progress import Task
from ...slide.base import SlideSource
from ...slide.region import Region
from ..asco import SCORES4
from ..base import ScoreOptions, register_scorer
from ..result import Evidence, Heatmap, ModelInfo, PatchBox, SampleRecord, ScoreResult, call_confidence
from .protocol import kcs_decision
from .sampler import PSSSampler, PSSSpec, pss_to_tensor

log = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 10
HEATMAP_MAX_CELLS = 64

_cache_lock = threading.Lock()
_model_cache: dict[tuple[str, float, str], tuple[Any, ModelCard]] = {}


def resolve_device(device: str = "auto") -> str:
    """"auto" -> "cuda" when a GPU is usable, else "cpu"; other names are checked and passed through."""
    import torch

    if device in ("", "auto", None):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError("--device cuda was asked for but no CUDA GPU is available")
    return device


def model_path_for(options: ScoreOptions) -> Path:
    """The checkpoint stem the options name, or the bundled default; raises CheckpointError when absent."""
    if options.model_path:
        return checkpoint_stem(options.model_path)
    stem = default_model_path("pss")
    weights, card = checkpoint_files(stem)
    if not (weights.is_file() and card.is_file()):
        raise CheckpointError(f"{weights}: the bundled PSS model is not there; train it "
                              "(`her2viewer train`) or pass --model CHECKPOINT")
    return stem


def cached_checkpoint(path: str | Path, device: str) -> tuple[Any, ModelCard]:
    """Load a checkpoint once per (path, modification time, device)."""
    stem = checkpoint_stem(path)
    weights, _ = checkpoint_files(stem)
    try:
        mtime = weights.stat().st_mtime
    except OSError:
        mtime = -1.0
    key = (str(Path(stem).resolve()), mtime, device)
    with _cache_lock:
        hit = _model_cache.get(key)
    if hit is not None:
        return hit
    import torch

    model, card = load_checkpoint(stem, device=device)
    model = model.to(memory_format=torch.channels_last)  # faster on CUDA and, measured, ~2x on CPU too
    with _cache_lock:
        _model_cache.clear()  # one model per process is plenty; keeps GPU memory bounded
        _model_cache[key] = (model, card)
    return model, card


@dataclass
class PSSPredictions:
    """Softmax rows and patch boxes of n PSSs of one region."""

    probabilities: np.ndarray  # (n, C) float64
    boxes: list[list[PatchBox]]


def sample_seed(seed: int, region_id: str, index: int) -> np.random.SeedSequence:
    """The seed sequence of PSS `index` of a region: stable across runs, batch sizes and pool sizes."""
    return np.random.SeedSequence([int(seed) & 0xFFFFFFFF, zlib.crc32(region_id.encode()), int(index)])


class PSSScorer:
    """Scores a region with N Pyramid Sampling Sets and the KCS / max rule."""

    method = "pss"

    def __init__(self, options: ScoreOptions | None = None) -> None:
        self.options = options or ScoreOptions()
        self.device = resolve_device(self.options.device)
        self.model_path = model_path_for(self.options)
        self.model, self.card = cached_checkpoint(self.model_path, self.device)
        self.temperature = temperature_of(self.card, f"{self.model_path}.json")
        spec_d = dict(self.card.input_spec)
        self.spec = PSSSpec.from_dict(spec_d)
        self.mean = tuple(spec_d.get("mean", getattr(self.model, "mean", (0.485, 0.456, 0.406))))
        self.std = tuple(spec_d.get("std", getattr(self.model, "std", (0.229, 0.224, 0.225))))
        if tuple(self.card.classes) != SCORES4:
            raise CheckpointError(f"{self.model_path}.json: a PSS model must predict {list(SCORES4)}, "
                                  f"this one predicts {self.card.classes}")
        n_in = getattr(self.model, "n_patches", self.spec.n_patches)
        if n_in != self.spec.n_patches:
            raise CheckpointError(f"{self.model_path}.json: input spec has {self.spec.n_patches} patches but the "
                                  f"network takes {n_in}")
        self.batch_size = max(1, int(self.options.extra.get("batch_size", DEFAULT_BATCH_SIZE)))
        self.normalise = source_normaliser(spec_d, f"{self.model_path}.json")

    @property
    def model_info(self) -> ModelInfo:
        """Name, sha256 and version from the model card."""
        return ModelInfo(self.card.name, self.card.sha256, self.card.version)

    def _forward(self, stack: np.ndarray) -> np.ndarray:
        """(B, C, P, P) uint8 -> (B, 4) softmax probabilities."""
        import torch

        cuda = self.device.startswith("cuda")
        x = pss_to_tensor(stack, self.mean, self.std, device=self.device, channels_last=True)
        with torch.inference_mode():
            if cuda:
                with torch.autocast("cuda", dtype=torch.float16):
                    logits = self.model(x)
            else:
                logits = self.model(x)
            logits = logits.float() / self.temperature     # the card's calibration (1: none)
            return torch.softmax(logits, dim=1).cpu().numpy().astype(np.float64)

    def predict(self, source: SlideSource, region: Region, n: int, task: Task | None = None) -> PSSPredictions:
        """Softmax probabilities and patch boxes of n PSSs of the region (in batches)."""
        task = task or Task()
        task.report(0.0, f"reading region {region.id}")
        sampler = PSSSampler(self.normalise(source), region, self.spec)
        probs: list[np.ndarray] = []
        boxes: list[list[PatchBox]] = []
        for start in range(0, n, self.batch_size):
            stop = min(n, start + self.batch_size)
            stacks = []
            for i in range(start, stop):
                task.check()
                arr, bx = sampler.sample(np.random.default_rng(sample_seed(self.options.seed, region.id, i)), i)
                stacks.append(arr)
                boxes.append(bx)
            probs.append(self._forward(np.stack(stacks)))
            task.report(0.05 + 0.9 * stop / n, f"PSS {stop}/{n} of {region.id}")
        return PSSPredictions(np.concatenate(probs, axis=0), boxes)

    def score_region(self, source: SlideSource, region: Region, task: Task | None = None) -> ScoreResult:
        """Score one region (a core or a piece of tissue) with N PSSs and the KCS / max rule."""
        task = task or Task()
        t0 = time.perf_counter()
        n, k = max(1, int(self.options.n_samples)), max(1, int(self.options.top_k))
        pred = self.predict(source, region, n, task.sub(0.0, 0.97))
        d = kcs_decision(pred.probabilities, k)
        scores = d.sample_scores
        samples = [SampleRecord(scores[i], _probs_dict(pred.probabilities[i]), float(d.confidence[i]),
                                bool(d.selected[i]), region.id) for i in range(n)]
        for i, bx in enumerate(pred.boxes):
            for b in bx:
                b.score = scores[i]
        selected_boxes = [b for i, bx in enumerate(pred.boxes) if d.selected[i] for b in bx if b.kind != "whole"]
        heat = support_heatmap(region, pred.boxes, scores, d.score)
        n_at = int(sum(1 for i in range(n) if d.selected[i] and scores[i] == d.score))
        result = ScoreResult(
            slide=str(getattr(source, "path", "")), method=self.method, score=d.score,
            probabilities=_probs_dict(d.probabilities), model=self.model_info,
            confidence=call_confidence(_probs_dict(d.probabilities), d.score),
            explanation=(f"highest score among the {int(d.selected.sum())} most confident of {n} PSSs "
                         f"({n_at} of them say {d.score})"),
            samples=samples, evidence=Evidence(patch_boxes=selected_boxes, heatmaps=[heat]),
            params={"N": n, "k": k, "seed": self.options.seed, "device": self.device,
                    "batch_size": self.batch_size, "spec": self.spec.to_dict(), "model_path": str(self.model_path),
                    "stain_normalised": self.normalise.reference is not None},
            ish_positive=self.options.ish_positive,
        )
        result.elapsed_s = time.perf_counter() - t0
        task.report(1.0, f"pss: {d.score}")
        log.info("pss scorer: %s for %s (%d PSSs, k=%d) in %.1f s", d.score, region.id, n, k, result.elapsed_s)
        return result


def _probs_dict(p: np.ndarray) -> dict[str, float]:
    """A probability row as {class: p}, renormalised against rounding."""
    p = np.clip(np.asarray(p, dtype=np.float64), 0.0, 1.0)
    p = p / max(p.sum(), 1e-12)
    return {c: float(v) for c, v in zip(SCORES4, p, strict=True)}


def support_heatmap(region: Region, boxes: list[list[PatchBox]], scores: list[str], final: str) -> Heatmap:
    """Share of sampled patch area from PSSs that predict `final`, on a grid over the region (max = 1)."""
    x0, y0, w, h = region.l0_bbox
    cell = max(w, h) / float(HEATMAP_MAX_CELLS)
    cols, rows = max(1, int(np.ceil(w / cell))), max(1, int(np.ceil(h / cell)))
    support = np.zeros((rows, cols), np.float64)
    for i, bx in enumerate(boxes):
        if scores[i] != final:
            continue
        for b in bx:
            if b.kind == "whole":
                continue
            bx0, by0, bw, bh = b.bbox
            c0, r0 = int(max(0, (bx0 - x0) // cell)), int(max(0, (by0 - y0) // cell))
            c1 = int(min(cols, np.ceil((bx0 + bw - x0) / cell)))
            r1 = int(min(rows, np.ceil((by0 + bh - y0) / cell)))
            if c1 > c0 and r1 > r0:
                support[r0:r1, c0:c1] += 1.0 / ((c1 - c0) * (r1 - r0))
    if support.max() > 0:
        support /= support.max()
    return Heatmap("pss_support", support.astype(np.float32), (float(x0), float(y0)), float(cell), 0.0, 1.0,
                   f"where the sampled patches of PSSs predicting {final} lay (relative density)")


@register_scorer("pss")
def create_pss_scorer(options: ScoreOptions) -> PSSScorer:
    """Factory registered as the "pss" method."""
    return PSSScorer(options)
