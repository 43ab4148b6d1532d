"""Scoring in a child process, so that a scorer's long computations never compete with the UI thread for
the interpreter lock (scipy / scikit-image routines and JSON encoding hold it for tens of milliseconds).

No Qt here: the child imports only the headless scoring code. `ScoreProcess` keeps one child alive between
jobs (the start-up imports and a loaded model are paid once); requests are the slide's path, the method,
the options, the scope and an optional area to leave out (the Ignore annotations); the child opens the
slide, looks in the result cache, scores, stores the result and sends it back pickled, with progress
messages on the way and a shared event for cancel. A child that dies (killed for memory, a crash in native
code) fails the job with a sentence and is restarted next time.
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing as mp
import os
import pickle
import queue
import sys
import threading
import time
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from her2viewer.progress import Cancelled, Task
from her2viewer.project import ResultCache
from her2viewer.project.runs import run_params
from her2viewer.scoring.base import ScoreOptions
from her2viewer.scoring.result import ScoreResult
from her2viewer.slide.region import Region

log = logging.getLogger(__name__)

PROGRESS_INTERVAL_S = 0.05
#: seconds a cancelled job may take to stop in the child before the child is ended
CANCEL_GRACE_S = 0.6
#: extra niceness of the child: 0, since on a busy machine even a little starves the job (a cancel then
#: takes seconds to be noticed) while the separate interpreter lock is what keeps the UI fluid
CHILD_NICENESS = 0
POLL_S = 0.05


class ScoreProcessDied(RuntimeError):
    """The scoring process ended without an answer (killed for memory, crashed)."""


@dataclass
class ScoreRequest:
    """What the child needs to run one job (all picklable)."""

    slide_path: str
    method: str
    options: ScoreOptions
    scope: str | Region
    cache: ResultCache | None
    model_sha256: str | None
    use_cache: bool = True
    exclude: Any = None          # shapely area cut out of what is scored (the Ignore annotations), or None


def cached_or_scored(source: Any, req: ScoreRequest, task: Task,
                     score_fn: Callable[..., ScoreResult] | None = None) -> tuple[ScoreResult, bool]:
    """(result, from the cache?) of a request: the cached result of this slide version, method, model and
    parameters, or a new one (then cached)."""
    # a pixel size set by the user, a forced run or an excluded area gives another result
    params = run_params(req.options, req.method, req.scope, req.exclude)
    extra: dict[str, Any] = {} if req.exclude is None else {"exclude": req.exclude}
    if req.cache is not None and req.use_cache and req.slide_path:
        task.report(0.0, "looking for a cached result")
        hit = req.cache.get(req.slide_path, req.method, params, model_sha256=req.model_sha256)
        if hit is not None:
            task.report(1.0, "loaded from the cache")
            return hit, True
    if score_fn is None:
        from her2viewer.scoring.driver import score_slide as score_fn
    result = score_fn(source, req.method, req.options, scope=req.scope, task=task, **extra)
    task.check()
    if req.cache is not None and req.slide_path:
        req.cache.put(req.slide_path, req.method, params, result, model_sha256=req.model_sha256)
    return result, False


def _picklable(exc: BaseException) -> BaseException:
    """The exception itself when it survives pickling, else a RuntimeError with its type and message."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:  # noqa: BLE001 - any pickling problem
        return RuntimeError(f"{type(exc).__name__}: {exc}")


def _throttled_progress(replies: Any) -> Callable[[float, str], None]:
    """A progress callback that sends at most one message per PROGRESS_INTERVAL_S (and always the last)."""
    last = [0.0]

    def progress(fraction: float, message: str) -> None:
        now = time.perf_counter()
        if now - last[0] >= PROGRESS_INTERVAL_S or fraction >= 1.0:
            last[0] = now
            replies.put(("progress", fraction, message))

    return progress


def _child_main(requests: Any, replies: Any, cancel: Any) -> None:
    """The child's loop: one request at a time until None arrives."""
    if CHILD_NICENESS:
        try:
            os.nice(CHILD_NICENESS)
        except OSError:
            pass
    from her2viewer.slide import open_slide

    while True:
        req = requests.get()
        if req is None:
            return
        task = Task(_throttled_progress(replies), cancel.is_set)
        try:
            source = open_slide(req.slide_path)
            try:
                result, from_cache = cached_or_scored(source, req, task)
            finally:
                source.close()
            replies.put(("done", result, from_cache))
        except Cancelled:
            replies.put(("cancelled",))
        except BaseException as exc:  # noqa: BLE001 - every failure goes back to the UI as a message
            log.exception("scoring %s with %s failed", req.slide_path, req.method)
            replies.put(("error", _picklable(exc)))


