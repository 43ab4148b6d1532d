"""Pixel size with provenance in the viewer (editable in Properties, remembered per slide, followed by the
scale bar, the coordinates, the scoring jobs and the patch export) and the QC banner of the score panel."""

from __future__ import annotations

import csv

import pytest
from PySide6.QtCore import QSettings
from shapely.geometry import box

from her2viewer.annotations.model import Annotation
from her2viewer.progress import Task
from her2viewer.project import ProjectDB, ResultCache
from her2viewer.scoring.base import ScoreOptions
from her2viewer.scoring.result import ModelInfo, ScoreResult
from her2viewer.slide import ArraySlide
from her2viewer.slide.writer import write_pyramidal_tiff
from her2viewer.ui.review.panel import ReviewPanel
from her2viewer.ui.scoring.score_panel import NOT_ASSESSABLE, QC_BANNER_COLORS, ScorePanel
from her2viewer.ui.viewer.scale_bar import format_length, scale_bar_for

from .conftest import textured_image

SUFFIX = {"estimated": "(est.)", "assumed": "(assumed)"}


def make_window(qtbot, settings_path):
    from her2viewer.ui.main_window import MainWindow

    win = MainWindow(QSettings(str(settings_path), QSettings.Format.IniFormat))
    qtbot.addWidget(win)
    win.resize(1100, 700)
    win.show()
    return win


def open_and_wait(qtbot, win, path):
    n = win.tabs.count()
    win.open_paths([str(path)])
    qtbot.waitUntil(lambda: win.tabs.count() == n + 1, timeout=20_000)
    # the tab is shown at once; a pixel size the file does not state is estimated after
    qtbot.waitUntil(lambda: win.current_tab().source.mpp_source is not None, timeout=20_000)
    return win.current_tab()


@pytest.fixture
def unscaled_slide(tmp_path):
    """A pyramidal TIFF whose file states no pixel size."""
    return write_pyramidal_tiff(tmp_path / "noscale.tif", textured_image(1600, 1200, seed=4), tile_size=256)


# -- scale bar ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind, suffix", [("file", ""), ("user", ""), (None, ""),
                                          ("estimated", " (est.)"), ("assumed", " (assumed)")])
def test_scale_bar_label_says_estimated_or_assumed(kind, suffix):
    bar = scale_bar_for(0.5, 2.0, mpp_source=kind)
    assert bar.label == format_length(bar.length_um) + suffix
    assert bar.length_px * 2.0 * 0.5 == pytest.approx(bar.length_um)


def test_view_scale_bar_follows_the_sources_pixel_size(qtbot, make_view, monkeypatch):
    import her2viewer.ui.viewer.slide_view as sv

    painted = []
    real = sv.paint_scale_bar
    monkeypatch.setattr(sv, "paint_scale_bar", lambda p, bar, x, b: (painted.append(bar), real(p, bar, x, b)))
    src = ArraySlide(textured_image(2000, 1500), mpp=0.5, name="scaled")
    view = make_view(src)
    view.grab()
    first = painted[-1]
    assert first.length_px * view.downsample * 0.5 == pytest.approx(first.length_um)
    assert "est." not in first.label and view.base_mag == pytest.approx(20.0)
    src.set_pixel_size(0.25, "estimated", 0.17)
    view.pixel_size_changed()
    view.grab()
    bar = painted[-1]
    assert bar.length_px * view.downsample * 0.25 == pytest.approx(bar.length_um)
    assert bar.label.endswith(" (est.)")
    assert view.base_mag is None            # no magnification presets from an estimate
    src.set_pixel_size(0.25, "user")
    view.pixel_size_changed()
    view.grab()
    assert not painted[-1].label.endswith(")") and view.base_mag == pytest.approx(40.0)


