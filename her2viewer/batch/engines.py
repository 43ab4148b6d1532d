"""Where batch jobs run: a pool of local worker processes, or Ray tasks on a local or existing Ray cluster.

Both take jobs and yield outcomes as they finish; a worker that dies (out of memory, a crash in a native
library) costs only its own image, which gets an error row."""

from __future__ import annotations

import logging
import multiprocessing
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from .worker import BatchJob, ItemOutcome, score_one

log = logging.getLogger(__name__)

ENGINES = ("local", "ray")


class EngineError(RuntimeError):
    """The engine cannot start (e.g. no Ray cluster at the address)."""


def _died(job: BatchJob) -> ItemOutcome:
    return ItemOutcome(job.path, None, f"{job.path}: the worker process died while scoring it (out of memory "
                       "or a crash); the other images were scored", 0.0, 0)


def run_local(jobs: Sequence[BatchJob], workers: int, cancelled: Callable[[], bool] = lambda: False,
              fn: Callable[[BatchJob], ItemOutcome] = score_one) -> Iterator[ItemOutcome]:
    """Outcomes of `jobs` scored by `workers` local processes (spawned: no state shared with the caller)."""
    todo = list(jobs)
    retried: set[str] = set()
    ctx = multiprocessing.get_context("spawn")
    while todo:
        broken: list[BatchJob] = []
        with ProcessPoolExecutor(max_workers=max(1, workers), mp_context=ctx) as pool:
            pending: dict[Future[ItemOutcome], BatchJob] = {}
            queue = list(todo)
            todo = []
            while queue or pending:
                while queue and len(pending) < 2 * max(1, workers) and not cancelled():
                    job = queue.pop(0)
                    pending[pool.submit(fn, job)] = job
                if cancelled():
                    for f in pending:
                        f.cancel()
                    return
                done, _ = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                for f in done:
                    job = pending.pop(f)
                    try:
                        yield f.result()
                    except BrokenProcessPool:
                        broken.append(job)
                    except Exception as e:  # noqa: BLE001 - pickling or the like: that image's error
                        yield ItemOutcome(job.path, None, f"{job.path}: {type(e).__name__}: {e}", 0.0, 0)
                if broken:
                    broken.extend(pending.values())
                    broken.extend(queue)
                    pending.clear()
                    queue.clear()
        for job in broken:  # a fresh pool; a job that breaks a pool twice is the culprit
            if job.path in retried:
                yield _died(job)
            else:
                retried.add(job.path)
                todo.append(job)


def run_ray(jobs: Sequence[BatchJob], workers: int, address: str | None = None, gpus_per_task: float = 0.0,
            cancelled: Callable[[], bool] = lambda: False) -> Iterator[ItemOutcome]:
    """Outcomes of `jobs` scored as Ray tasks: on the cluster at `address`, else on a local Ray of `workers` CPUs."""
    try:
        import ray
    except ImportError as e:
        raise EngineError(f"the ray engine needs Ray (pip install ray): {e}") from e
    started = False
    if not ray.is_initialized():
        try:
            if address:
                ray.init(address=address, log_to_driver=False)
            else:
                ray.init(num_cpus=max(1, workers), include_dashboard=False, log_to_driver=False)
            started = True
        except Exception as e:  # noqa: BLE001 - Ray raises many kinds here
            where = f"the Ray cluster at {address}" if address else "a local Ray"
            raise EngineError(f"cannot start {where}: {type(e).__name__}: {e}") from e
    try:
        remote = ray.remote(num_cpus=1, num_gpus=gpus_per_task, max_retries=1)(score_one)
        refs = {remote.remote(job): job for job in jobs}
        while refs:
            if cancelled():
                for r in refs:
                    ray.cancel(r, force=True)
                return
            done, _ = ray.wait(list(refs), num_returns=1, timeout=0.5)
            for r in done:
                job = refs.pop(r)
                try:
                    yield ray.get(r)
                except Exception as e:  # noqa: BLE001 - a task whose worker died
                    log.debug("ray task for %s failed", job.path, exc_info=True)
                    yield ItemOutcome(job.path, None, f"{job.path}: the Ray task failed: {type(e).__name__}",
                                      0.0, 0)
    finally:
        if started:
            ray.shutdown()
