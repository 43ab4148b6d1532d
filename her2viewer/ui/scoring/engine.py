"""The inference engine: a queue of scoring jobs run one at a time on a QThread, with progress, cancel and a
result cache.

The worker thread hands each job of a slide file to a persistent child process (`score_process`: the
scorers' numerical code then never holds this process's interpreter lock, so the UI stays fluid; a child
killed for memory fails the job, not the app); in-memory slides and injected score functions run on the
worker thread itself. Progress and cancel go through a `Task` whose callbacks post to an `Inbox` (no Python
objects travel through queued signals); on the main thread the engine re-emits them as `sigProgress`,
`sigFinished`, `sigFailed` and `sigCancelled`. Results are cached per slide file version, method, model
sha256 and parameters through `her2viewer.project.ResultCache` (a `PROJECT/results` folder, by default next
to the slide) and reloaded without scoring when the same job runs again or the slide is reopened. Workers
never touch widgets.
"""

from __future__ import annotations

import itertools
import logging
import os
import queue
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import QCoreApplication, QObject, QThread, Signal

from her2viewer.progress import Cancelled, Task
from her2viewer.project import ResultCache
from her2viewer.scoring.base import ScoreOptions
from her2viewer.scoring.result import ScoreResult
from her2viewer.slide.base import SlideSource
from her2viewer.slide.region import Region

from ..common.inbox import Inbox
from .score_process import ScoreProcess, ScoreRequest, cached_or_scored, shared_score_process

log = logging.getLogger(__name__)

PROGRESS_INTERVAL_S = 0.05   # at most 20 progress updates a second reach the main thread
ScoreFn = Callable[..., ScoreResult]


@dataclass
class ScoreJob:
    """One scoring request: a slide, a method, its options and what to score (a driver scope or a Region)."""

    source: SlideSource
    method: str
    options: ScoreOptions = field(default_factory=ScoreOptions)
    scope: str | Region = "auto"
    label: str = ""              # what the user asked for, e.g. "current view" (for messages)
    use_cache: bool = True
    exclude: Any = None          # shapely area (level-0 px) left out of every region, e.g. Ignore annotations
    id: int = 0
    from_cache: bool = False
    state: str = "queued"        # queued | running | finished | failed | cancelled
    model_sha256: str | None = None
    started: float = 0.0
    cancel_event: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def slide_path(self) -> str:
        """The slide's file path ("" for an in-memory slide)."""
        return str(getattr(self.source, "path", "") or "")

    @property
    def slide_name(self) -> str:
        """The slide's file name, for messages."""
        return Path(self.slide_path).name or "the slide"


def default_cache_for(slide_path: str) -> ResultCache | None:
    """The result cache of a slide's default project (the per-user one), or None for an in-memory slide."""
    if not slide_path:
        return None
    from her2viewer.project import project_dir_for

    return ResultCache(project_dir_for(slide_path))


def model_sha256_for(method: str, options: ScoreOptions) -> str | None:
    """The sha256 of the checkpoint a run would use (see `her2viewer.project.runs.model_sha256_for`)."""
    from her2viewer.project.runs import model_sha256_for as sha_for

    return sha_for(method, options)


def describe_device(device: str | None) -> str:
    """A device name for people: "CPU", or the CUDA device's name."""
    if device and str(device).startswith("cuda"):
        try:
            import torch

            index = int(str(device).split(":")[1]) if ":" in str(device) else 0
            return f"GPU: {torch.cuda.get_device_name(index)}"
        except Exception:  # noqa: BLE001 - a name is only a label
            return f"GPU ({device})"
    return "CPU"


def probe_device(requested: str = "auto") -> str:
    """The device "auto" (or `requested`) would use, described; cheap: torch is used only when already
    imported (importing it holds the interpreter long enough to stall the UI), else the NVIDIA driver's
    /proc entries are read."""
    if requested not in ("", "auto", None):
        return describe_device(requested)
    torch = sys.modules.get("torch")
    if torch is not None:
        try:
            return describe_device("cuda") if torch.cuda.is_available() else "CPU"
        except Exception:  # noqa: BLE001 - a name is only a label
            return "CPU"
    for info in sorted(Path("/proc/driver/nvidia/gpus").glob("*/information")):
        try:
            for line in info.read_text(errors="replace").splitlines():
                if line.startswith("Model:"):
                    return f"GPU: {line.split(':', 1)[1].strip()}"
        except OSError:
            continue
    return "CPU"


def check_region(source: SlideSource, scope: str | Region) -> None:
    """ValueError with a sentence when a Region scope is empty or lies outside the slide."""
    if not isinstance(scope, Region):
        return
    x, y, w, h = scope.l0_bbox
    W, H = source.dimensions
    if w <= 0 or h <= 0:
        raise ValueError(f"the region {scope.id!r} is empty ({w} x {h} px)")
    if x >= W or y >= H or x + w <= 0 or y + h <= 0:
        raise ValueError(f"the region {scope.id!r} at ({x}, {y}) lies outside the slide ({W} x {H} px)")