# -- properties dialog, remembered per slide ---------------------------------------------------------------
def test_properties_sets_and_remembers_a_user_pixel_size(qtbot, tmp_path, unscaled_slide):
    settings = tmp_path / "settings.ini"
    win = make_window(qtbot, settings)
    try:
        tab = open_and_wait(qtbot, win, unscaled_slide)
        src = tab.source
        auto_kind = src.mpp_source
        assert auto_kind in ("estimated", "assumed") and src.mpp
        tab.view.sigCursorMoved.emit((100.0, 200.0))
        assert win.cursor_label.text().endswith(SUFFIX[auto_kind])
        dlg = win.show_properties()
        assert ("estimated from the nuclei" if auto_kind == "estimated" else "ASSUMED") in \
            dlg.mpp_source_label.text()
        assert not dlg.reset_mpp_button.isEnabled()
        rows = {dlg.summary.item(i, 0).text(): dlg.summary.item(i, 1).text() for i in range(dlg.summary.rowCount())}
        assert rows["Objective"] == "unknown"          # not 10 / an estimated or assumed pixel size
        dlg.mpp_spin.setValue(0.2527)
        dlg.apply_mpp_button.click()
        assert src.mpp == pytest.approx(0.2527) and src.mpp_source == "user"
        assert dlg.mpp_source_label.text().startswith("set by you")
        assert dlg.reset_mpp_button.isEnabled()
        rows = {dlg.summary.item(i, 0).text(): dlg.summary.item(i, 1).text() for i in range(dlg.summary.rowCount())}
        assert rows["Pixel size"].startswith("0.2527") and "set by you" in rows["Pixel size"]
        assert rows["Objective"] == "39.6x"
        tab.view.sigCursorMoved.emit((100.0, 200.0))
        assert win.cursor_label.text() == "x 100  y 200 px   |   x 25.3  y 50.5 \u00b5m"
        assert win.mag_actions[0].isEnabled()          # a size the user gives makes magnifications
        dlg.close()
    finally:
        win.close()

    # a new window with the same settings file restores it when the slide is opened again
    win2 = make_window(qtbot, settings)
    try:
        tab2 = open_and_wait(qtbot, win2, unscaled_slide)
        assert tab2.source.mpp == pytest.approx(0.2527) and tab2.source.mpp_source == "user"
        # the scoring job of this tab carries it to the scoring process
        job = win2.scoring.job_for(tab2, "rules", scope_key="auto")
        assert job.options.mpp == pytest.approx(0.2527)
        # going back to the file / the estimate forgets it
        dlg2 = win2.show_properties()
        dlg2.reset_mpp_button.click()
        qtbot.waitUntil(lambda: tab2.source.mpp_source in ("estimated", "assumed"), timeout=20_000)
        qtbot.waitUntil(lambda: dlg2.mpp_source_label.text() != "" and
                        not dlg2.mpp_source_label.text().startswith("set by you"), timeout=5000)
        assert win2.remembered_pixel_size(str(unscaled_slide)) is None
        assert win2.scoring.job_for(tab2, "rules", scope_key="auto").options.mpp is None
        dlg2.close()
    finally:
        win2.close()
    win3 = make_window(qtbot, settings)
    try:
        assert open_and_wait(qtbot, win3, unscaled_slide).source.mpp_source in ("estimated", "assumed")
    finally:
        win3.close()


def test_a_file_pixel_size_is_not_sent_to_the_scorer_and_reset_goes_back_to_it(qtbot, tmp_path):
    path = write_pyramidal_tiff(tmp_path / "scaled.tif", textured_image(1200, 900), mpp=0.5, tile_size=256)
    win = make_window(qtbot, tmp_path / "s.ini")
    try:
        tab = open_and_wait(qtbot, win, path)
        assert tab.source.mpp_source == "file"
        assert win.scoring.job_for(tab, "rules", scope_key="auto").options.mpp is None
        win.set_pixel_size(tab, 0.3)
        assert win.scoring.job_for(tab, "rules", scope_key="auto").options.mpp == pytest.approx(0.3)
        win.set_pixel_size(tab, None)
        assert tab.source.mpp == pytest.approx(0.5) and tab.source.mpp_source == "file"
    finally:
        win.close()


def test_the_result_cache_is_not_reused_across_user_pixel_sizes(tmp_path):
    from her2viewer.ui.scoring.score_process import ScoreRequest, cached_or_scored

    path = tmp_path / "s.tif"
    path.write_bytes(b"the cache only needs a file")
    cache = ResultCache(tmp_path)
    calls = []

    def fake(source, method, options, scope="auto", task=None, **kw):
        calls.append(options.mpp)
        return ScoreResult(str(path), method, "1+", {"1+": 1.0}, ModelInfo("fake", None, "1"))

    def run(mpp):
        req = ScoreRequest(str(path), "rules", ScoreOptions(mpp=mpp), "auto", cache, None)
        return cached_or_scored(None, req, Task(), fake)[1]

    assert run(None) is False and run(None) is True
    assert run(0.3) is False            # another pixel size: scored again
    assert run(0.3) is True and run(0.25) is False
    assert calls == [None, 0.3, 0.25]


# -- patch export ------------------------------------------------------------------------------------------------
def test_patch_export_uses_the_resolved_pixel_size(qtbot, tmp_path, unscaled_slide):
    win = make_window(qtbot, tmp_path / "s.ini")
    win.annotations.project_dir = tmp_path / "proj"
    try:
        tab = open_and_wait(qtbot, win, unscaled_slide)
        kind = tab.source.mpp_source
        m = win.annotations
        m.current().aset.add(Annotation.create(box(0, 0, 600, 600), "HER2 3+"))
        job = m.export_patches(tmp_path / "patches", dialog=False)
        assert job is not None
        qtbot.waitUntil(lambda: job.finished, timeout=30_000)
        assert job.state == "done", job.message
        rows = list(csv.DictReader(open(tmp_path / "patches" / "labels.csv")))
        assert rows and {r["label"] for r in rows} == {"3+"}
        word = "estimated" if kind == "estimated" else "ASSUMED"
        assert word in m.last_patch_message and f"{tab.source.mpp:.3g}" in m.last_patch_message
    finally:
        win.close()


