"""The per-image function that local and Ray workers run: open, score, return the result as JSON (no writes)."""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass

from ..scoring.base import ScoreOptions

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BatchJob:
    """One image to score (picklable)."""

    path: str
    method: str
    options: ScoreOptions


@dataclass(frozen=True)
class ItemOutcome:
    """What a worker sends back: the result's JSON, or a one-line error naming the file."""

    path: str
    result_json: str | None
    error: str | None
    elapsed_s: float
    pid: int


def score_one(job: BatchJob) -> ItemOutcome:
    """Score one image; never raises (an error becomes the outcome's message)."""
    from ..models.checkpoint import CheckpointError
    from ..scoring.driver import score_slide
    from ..slide import SlideOpenError, open_slide

    t0 = time.perf_counter()
    try:
        with open_slide(job.path) as source:
            result = score_slide(source, job.method, job.options)
        text, error = result.to_json(with_evidence=True), None
    except (SlideOpenError, CheckpointError) as e:
        text, error = None, str(e)
    except MemoryError:
        text, error = None, f"cannot score {job.path}: out of memory"
    except Exception as e:  # noqa: BLE001 - one bad file never stops the batch
        log.debug("scoring %s failed", job.path, exc_info=True)
        text, error = None, f"cannot score {job.path}: {type(e).__name__}: {e}"
    if error is not None:
        error = " ".join(error.split())
        if job.path not in error:
            error = f"{job.path}: {error}"
    return ItemOutcome(job.path, text, error, time.perf_counter() - t0, os.getpid())