def error_sentence(job: ScoreJob, exc: BaseException) -> str:
    """A sentence telling the user why a job failed (naming the slide and what went wrong)."""
    from her2viewer.models.checkpoint import CheckpointError

    what = f"Scoring {job.slide_name} with {job.method}"
    text = str(exc).strip() or type(exc).__name__
    if isinstance(exc, MemoryError) or "out of memory" in text.lower():
        return (f"{what} ran out of memory; try fewer samples (N), a smaller region, or the CPU. ({text})")
    if isinstance(exc, CheckpointError):
        return f"{what} failed: the model cannot be used: {text}"
    if isinstance(exc, (ValueError, FileNotFoundError)):
        return f"{what} failed: {text}"
    return f"{what} failed ({type(exc).__name__}): {text}"


WORKER_NICENESS = 10


def lower_thread_priority(increment: int = WORKER_NICENESS) -> None:
    """Make the calling thread (and the threads it starts, e.g. a scorer's pool) yield the CPU to the UI
    thread: on Linux niceness is per thread and inherited. Best effort; nothing happens elsewhere."""
    if not sys.platform.startswith("linux"):
        return
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + increment))
    except (OSError, AttributeError) as exc:
        log.debug("cannot lower the inference thread's priority: %s", exc)


class _WorkerThread(QThread):
    """Takes jobs from a queue and runs them one at a time; reports through the engine's inbox."""

    def __init__(self, engine: InferenceEngine) -> None:
        super().__init__()
        self.setObjectName("inference-engine")
        self._engine = engine
        self.jobs: queue.Queue[ScoreJob | None] = queue.Queue()

    def run(self) -> None:
        lower_thread_priority()
        while True:
            job = self.jobs.get()
            if job is None:
                return
            self._engine._run_job(job)


