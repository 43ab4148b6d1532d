"""The inference engine: jobs run off the main thread, cancel stops them within a second, failures become
sentences, results are cached per slide, method, model and parameters."""

from __future__ import annotations

import threading
import time

import pytest

from her2viewer.progress import Task
from her2viewer.project import ResultCache
from her2viewer.scoring.asco import SCORES4
from her2viewer.scoring.base import ScoreOptions
from her2viewer.scoring.pss.testing import make_test_checkpoint
from her2viewer.slide import open_slide
from her2viewer.slide.region import Region
from her2viewer.slide.writer import write_pyramidal_tiff
from her2viewer.synth.core import generate_core
from her2viewer.ui.scoring.engine import InferenceEngine, ScoreJob, error_sentence


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A small synthetic 2+ core as a pyramidal TIFF with mpp, and a tiny random PSS checkpoint."""
    d = tmp_path_factory.mktemp("engine")
    core = generate_core("2+", 5, diameter_px=700)
    slide = write_pyramidal_tiff(d / "core.tif", core.image, mpp=0.5, tile_size=256)
    return {"dir": d, "slide": slide, "ckpt": make_test_checkpoint(d / "m")}


@pytest.fixture
def engine(qtbot, tmp_path):
    eng = InferenceEngine(cache_for=lambda _p: ResultCache(tmp_path / "project"))
    yield eng
    eng.close()


def _finish(qtbot, engine, job, timeout=180_000):
    """Submit a job and wait for its end; returns (signal name, args)."""
    ends = {}
    for name in ("sigFinished", "sigFailed", "sigCancelled"):
        getattr(engine, name).connect(lambda *args, n=name: ends.setdefault(n, args))
    job_id = engine.submit(job)
    qtbot.waitUntil(lambda: any(a[0] == job_id for a in ends.values()), timeout=timeout)
    name = next(n for n, a in ends.items() if a[0] == job_id)
    return name, ends[name]


def test_rules_job_runs_off_the_main_thread_and_reloads_from_the_cache(qtbot, engine, data):
    threads = []

    def spy(source, method, options, *, scope, task):
        from her2viewer.scoring.driver import score_slide

        threads.append(threading.current_thread())
        return score_slide(source, method, options, scope=scope, task=task)

    engine._score_fn = spy
    progress = []
    engine.sigProgress.connect(lambda *a: progress.append(a))
    src = open_slide(data["slide"])
    name, (job_id, result) = _finish(qtbot, engine, ScoreJob(src, "rules", ScoreOptions()))
    assert name == "sigFinished"
    assert result.score in SCORES4 and result.cells["n_tumour"] > 50
    assert len(result.evidence.cells) >= result.cells["n_tumour"]
    assert threads and threads[0] is not threading.main_thread()
    assert progress and all(0.0 <= p[1] <= 1.0 for p in progress)
    assert not engine.job(job_id).from_cache
    # the same job again: from the cache, the scorer is not called
    name, (job2, again) = _finish(qtbot, engine, ScoreJob(src, "rules", ScoreOptions()))
    assert name == "sigFinished" and engine.job(job2).from_cache and len(threads) == 1
    assert again.score == result.score and len(again.evidence.cells) == len(result.evidence.cells)
    # another parameter misses the cache
    name, (job3, _r) = _finish(qtbot, engine, ScoreJob(src, "rules", ScoreOptions(seed=3)))
    assert name == "sigFinished" and not engine.job(job3).from_cache and len(threads) == 2


def test_cancel_stops_a_running_job_within_a_second(qtbot, engine, data):
    started = threading.Event()

    def slow(source, method, options, *, scope, task: Task):
        started.set()
        for i in range(100_000):
            time.sleep(0.01)
            task.report(i / 100_000, "working")
        raise AssertionError("not cancelled")

    engine._score_fn = slow
    job_id = engine.submit(ScoreJob(open_slide(data["slide"]), "rules", ScoreOptions(), use_cache=False))
    assert started.wait(10)
    t0 = time.perf_counter()
    with qtbot.waitSignal(engine.sigCancelled, timeout=5000, check_params_cb=lambda i: i == job_id):
        engine.cancel(job_id)
    assert time.perf_counter() - t0 < 1.0
    assert engine.job(job_id).state == "cancelled" and not engine.busy


def test_cancel_stops_the_real_pss_scorer_within_a_second(qtbot, engine, data):
    opts = ScoreOptions(n_samples=5000, top_k=5, device="cpu", model_path=str(data["ckpt"]))
    progressed = []
    engine.sigProgress.connect(lambda i, f, m, e: progressed.append(f))
    job_id = engine.submit(ScoreJob(open_slide(data["slide"]), "pss", opts, use_cache=False))
    qtbot.waitUntil(lambda: bool(progressed), timeout=180_000)  # the child is mid-job
    t0 = time.perf_counter()
    with qtbot.waitSignal(engine.sigCancelled, timeout=10_000, check_params_cb=lambda i: i == job_id):
        engine.cancel(job_id)
    # target 1 s: the scorer checks between samples, and a child that cannot check in time (still importing
    # torch or loading the model for its first job) is ended after CANCEL_GRACE_S.
    assert time.perf_counter() - t0 < 1.2
    # the next job starts a fresh child and runs normally
    name, (_id, result) = _finish(qtbot, engine, ScoreJob(open_slide(data["slide"]), "pss",
                                                          ScoreOptions(n_samples=3, top_k=1, device="cpu",
                                                                       model_path=str(data["ckpt"])),
                                                          use_cache=False))
    assert name == "sigFinished" and len(result.samples) == 3


def test_a_queued_job_is_cancelled_at_once(qtbot, engine, data):
    gate = threading.Event()

    def blocked(source, method, options, *, scope, task):
        while not gate.wait(0.01):
            task.check()
        raise AssertionError("unreachable")

    engine._score_fn = blocked
    src = open_slide(data["slide"])
    first = engine.submit(ScoreJob(src, "rules", ScoreOptions(), use_cache=False))
    second = engine.submit(ScoreJob(src, "rules", ScoreOptions(), use_cache=False))
    with qtbot.waitSignal(engine.sigCancelled, timeout=1000, check_params_cb=lambda i: i == second):
        engine.cancel(second)
    with qtbot.waitSignal(engine.sigCancelled, timeout=5000, check_params_cb=lambda i: i == first):
        engine.cancel(first)
    assert not engine.busy


def test_a_missing_checkpoint_fails_with_a_sentence_and_the_engine_goes_on(qtbot, engine, data):
    src = open_slide(data["slide"])
    missing = data["dir"] / "no_such_model"
    name, (_id, message) = _finish(qtbot, engine, ScoreJob(src, "pss", ScoreOptions(model_path=str(missing))))
    assert name == "sigFailed"
    assert "no_such_model" in message and "core.tif" in message and "pss" in message
    name, _ = _finish(qtbot, engine, ScoreJob(src, "rules", ScoreOptions()))
    assert name == "sigFinished"


def test_a_region_outside_the_slide_fails_without_a_crash(qtbot, engine, data):
    src = open_slide(data["slide"])
    region = Region((10**6, 10**6, 500, 500), None, "nowhere")
    name, (_id, message) = _finish(qtbot, engine, ScoreJob(src, "pss", ScoreOptions(
        model_path=str(data["ckpt"]), n_samples=3, top_k=1), region))
    assert name == "sigFailed"
    assert "core.tif" in message and "outside the slide" in message


def test_error_sentences_name_the_slide_and_say_what_to_do(data):
    job = ScoreJob(open_slide(data["slide"]), "pss", ScoreOptions())
    oom = error_sentence(job, RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    assert "core.tif" in oom and "ran out of memory" in oom and "fewer samples" in oom
    assert "core.tif" in error_sentence(job, ValueError("bad region"))


def test_slide_files_are_scored_in_a_child_process_whose_death_fails_the_job(qtbot, engine, data):
    import os
    import signal

    src = open_slide(data["slide"])
    opts = ScoreOptions(n_samples=3, top_k=1, device="cpu", model_path=str(data["ckpt"]))
    name, (_id, result) = _finish(qtbot, engine, ScoreJob(src, "pss", opts, use_cache=False))
    assert name == "sigFinished" and len(result.samples) == 3
    child = engine._process._proc
    assert child is not None and child.is_alive() and child.pid != os.getpid()
    # a long job, then the child is killed (as the kernel does when memory runs out)
    progressed = []
    engine.sigProgress.connect(lambda i, f, m, e: progressed.append(f))
    ends = []
    engine.sigFailed.connect(lambda i, m: ends.append(m))
    long = ScoreOptions(n_samples=5000, top_k=5, device="cpu", model_path=str(data["ckpt"]))
    engine.submit(ScoreJob(src, "pss", long, use_cache=False))
    qtbot.waitUntil(lambda: bool(progressed), timeout=180_000)  # the child is mid-job
    os.kill(child.pid, signal.SIGKILL)
    qtbot.waitUntil(lambda: bool(ends), timeout=30_000)
    assert "stopped unexpectedly" in ends[0] and "out of memory" in ends[0] and "core.tif" in ends[0]
    # the next job starts a new child
    name, _ = _finish(qtbot, engine, ScoreJob(src, "pss", opts, use_cache=False))
    assert name == "sigFinished" and engine._process._proc.pid != child.pid
