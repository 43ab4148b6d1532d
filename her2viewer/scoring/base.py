"""What a scorer is: a region of a slide in, a `ScoreResult` out; plus the scorer registry."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..progress import Task
from ..slide.base import SlideSource
from ..slide.region import Region
from .result import ScoreResult


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

    def method_settings(self, method: str) -> dict[str, Any]:
        """The options that change a run of `method` besides seed and scope: the criteria, the specimen
        (gastric only) and N and k (PSS only)."""
        return {"criteria": self.criteria,
                **({"specimen": self.specimen} if self.criteria == "gastric" else {}),
                **({"N": self.n_samples, "k": self.top_k} if method == "pss" else {})}


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