@contextmanager
def _without_main_module() -> Iterator[None]:
    """Hide the `__main__` module while a child is spawned, so that the child does not re-run the parent's
    script (spawn imports the main module unless it has neither a file nor a spec; a script without an
    `if __name__ == "__main__"` guard would otherwise start a second window). The child needs nothing
    from it: its target lives in this module."""
    with _main_swap_lock:
        main = sys.modules.get("__main__")
        sys.modules["__main__"] = types.ModuleType("__main__")
        try:
            yield
        finally:
            if main is not None:
                sys.modules["__main__"] = main


_main_swap_lock = threading.Lock()


class ScoreProcess:
    """One persistent child process that scores requests one at a time (call from one thread only)."""

    def __init__(self) -> None:
        self._ctx = mp.get_context("spawn")   # never fork a process that runs Qt and worker threads
        self._proc: Any = None
        self._requests: Any = None
        self._replies: Any = None
        self._cancel: Any = None
        self._lock = threading.Lock()

    @property
    def alive(self) -> bool:
        """Whether the child is running."""
        return self._proc is not None and self._proc.is_alive()

    def _ensure(self) -> None:
        if self.alive:
            return
        self._requests, self._replies, self._cancel = self._ctx.Queue(), self._ctx.Queue(), self._ctx.Event()
        self._proc = self._ctx.Process(target=_child_main, args=(self._requests, self._replies, self._cancel),
                                       name="her2viewer-scorer", daemon=True)
        with _without_main_module():
            self._proc.start()
        log.info("started the scoring process (pid %s)", self._proc.pid)

    def run(self, req: ScoreRequest, progress: Callable[[float, str], None],
            cancelled: Callable[[], bool]) -> tuple[ScoreResult, bool]:
        """Score a request in the child; returns (result, from cache?); raises Cancelled, the scorer's
        exception, or ScoreProcessDied. Callers on several threads take turns."""
        with self._lock:
            return self._run(req, progress, cancelled)

    def _run(self, req: ScoreRequest, progress: Callable[[float, str], None],
             cancelled: Callable[[], bool]) -> tuple[ScoreResult, bool]:
        self._ensure()
        self._cancel.clear()
        self._requests.put(req)
        cancel_asked: float | None = None
        while True:
            if cancelled():
                self._cancel.set()
                if cancel_asked is None:
                    cancel_asked = time.perf_counter()
                elif time.perf_counter() - cancel_asked > CANCEL_GRACE_S:
                    # the child is somewhere it cannot check (importing torch, loading a model, a long
                    # native call): end it so that Cancel always stops within a second; the next job
                    # starts a fresh child.
                    self._stop_child()
                    raise Cancelled("cancelled by the user")
            try:
                msg = self._replies.get(timeout=POLL_S)
            except queue.Empty:
                if not self._proc.is_alive():
                    code = self._proc.exitcode
                    self._proc = None
                    hint = " (killed: out of memory?)" if code in (-9, 137) else ""
                    raise ScoreProcessDied(f"the scoring process stopped unexpectedly with exit code {code}"
                                           f"{hint}") from None
                continue
            if msg[0] == "progress":
                progress(msg[1], msg[2])
            elif msg[0] == "done":
                return msg[1], msg[2]
            elif msg[0] == "cancelled":
                raise Cancelled("cancelled by the user")
            else:
                raise msg[1]

    def _stop_child(self) -> None:
        """End the child at once (terminate, then kill)."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.terminate()
        proc.join(0.5)
        if proc.is_alive():
            proc.kill()
            proc.join(0.5)
        log.info("ended the scoring process (pid %s) to cancel a job", proc.pid)

    def close(self, timeout_s: float = 3.0) -> None:
        """Ask the child to stop; terminate it when it does not within `timeout_s`."""
        if self._proc is None:
            return
        if self._cancel is not None:
            self._cancel.set()
        with self._lock:
            self._close(timeout_s)

    def _close(self, timeout_s: float) -> None:
        if self._proc is None:
            return
        if self._cancel is not None:
            self._cancel.set()
        try:
            self._requests.put(None)
        except (OSError, ValueError):
            pass
        self._proc.join(timeout_s)
        if self._proc.is_alive():
            self._proc.terminate()
            self._proc.join(1.0)
        self._proc = None


_shared: ScoreProcess | None = None
_shared_lock = threading.Lock()


def shared_score_process() -> ScoreProcess:
    """The process-wide scoring child (started on first use, stopped at exit), shared by every engine."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = ScoreProcess()
            atexit.register(_shared.close)
        return _shared