class InferenceEngine(QObject):
    """A job queue of scoring runs on one background thread; signals arrive on the main thread."""

    sigQueued = Signal(int)                        # job id
    sigStarted = Signal(int)                       # job id
    sigProgress = Signal(int, float, str, float)   # job id, fraction, message, ETA seconds (-1: unknown)
    sigFinished = Signal(int, object)              # job id, ScoreResult
    sigFailed = Signal(int, str)                   # job id, sentence for the user
    sigCancelled = Signal(int)                     # job id
    sigDevice = Signal(str)                        # the device in use, described ("CPU", "GPU: ...")
    sigCachedFound = Signal(str, object)           # slide path, list[CachedResult] (newest first)
    sigIdle = Signal()                             # no job queued or running
    sigMethods = Signal(object)                    # list[str]: the registered scoring methods

    def __init__(self, parent: QObject | None = None, *, cache_for: Callable[[str], ResultCache | None] =
                 default_cache_for, score_fn: ScoreFn | None = None, use_process: bool = True) -> None:
        super().__init__(parent)
        self.cache_for = cache_for
        self._score_fn = score_fn
        self._ids = itertools.count(1)
        self._jobs: dict[int, ScoreJob] = {}
        self._lock = threading.Lock()
        self._inbox = Inbox(self._deliver, self)
        self._thread = _WorkerThread(self)
        self._io = ThreadPoolExecutor(1, thread_name_prefix="engine-io")
        self._closed = False
        self.device = "CPU"
        self.use_process = use_process
        self._process: ScoreProcess | None = None
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.close)

    # -- public API (main thread) -----------------------------------------------------------------------
    def submit(self, job: ScoreJob) -> int:
        """Queue a job; returns its id. Signals follow on the main thread."""
        if self._closed:
            raise RuntimeError("the inference engine is closed")
        job.id = next(self._ids)
        job.state = "queued"
        with self._lock:
            self._jobs[job.id] = job
        if not self._thread.isRunning():
            self._thread.start()   # started on first use: a window that never scores has no thread
        self._thread.jobs.put(job)
        self.sigQueued.emit(job.id)
        return job.id

    def job(self, job_id: int) -> ScoreJob | None:
        """The job with this id (kept until the engine closes)."""
        with self._lock:
            return self._jobs.get(job_id)

    def active_jobs(self) -> list[ScoreJob]:
        """Jobs queued or running, oldest first."""
        with self._lock:
            return [j for j in self._jobs.values() if j.state in ("queued", "running")]

    @property
    def busy(self) -> bool:
        """True while a job is queued or running."""
        return bool(self.active_jobs())

    def cancel(self, job_id: int) -> None:
        """Ask a job to stop; `sigCancelled` follows once the worker has stopped it (or at once if queued)."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or job.state not in ("queued", "running"):
                return
            job.cancel_event.set()
            was_queued = job.state == "queued"
            if was_queued:
                job.state = "cancelled"
        if was_queued:
            self.sigCancelled.emit(job_id)
            if not self.busy:
                self.sigIdle.emit()

    def cancel_all(self) -> None:
        """Cancel every queued and running job."""
        for job in self.active_jobs():
            self.cancel(job.id)

    def probe_device(self, requested: str = "auto") -> None:
        """Find the device "auto" would use, off the main thread; `sigDevice` follows."""
        self._io.submit(lambda: self._inbox.post(("device", 0, probe_device(requested))))

    def list_methods(self) -> None:
        """Import the scorer modules off the main thread (they pull in scipy, skimage...); `sigMethods`
        follows with the registered method names."""
        def work() -> None:
            from her2viewer.scoring.base import available_methods

            try:
                methods = available_methods()
            except Exception:  # noqa: BLE001 - a broken scorer module must not take the window down
                log.exception("loading the scoring methods failed")
                methods = []
            self._inbox.post(("methods", 0, methods))

        self._io.submit(work)

    def load_cached(self, slide_path: str) -> None:
        """Look up the cached results of a slide off the main thread; `sigCachedFound` follows."""
        def work() -> None:
            try:
                cache = self.cache_for(slide_path)
                found = cache.latest_for(slide_path) if cache is not None else []
            except Exception:  # noqa: BLE001 - a broken cache only costs a re-run
                log.exception("reading the cached results of %s failed", slide_path)
                found = []
            self._inbox.post(("cached", slide_path, found))

        self._io.submit(work)

    def close(self, timeout_s: float = 5.0) -> None:
        """Cancel everything and stop the worker thread (waits up to `timeout_s`)."""
        if self._closed:
            return
        self._closed = True
        self.cancel_all()
        self._thread.jobs.put(None)
        self._io.shutdown(wait=False, cancel_futures=True)
        if self._thread.isRunning() and not self._thread.wait(int(timeout_s * 1000)):
            log.warning("the inference thread did not stop within %.0f s", timeout_s)
        # the scoring child is shared by all engines and stops at exit

    # -- worker side ------------------------------------------------------------------------------------
    def _run_job(self, job: ScoreJob) -> None:
        """Run one job on the worker thread; every outcome is posted, nothing raises."""
        with self._lock:
            if job.state != "queued":
                return  # cancelled while queued (already reported)
            job.state = "running"
        job.started = time.perf_counter()
        self._inbox.post(("started", job.id, None))
        last = [0.0]

        def progress(fraction: float, message: str) -> None:
            now = time.perf_counter()
            if now - last[0] < PROGRESS_INTERVAL_S and fraction < 1.0:
                return
            last[0] = now
            eta = task.eta_s(fraction)
            self._inbox.post(("progress", job.id, (fraction, message, -1.0 if eta is None else eta)))

        task = Task(progress, job.cancel_event.is_set)
        try:
            result = self._cached_or_scored(job, task)
        except Cancelled:
            job.state = "cancelled"
            log.info("job %d (%s on %s) cancelled after %.2f s", job.id, job.method, job.slide_name,
                     time.perf_counter() - job.started)
            self._inbox.post(("cancelled", job.id, None))
            return
        except BaseException as exc:  # noqa: BLE001 - every failure becomes a message, never a crash
            log.exception("job %d (%s on %s) failed", job.id, job.method, job.slide_name)
            job.state = "failed"
            self._inbox.post(("failed", job.id, error_sentence(job, exc)))
            return
        job.state = "finished"
        self._inbox.post(("finished", job.id, result))

    def _cached_or_scored(self, job: ScoreJob, task: Task) -> ScoreResult:
        """The cached result of the job, or a new one (then cached): in the scoring process for slide files,
        else (an in-memory slide, an injected score function) on this thread."""
        options = replace(job.options, extra=dict(job.options.extra))
        check_region(job.source, job.scope)
        job.model_sha256 = model_sha256_for(job.method, options)
        cache = self.cache_for(job.slide_path) if job.slide_path else None
        req = ScoreRequest(job.slide_path, job.method, options, job.scope, cache, job.model_sha256, job.use_cache,
                           job.exclude)
        self._inbox.post(("device", job.id, probe_device(options.device)))
        if self.use_process and job.slide_path and self._score_fn is None:
            if self._process is None:
                self._process = shared_score_process()
            result, job.from_cache = self._process.run(req, task.progress, task.cancelled)
        else:
            result, job.from_cache = cached_or_scored(job.source, req, task, self._score_fn)
        return result

    # -- main thread ----------------------------------------------------------------------------------------
    def _deliver(self, item: tuple[str, Any, Any]) -> None:
        kind, key, payload = item
        if kind == "device":
            self.device = str(payload)
            self.sigDevice.emit(self.device)
        elif kind == "methods":
            self.sigMethods.emit(list(payload))
        elif kind == "cached":
            self.sigCachedFound.emit(key, payload)
        elif kind == "started":
            self.sigStarted.emit(key)
        elif kind == "progress":
            job = self.job(key)
            if job is not None and job.state == "running":
                fraction, message, eta = payload
                self.sigProgress.emit(key, float(fraction), str(message), float(eta))
        elif kind == "finished":
            job = self.job(key)
            if isinstance(payload, ScoreResult) and job is not None and not job.from_cache:
                self.device = describe_device(str(payload.params.get("device") or "cpu"))
                self.sigDevice.emit(self.device)
            self.sigFinished.emit(key, payload)
        elif kind == "failed":
            self.sigFailed.emit(key, payload)
        elif kind == "cancelled":
            self.sigCancelled.emit(key)
        if kind in ("finished", "failed", "cancelled") and not self.busy:
            self.sigIdle.emit()
