"""What the MIL, low-resolution and patch scorers share: finding and loading their checkpoint, running an
image classifier on uint8 tiles, and turning a model's class probabilities into the result's fields.

Class sets and the 4-way contract:

* a 4-way model (classes 0, 1+, 2+, 3+): score = the most probable class; score3 = its 3-way mapping
  (2+ -> High only when ISH is positive).
* a 3-way model (classes 0, Low, High; the IPD low-resolution model): score3 = the most probable of the
  three, which is the model's real call, and `score` is null (the contract's rule for a 3-class model): it
  cannot tell 1+ from 2+ nor 2+ ISH-positive from 3+, so no 4-way score is made up. `probabilities` are
  the model's own three (keys 0, Low, High), also kept in `params["probabilities3"]`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...models.checkpoint import CheckpointError, checkpoint_exists, checkpoint_files, checkpoint_stem
from ...models.checkpoint import default_model_path as _default_model_path
from ..asco import SCORES3, SCORES4, to_3way
from ..result import Evidence, ModelInfo, SampleRecord, ScoreResult

log = logging.getLogger(__name__)

THREE_WAY_NOTE = ("3-way model: 0 / Low / High only, no 4-way score (it cannot tell 1+ from 2+, nor 2+ "
                  "ISH-positive from 3+)")


def checkpoint_for(model_path: str | None, default_name: str, what: str) -> Path:
    """The checkpoint stem given, or the bundled `resources/models/<default_name>_default`; CheckpointError
    naming the missing file otherwise."""
    if model_path:
        return checkpoint_stem(model_path)
    stem = _default_model_path(default_name)
    if not checkpoint_exists(stem):
        weights, _ = checkpoint_files(stem)
        raise CheckpointError(f"{weights}: the bundled {what} model is not there; train it (`her2viewer train`) "
                              "or pass --model CHECKPOINT")
    return stem


@dataclass
class ClassCall:
    """A model's probabilities turned into the contract's fields."""

    score: str | None
    score3: str
    probabilities: dict[str, float]
    confidence: float
    model_probabilities: dict[str, float]
    note: str = ""
    params: dict[str, Any] = field(default_factory=dict)


def check_classes(classes: list[str] | tuple[str, ...], where: str) -> None:
    """Raise CheckpointError unless the classes are the 4-way or the 3-way HER2 scores."""
    if tuple(classes) not in (SCORES4, SCORES3):
        raise CheckpointError(f"{where}: the model predicts {list(classes)}; a HER2 scorer needs "
                              f"{list(SCORES4)} or {list(SCORES3)}")


def class_call(classes: list[str] | tuple[str, ...], probs: np.ndarray, ish_positive: bool | None = None
               ) -> ClassCall:
    """Contract fields from a probability row over `classes` (4-way or 3-way; see the module doc)."""
    p = np.clip(np.asarray(probs, np.float64), 0.0, 1.0)
    p = p / max(p.sum(), 1e-12)
    own = {c: float(v) for c, v in zip(classes, p, strict=True)}
    best = str(classes[int(np.argmax(p))])
    if tuple(classes) == SCORES4:
        return ClassCall(best, to_3way(best, ish_positive), own, float(p.max()), own)
    if tuple(classes) == SCORES3:
        return ClassCall(None, best, dict(own), float(p.max()), own, THREE_WAY_NOTE, {"probabilities3": own})
    raise ValueError(f"classes {list(classes)} are neither 4-way nor 3-way HER2 scores")


def call_result(source: Any, region: Any, method: str, call: ClassCall, model: ModelInfo, what: str, *,
                params: dict[str, Any], ish_positive: bool | None, evidence: Evidence | None = None
                ) -> ScoreResult:
    """The ScoreResult of a scorer that makes one call per region; `what` says what the call rests on."""
    explanation = f"{what}: {call.score3 if call.note else call.score} (p = {call.confidence:.2f})"
    if call.note:
        explanation += f"; {call.note}"
    return ScoreResult(
        slide=str(getattr(source, "path", "")), method=method, score=call.score, score3=call.score3,
        probabilities=call.probabilities, model=model, confidence=call.confidence, explanation=explanation,
        samples=[SampleRecord(call.score or call.score3, call.probabilities, call.confidence, True, region.id)],
        evidence=evidence or Evidence(), params={**params, **call.params}, ish_positive=ish_positive,
    )


def classify_tiles(model: Any, tiles: np.ndarray, mean: Any, std: Any, device: str, size: int | None = None
                   ) -> np.ndarray:
    """(B, H, W, 3) uint8 RGB (resized to size x size when given) -> (B, C) softmax probabilities."""
    import cv2
    import torch

    if size and tiles.shape[1:3] != (size, size):
        tiles = np.stack([cv2.resize(t, (size, size), interpolation=cv2.INTER_AREA) for t in tiles])
    x = torch.from_numpy(np.ascontiguousarray(tiles)).to(device).permute(0, 3, 1, 2).float().div_(255.0)
    m = torch.tensor(list(mean), dtype=torch.float32, device=device).view(1, 3, 1, 1)
    s = torch.tensor(list(std), dtype=torch.float32, device=device).view(1, 3, 1, 1)
    x = ((x - m) / s).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        if device.startswith("cuda"):
            with torch.autocast("cuda", dtype=torch.float16):
                logits = model(x)
        else:
            logits = model(x)
        return torch.softmax(logits.float(), dim=1).cpu().numpy().astype(np.float64)