# -- QC banner ------------------------------------------------------------------------------------------------
def _result(status=None, messages=(), score="2+", **qc_extra):
    qc = None
    if status is not None:
        qc = {"status": status, "stain": "dab_ihc", "mpp": 0.46, "mpp_source": "estimated",
              "mpp_uncertainty": 0.17, "tissue_fraction": 0.31, "tumour_cells": 5120,
              "messages": list(messages), **qc_extra}
    assessable = status != "not_assessable"
    probs = {"0": 0.05, "1+": 0.15, "2+": 0.7, "3+": 0.1} if assessable else {}
    return ScoreResult("slide.tif", "rules", score if assessable else None, probs,
                       ModelInfo("asco-cap-rules", None, "1.0"), confidence=0.7 if assessable else None, qc=qc)


@pytest.fixture
def panel(qtbot):
    p = ScorePanel()
    qtbot.addWidget(p)
    p.resize(390, 700)
    p.show()
    return p


def test_banner_amber_for_a_warning_with_its_messages(panel):
    panel.set_result(_result("warning", ["few tumour cells (312): the score is less reliable",
                                         "the pixel size was estimated from the nuclei"]))
    assert panel.qc_banner.isVisible() and panel.qc_banner.wordWrap()
    text = panel.qc_banner.text()
    assert "few tumour cells (312)" in text and "estimated from the nuclei" in text
    assert QC_BANNER_COLORS["warning"][1] in panel.qc_banner.styleSheet()
    assert panel.call_label.text() == "2+" and panel.prob_plot.isVisible()     # still scored
    assert "0.46 \u00b5m/px (estimated from the nuclei \u00b117%)" in panel.model_label.text()


def test_not_assessable_shows_red_banner_and_no_score(panel):
    panel.set_result(_result("not_assessable", ["the stain is not HER2 DAB IHC (looks like H&E)"]))
    assert panel.qc_banner.isVisible()
    assert "looks like H&amp;E" in panel.qc_banner.text() or "looks like H&E" in panel.qc_banner.text()
    assert QC_BANNER_COLORS["not_assessable"][1] in panel.qc_banner.styleSheet()
    assert panel.call_label.text() == NOT_ASSESSABLE
    assert panel.confidence_label.text() == "" and panel.call3_label.text() == ""
    for plot in (panel.prob_plot, panel.hist_plot, panel.cell_plot):
        assert not plot.isVisible()
    # the next, assessable result hides the banner and brings the score back
    panel.set_result(_result("ok"))
    assert not panel.qc_banner.isVisible() and panel.call_label.text() == "2+" and panel.prob_plot.isVisible()
    panel.set_result(_result("not_assessable", ["no tissue found: nothing to score"]))
    panel.set_result(_result(None))              # older cached result without qc
    assert not panel.qc_banner.isVisible() and panel.call_label.text() == "2+"
    panel.set_result(None)
    assert not panel.qc_banner.isVisible()


def test_review_panel_does_not_preselect_a_not_assessable_result(qtbot, tmp_path):
    slide = tmp_path / "slide.tif"
    slide.write_bytes(b"reviews only need the path")
    db = ProjectDB.open(tmp_path)
    w = ReviewPanel()
    qtbot.addWidget(w)
    w.show()
    try:
        w.set_target(db, str(slide), suggestion=_result("ok"))
        assert w.chosen_score() == "2+"
        w.set_target(db, str(slide), suggestion=_result("not_assessable", ["too few tumour cells"]))
        assert w.chosen_score() is None and not w.accept_button.isEnabled()
        assert "not assessable" in w.suggested_label.text()
        assert w.accept_suggestion() is None
    finally:
        db.close()


def test_not_assessable_result_in_the_window(qtbot, tmp_path):
    path = write_pyramidal_tiff(tmp_path / "scaled.tif", textured_image(1200, 900), mpp=0.5, tile_size=256)
    win = make_window(qtbot, tmp_path / "s.ini")
    try:
        tab = open_and_wait(qtbot, win, path)
        ctl = win.scoring
        ctl.show_result(tab, _result("not_assessable", ["the stain is not HER2 DAB IHC"]))
        assert ctl.score_panel.call_label.text() == NOT_ASSESSABLE
        assert ctl.score_panel.qc_banner.isVisibleTo(ctl.score_panel)
        assert ctl.review_panel.chosen_score() is None
        # "Score anyway" queues the same method with force on
        panel = ctl.score_panel
        assert panel.force_button.isVisibleTo(panel)
        submitted = []
        ctl.engine.submit = lambda job: submitted.append(job) or 1
        panel.force_button.click()
        assert len(submitted) == 1 and submitted[0].options.force and submitted[0].method == "rules"
    finally:
        win.close()
