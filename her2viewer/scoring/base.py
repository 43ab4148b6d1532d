"""What a scorer is: a region of a slide in, a `ScoreResult` out; plus the scorer registry."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from ..progress import Task
from ..slide.base import SlideSource
from .result import ScoreResult


@dataclass(frozen=True)
class RegionMask:
    """A boolean mask over part of a slide: mask pixel (r, c) covers level-0
    [x0 + c*downsample, x0 + (c+1)*downsample) x [y0 + r*downsample, ...)."""

    mask: np.ndarray
    l0_origin: tuple[float, float]
    downsample: float

    def fraction_in(self, l0_x: float, l0_y: float, l0_w: float, l0_h: float) -> float:
        """Fraction of the level-0 box that lies on mask pixels (0 outside the mask)."""
        ds = self.downsample
        c0 = int(np.floor((l0_x - self.l0_origin[0]) / ds))
        r0 = int(np.floor((l0_y - self.l0_origin[1]) / ds))
        c1 = int(np.ceil((l0_x + l0_w - self.l0_origin[0]) / ds))
        r1 = int(np.ceil((l0_y + l0_h - self.l0_origin[1]) / ds))
        total = max(1, (r1 - r0) * (c1 - c0))
        h, w = self.mask.shape
        sub = self.mask[max(r0, 0):min(r1, h), max(c0, 0):min(c1, w)]
        return float(np.count_nonzero(sub)) / total

    def l0_points(self) -> np.ndarray:
        """Level-0 centres (x, y) of every mask pixel that is on, shape (n, 2)."""
        rr, cc = np.nonzero(self.mask)
        ds = self.downsample
        return np.stack([self.l0_origin[0] + (cc + 0.5) * ds, self.l0_origin[1] + (rr + 0.5) * ds], axis=1)


@dataclass(frozen=True)
class Region:
    """A part of a slide to score: a level-0 bounding box, an optional tissue mask, an id (core label)."""

    l0_bbox: tuple[int, int, int, int]
    mask: RegionMask | None = None
    id: str = "slide"


@dataclass
class ScoreOptions:
    """Parameters shared by scorers; each scorer reads the ones it uses."""

    n_samples: int = 20
    top_k: int = 5
    seed: int = 0
    device: str = "auto"
    model_path: str | None = None
    ish_positive: bool | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    #: pixel size (um/px) set by the user; overrides the file's and any estimate
    mpp: float | None = None
    #: score even when the input checks say "not assessable" (the result keeps the QC messages)
    force: bool = False
    #: run the input checks (`her2viewer.qc`) before scoring
    qc: bool = True
    #: scoring criteria: "breast" (ASCO/CAP 2018/2023) or "gastric" (ASCO/CAP/ASCP 2016); the rules scorer
    #: applies them, every result records them
    criteria: str = "breast"
    #: gastric only: "resection" or "biopsy"
    specimen: str = "resection"
    #: fewer invasive tumour cells than this (counted by the rules scorer) is not assessable
    min_tumour_cells: int = 50
    #: fewer than this is a warning
    warn_tumour_cells: int = 200


class Scorer(Protocol):
    """A scoring method. `score_region` works on one region (a core or a piece of tissue)."""

    method: str

    def score_region(self, source: SlideSource, region: Region, task: Task) -> ScoreResult: ...


ScorerFactory = Callable[[ScoreOptions], Scorer]
_REGISTRY: dict[str, ScorerFactory] = {}


def register_scorer(method: str) -> Callable[[ScorerFactory], ScorerFactory]:
    """Decorator: make a scorer factory available under `method`."""
    def deco(factory: ScorerFactory) -> ScorerFactory:
        _REGISTRY[method] = factory
        return factory

    return deco


def available_methods() -> list[str]:
    """Names of the registered scoring methods."""
    _load_builtin_scorers()
    return sorted(_REGISTRY)


def create_scorer(method: str, options: ScoreOptions | None = None) -> Scorer:
    """Build the scorer registered under `method`."""
    _load_builtin_scorers()
    if method not in _REGISTRY:
        raise ValueError(f"unknown scoring method {method!r}; available: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[method](options or ScoreOptions())


def _load_builtin_scorers() -> None:
    """Import the built-in scorer modules (explicit imports, so start-up stays lazy)."""
    import importlib

    for mod in BUILTIN_SCORER_MODULES:
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as e:
            if not e.name or not (mod + ".").startswith(e.name + "."):
                raise


BUILTIN_SCORER_MODULES: tuple[str, ...] = (
    "her2viewer.scoring.rules.scorer",
    "her2viewer.scoring.pss.scorer",
    "her2viewer.scoring.mil.scorer",
    "her2viewer.scoring.lowres.scorer",
    "her2viewer.scoring.patch.scorer",
)
