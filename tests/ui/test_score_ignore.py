"""Scoring in the GUI leaves the Ignore annotations out: the job carries their area, the scoring process
cuts it out of what is scored (no tissue mask on the main thread), and the result cache tells the runs apart."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QSettings
from shapely.geometry import box

from her2viewer.annotations.model import Annotation
from her2viewer.project import ResultCache
from her2viewer.scoring.base import ScoreOptions
from her2viewer.slide import open_slide
from her2viewer.slide.writer import write_pyramidal_tiff
from her2viewer.synth.core import generate_core
from her2viewer.ui.scoring.engine import InferenceEngine, ScoreJob

SIZE = 770                       # generate_core(diameter_px=700) pads the core to 770 px
IGNORE = box(SIZE // 2, 0, SIZE, SIZE)   # the right half


@pytest.fixture(scope="module")
def slide(tmp_path_factory):
    d = tmp_path_factory.mktemp("ignore")
    core = generate_core("2+", 5, diameter_px=700)
    assert core.image.shape[:2] == (SIZE, SIZE)
    return write_pyramidal_tiff(d / "core.tif", core.image, mpp=0.5, tile_size=256)


def _finish(qtbot, engine, job, timeout=120_000):
    ends = {}
    for name in ("sigFinished", "sigFailed", "sigCancelled"):
        getattr(engine, name).connect(lambda *args, n=name: ends.setdefault(n, args))
    job_id = engine.submit(job)
    qtbot.waitUntil(lambda: any(a[0] == job_id for a in ends.values()), timeout=timeout)
    name = next(n for n, a in ends.items() if a[0] == job_id)
    return name, ends[name]


def _in_ignore(result) -> int:
    cells = result.evidence.cells
    assert cells is not None and len(cells) > 20
    x = np.asarray(cells.x, float)
    return int((x > SIZE // 2 + 1).sum())


def test_a_job_with_an_ignore_area_yields_no_cells_inside_it(qtbot, tmp_path, slide):
    engine = InferenceEngine(cache_for=lambda _p: ResultCache(tmp_path / "project"))
    try:
        src = open_slide(slide)
        name, (_id, whole) = _finish(qtbot, engine, ScoreJob(src, "rules", ScoreOptions()))
        assert name == "sigFinished" and _in_ignore(whole) > 20       # the right half has cells
        job = ScoreJob(src, "rules", ScoreOptions(), exclude=IGNORE)  # same parameters otherwise: cached run
        name, (_id, cut) = _finish(qtbot, engine, job)
        assert name == "sigFinished", cut
        assert not job.from_cache                                     # the cache tells the two apart
        assert _in_ignore(cut) == 0
        assert cut.params["excluded"] is True
        again = ScoreJob(src, "rules", ScoreOptions(), exclude=IGNORE)
        name, (_id, cached) = _finish(qtbot, engine, again)
        assert name == "sigFinished" and again.from_cache and _in_ignore(cached) == 0
    finally:
        engine.close()


def test_job_for_carries_the_tabs_ignore_annotations(qtbot, tmp_path, slide):
    from her2viewer.ui.main_window import MainWindow

    win = MainWindow(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    win.annotations.project_dir = tmp_path / "proj"
    qtbot.addWidget(win)
    try:
        win.open_paths([str(slide)])
        qtbot.waitUntil(lambda: win.tabs.count() == 1, timeout=10_000)
        tab = win.current_tab()
        assert win.scoring.job_for(tab, "rules", ScoreOptions(), "auto").exclude is None
        s = win.annotations.session_for(tab)
        s.aset.add(Annotation.create(IGNORE, "Ignore"))
        s.aset.add(Annotation.create(box(0, 0, 100, 100), "Tumour"))
        job = win.scoring.job_for(tab, "rules", ScoreOptions(), "auto")
        assert job.exclude is not None and job.exclude.equals(IGNORE) and job.scope == "auto"
        assert win.scoring.job_for(tab, "rules", ScoreOptions(), "slide").exclude is not None
    finally:
        win.close()
