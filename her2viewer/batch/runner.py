"""The batch driver: skip what the cache already holds, score the rest on an engine, write each result to the
project as it arrives (cache file, then the scores row and the batch log), report progress with an ETA.

Killed at any moment and started again, a batch scores only what has no cached result yet: every image ends
with one result, none is lost and none scored twice once its result was written."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..progress import Task
from ..scoring.base import ScoreOptions
from ..scoring.result import ScoreResult
from .engines import ENGINES, run_local, run_ray
from .worker import BatchJob, ItemOutcome

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BatchSettings:
    """How a batch runs: method and options, engine, number of workers, Ray address, GPU per task."""

    method: str
    options: ScoreOptions = field(default_factory=ScoreOptions)
    engine: str = "local"
    workers: int = 2
    ray_address: str | None = None
    gpus_per_task: float = 0.0


@dataclass
class BatchSummary:
    """What a batch did: counts, errors by file, wall time and the run id in the project's batch log."""

    run_id: str
    total: int = 0
    scored: int = 0
    cached: int = 0
    errors: dict[str, str] = field(default_factory=dict)
    elapsed_s: float = 0.0
    cancelled: bool = False

    @property
    def done(self) -> int:
        return self.scored + self.cached + len(self.errors)


def format_eta(seconds: float) -> str:
    """A short duration: "45 s", "3 min 20 s", "1 h 05 min"."""
    s = int(round(max(0.0, seconds)))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {(s % 3600) // 60:02d} min"


def run_batch(project: object, paths: Sequence[str | Path], settings: BatchSettings, task: Task | None = None,
              on_item: Callable[[str, str], None] | None = None) -> BatchSummary:
    """Score every image of `paths` into `project` (a `her2viewer.project.Project`); resumable, cancellable
    through `task`. `on_item(path, event)` hears each "scored" / "cached" / "error"."""
    from ..project.runs import model_sha256_for, run_params

    if settings.engine not in ENGINES:
        raise ValueError(f"unknown engine {settings.engine!r}; use one of {', '.join(ENGINES)}")
    task = task or Task()
    db, cache = project.db, project.results  # type: ignore[attr-defined]
    summary = BatchSummary(uuid.uuid4().hex[:12], total=len(paths))
    t0 = time.perf_counter()
    params = run_params(settings.options, settings.method)
    sha = model_sha256_for(settings.method, settings.options)
    jobs: list[BatchJob] = []
    for p in paths:
        path = str(Path(p).expanduser().resolve())
        hit = cache.get(path, settings.method, params, model_sha256=sha)
        if hit is not None:
            db.record_score(path, settings.method, cache_key=cache.key(path, settings.method, params,
                                                                     model_sha256=sha),
                            result=hit, run_id=summary.run_id, event="cached")
            summary.cached += 1
            if on_item:
                on_item(path, "cached")
        else:
            jobs.append(BatchJob(path, settings.method, settings.options))
    task.report(summary.done / max(1, summary.total), f"{summary.cached} already scored; {len(jobs)} to score")

    def cancelled() -> bool:
        return bool(task.cancelled())

    if settings.engine == "ray":
        outcomes = run_ray(jobs, settings.workers, settings.ray_address, settings.gpus_per_task, cancelled)
    else:
        outcomes = run_local(jobs, settings.workers, cancelled)
    t_start, n_new = time.perf_counter(), 0
    for out in outcomes:
        event = _store(project, settings.method, params, sha, out, summary)
        n_new += 1
        if on_item:
            on_item(out.path, event)
        rate = (time.perf_counter() - t_start) / n_new
        left = len(jobs) - n_new
        task.report(summary.done / max(1, summary.total),
                    f"{summary.done}/{summary.total} ({Path(out.path).name}: {event}); ETA {format_eta(rate * left)}")
    summary.cancelled = bool(task.cancelled())
    summary.elapsed_s = time.perf_counter() - t0
    return summary


def _store(project: object, method: str, params: dict, sha: str | None, out: ItemOutcome,
           summary: BatchSummary) -> str:
    """Write one outcome to the project (cache file first, then the row); returns the event."""
    db, cache = project.db, project.results  # type: ignore[attr-defined]
    if out.error is not None or out.result_json is None:
        error = out.error or f"{out.path}: no result"
        summary.errors[out.path] = error
        db.record_score(out.path, method, error=error, run_id=summary.run_id, event="error")
        return "error"
    result = ScoreResult.from_json(out.result_json)
    file = cache.put(out.path, method, params, result, model_sha256=sha)
    db.record_score(out.path, method, cache_key=file.stem if file else None, result=result,
                    run_id=summary.run_id, event="scored")
    summary.scored += 1
    return "scored"
