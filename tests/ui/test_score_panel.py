"""Scoring from the window: the score panel shows what a result carries (histogram of N samples with k
highlighted, cell chart against 10%, cores table), overlays go on the slide, failures leave the window
usable, cached results come back when a slide is reopened."""

from __future__ import annotations

import time

import numpy as np
import pytest
from PySide6.QtCore import QRectF, QSettings
from PySide6.QtGui import QImage, QPainter, QTransform

from her2viewer.scoring.base import ScoreOptions
from her2viewer.scoring.pss.testing import make_test_checkpoint
from her2viewer.scoring.result import CellDetections, CoreResult, ModelInfo, SampleRecord, ScoreResult
from her2viewer.slide.writer import write_pyramidal_tiff
from her2viewer.synth.core import generate_core
from her2viewer.ui.scoring.result_layers import CELLS, CORES, MEMBRANE_COLORS, PATCHES, CellLayer
from her2viewer.ui.scoring.score_panel import ScorePanel, sample_histogram


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("panel")
    core = generate_core("3+", 2, diameter_px=700)
    slide = write_pyramidal_tiff(d / "core.tif", core.image, mpp=0.5, tile_size=256)
    return {"dir": d, "slide": slide, "ckpt": make_test_checkpoint(d / "m")}


@pytest.fixture
def make_window(qtbot, tmp_path):
    """Factory: a main window with `slide` open, scoring into `project`; returns (window, controller, tab)."""
    from her2viewer.ui.main_window import MainWindow

    made = []

    def make(slide, project):
        w = MainWindow(QSettings(str(tmp_path / f"settings{len(made)}.ini"), QSettings.Format.IniFormat))
        qtbot.addWidget(w)
        ctl = w.scoring                      # installed by the main window
        ctl.project_folder = project
        made.append(ctl)
        w.resize(1400, 900)
        w.show()
        w.open_paths([str(slide)])
        qtbot.waitUntil(lambda: w.current_tab() is not None, timeout=20_000)
        return w, ctl, w.current_tab()

    yield make
    for ctl in made:
        ctl.close()


def _run(qtbot, ctl, **kw):
    job_id = ctl.run(**kw)
    assert job_id is not None
    kind, payload = ctl.wait_result(job_id, 120)
    return kind, payload


def test_pss_from_the_gui_shows_n_samples_with_k_highlighted(qtbot, make_window, data, tmp_path):
    w, ctl, tab = make_window(data["slide"], tmp_path / "project")
    opts = ScoreOptions(n_samples=12, top_k=3, model_path=str(data["ckpt"]))
    kind, result = _run(qtbot, ctl, method="pss", options=opts)
    assert kind == "finished"
    panel = ctl.score_panel
    assert panel.result is result and panel.hist_plot.isVisible() and not panel.cell_plot.isVisible()
    sel = panel.hist_selected.opts["height"]
    other = panel.hist_other.opts["height"]
    assert int(np.sum(sel) + np.sum(other)) == 12 and int(np.sum(sel)) == 3
    assert list(panel.hist_other.opts["y0"]) == list(sel)   # stacked on the selected ones
    assert panel.call_label.text() == result.score and result.score3 in panel.call3_label.text()
    assert "TEST MODEL" in panel.model_label.text()
    probs = panel.prob_bars.opts["height"]
    assert np.isclose(np.sum(probs), 1.0)
    # overlays: the patch boxes of the 3 selected PSSs and the support heatmap
    names = [la.name for la in tab.layers.layers]
    assert PATCHES in names and any("pss_support" in n for n in names)
    assert ctl.controls.device_label.text() == "Device: CPU"
    assert ctl.review_panel.suggested_score() == result.score


def test_rules_from_the_gui_shows_the_cell_chart_and_explanation(qtbot, make_window, data, tmp_path):
    w, ctl, tab = make_window(data["slide"], tmp_path / "project")
    ctl.controls.method_combo.setCurrentText("rules")
    kind, result = _run(qtbot, ctl)
    assert kind == "finished"
    panel = ctl.score_panel
    assert panel.cell_plot.isVisible() and not panel.hist_plot.isVisible()
    assert panel.explanation_label.text() == result.explanation and result.explanation
    heights = panel.cell_bars.opts["height"]
    assert heights[-1] == pytest.approx(result.cells["pct_complete_strong"])
    assert panel.threshold_line.value() == 10.0
    layer = tab.layers.find(CELLS)
    assert isinstance(layer, CellLayer) and layer.n == len(result.evidence.cells)


def test_a_failing_job_shows_the_error_and_the_window_stays_usable(qtbot, make_window, data, tmp_path):
    w, ctl, tab = make_window(data["slide"], tmp_path / "project")
    kind, message = _run(qtbot, ctl, method="pss",
                         options=ScoreOptions(model_path=str(data["dir"] / "missing_model")))
    assert kind == "failed" and "missing_model" in message
    assert "missing_model" in ctl.controls.error_text.toPlainText()
    assert not ctl.controls.cancel_button.isEnabled() and ctl.controls.run_button.isEnabled()
    tab.view.zoom_by(2.0)      # the view still works
    kind, result = _run(qtbot, ctl, method="rules", options=ScoreOptions())
    assert kind == "finished" and ctl.score_panel.result is result


def test_a_bad_scope_is_an_error_message_not_a_job(qtbot, make_window, data, tmp_path):
    w, ctl, tab = make_window(data["slide"], tmp_path / "project")
    ctl.controls.scope_combo.setCurrentIndex([k for k, _ in __import__(
        "her2viewer.ui.scoring.controls", fromlist=["SCOPES"]).SCOPES].index("core"))
    assert ctl.run(method="rules") is None
    assert "No TMA core is selected" in ctl.controls.error_text.toPlainText()
    assert not ctl.engine.busy


def test_cancel_from_the_controls(qtbot, make_window, data, tmp_path):
    w, ctl, tab = make_window(data["slide"], tmp_path / "project")
    opts = ScoreOptions(n_samples=5000, top_k=5, model_path=str(data["ckpt"]))
    job_id = ctl.run(method="pss", options=opts, use_cache=False)
    qtbot.waitUntil(lambda: ctl.controls.progress.value() > 100, timeout=60_000)
    assert ctl.controls.cancel_button.isEnabled()
    t0 = time.perf_counter()
    ctl.controls.cancel_button.click()
    kind, _ = ctl.wait_result(job_id, 10)
    assert kind == "cancelled" and time.perf_counter() - t0 < 2.0   # target 1 s; margin for a busy machine
    assert not ctl.controls.cancel_button.isEnabled()


def test_a_reopened_slide_shows_its_cached_result_without_scoring(qtbot, make_window, data, tmp_path,
                                                                  monkeypatch):
    project = tmp_path / "project"
    w, ctl, tab = make_window(data["slide"], project)
    kind, result = _run(qtbot, ctl, method="rules", options=ScoreOptions())
    assert kind == "finished"
    w.close()

    def must_not_run(*a, **k):
        raise AssertionError("the scorer ran although the result was cached")

    monkeypatch.setattr("her2viewer.scoring.driver.score_slide", must_not_run)
    w2, ctl2, tab2 = make_window(data["slide"], project)
    qtbot.waitUntil(lambda: ctl2.score_panel.result is not None, timeout=10_000)
    shown = ctl2.score_panel.result
    assert shown.score == result.score and len(shown.evidence.cells) == len(result.evidence.cells)
    assert "cached" in ctl2.score_panel.scope_label.text()
    assert tab2.layers.find(CELLS) is not None


def _tma_result() -> ScoreResult:
    cores = [CoreResult(id=f"A{i + 1}", bbox=(100 + 400 * i, 100, 300, 300), score=s, score3="",
                        probabilities={"0": 0.1, "1+": 0.2, "2+": 0.3, "3+": 0.4}, confidence=0.5 + 0.1 * i)
             for i, s in enumerate(("0", "2+", "3+"))]
    samples = [SampleRecord("2+" if i % 2 else "3+", {"0": 0, "1+": 0, "2+": 0.5, "3+": 0.5}, 0.1, i < 2,
                            core_id="A2" if i < 4 else "A3") for i in range(8)]
    return ScoreResult("tma.tif", "pss", "3+", {"0": 0.1, "1+": 0.1, "2+": 0.2, "3+": 0.6},
                       ModelInfo("m", "ab" * 32, "1"), samples=samples, cores=cores, confidence=0.7,
                       explanation="highest core score")


def test_a_single_sample_method_shows_no_sample_histogram_and_no_pss_parameters(qtbot):
    panel = ScorePanel()
    qtbot.addWidget(panel)
    panel.show()
    probs = {"0": 0.26, "1+": 0.27, "2+": 0.26, "3+": 0.21}
    r = ScoreResult("tile.jpg", "patch", "1+", probs, ModelInfo("patch_default", "ab" * 32, "1+rf"),
                    samples=[SampleRecord("1+", probs, 0.27, True)], confidence=0.27,
                    params={"N": 20, "k": 5, "seed": 0, "aggregator": "rf"})
    panel.set_result(r)
    assert not panel.hist_plot.isVisible() and "Parameters" not in panel.model_label.text()
    panel.set_result(_tma_result())
    assert panel.hist_plot.isVisible()


def test_the_cores_table_activates_a_core_and_filters_its_samples(qtbot):
    panel = ScorePanel()
    qtbot.addWidget(panel)
    panel.show()
    panel.set_result(_tma_result())
    assert panel.table.rowCount() == 3 and panel.table.item(1, 1).text() == "2+"
    with qtbot.waitSignal(panel.sigCoreActivated) as sig:
        panel._on_row(1, 0)
    assert sig.args[0].id == "A2" and panel.call_label.text() == "2+"
    sel, other = panel.hist_selected.opts["height"], panel.hist_other.opts["height"]
    assert int(np.sum(sel) + np.sum(other)) == 4     # only core A2's samples
    panel.set_reviewed({"A2": "3+"})
    assert panel.table.item(1, 3).text() == "3+"
    panel.show_slide()
    assert panel.call_label.text() == "3+"
    assert sample_histogram(_tma_result().samples)[0].sum() == 2


def test_the_core_badges_follow_the_result(qtbot):
    from her2viewer.ui.scoring.result_layers import result_layers

    layers = {la.name: la for la in result_layers(_tma_result())}
    cores = layers[CORES]
    assert cores.badge_text(cores.cores[1]) == "A2  2+"
    cores.set_reviewed({"A2": "3+"})
    assert cores.badge_text(cores.cores[1]) == "A2  3+ (was 2+)"


def _paint(layer, l0_rect, downsample, size=(800, 600)):
    img = QImage(size[0], size[1], QImage.Format.Format_ARGB32_Premultiplied)
    img.fill(0xFFFFFFFF)
    p = QPainter(img)
    p.setTransform(QTransform(1 / downsample, 0, 0, 1 / downsample, -l0_rect.left() / downsample,
                              -l0_rect.top() / downsample))
    t0 = time.perf_counter()
    layer.paint(p, l0_rect, downsample)
    ms = (time.perf_counter() - t0) * 1000
    p.end()
    return img, ms


def test_cell_layer_draws_only_when_zoomed_in_and_is_fast_on_100k_cells(qtbot):
    rng = np.random.default_rng(0)
    n = 100_000
    x = rng.uniform(0, 8000, n).astype(np.float32)
    y = rng.uniform(0, 8000, n).astype(np.float32)
    inten = rng.integers(0, 4, n).astype(np.int8)
    x[0], y[0], inten[0] = 400.0, 300.0, 3                 # a known strong, complete cell
    cells = CellDetections(x, y, inten, np.ones(n, bool), None)
    layer = CellLayer("cells", cells)
    assert layer.spacing == pytest.approx(8000 / np.sqrt(n), rel=0.2)   # about 25 px
    _, _ = _paint(layer, QRectF(0, 0, 8000, 6000), 10.0)
    assert layer.last_drawn == 0                          # zoomed out: cells too close to tell apart
    img, ms = _paint(layer, QRectF(0, 0, 2400, 1800), 3.0)
    assert 0 < layer.last_drawn < n and ms < 250
    inside = layer.indices_in(QRectF(0, 0, 2400, 1800))
    assert layer.last_drawn == len(inside)
    c = img.pixelColor(133, 100)                          # the strong cell, at screen (400/3, 300/3)
    strong = MEMBRANE_COLORS[3]
    assert c.name() == strong or (c.red() > 150 and c.green() < 80)


def test_three_way_result_shows_its_own_call_and_three_bars(qtbot):
    from her2viewer.scoring.result import ModelInfo, ScoreResult
    from her2viewer.ui.scoring.score_panel import ScorePanel

    panel = ScorePanel()
    qtbot.addWidget(panel)
    r = ScoreResult("s.png", "lowres", None, {"0": 0.1, "Low": 0.2, "High": 0.7}, ModelInfo("lowres", None, "1"),
                    score3="High", confidence=0.7)
    panel.set_result(r)
    assert panel.call_label.text() == "High" and panel.confidence_label.text() == "confidence: 70%"
    heights = panel.prob_bars.opts["height"]
    assert len(heights) == 3 and heights[2] == pytest.approx(0.7)
    ticks = panel.prob_plot.getAxis("bottom")._tickLevels[0]
    assert [t[1] for t in ticks] == ["0", "Low", "High"]


def test_each_tab_keeps_its_own_scoring_panel_state(qtbot, make_window, data, tmp_path):
    """Status, progress, errors, scope and Cancel belong to a slide tab, not to the window."""
    from her2viewer.ui.scoring.controls import SCOPES

    other = write_pyramidal_tiff(tmp_path / "other.tif", generate_core("0", 3, diameter_px=500).image,
                                 mpp=0.5, tile_size=256)
    w, ctl, first = make_window(data["slide"], tmp_path / "project")
    w.open_paths([str(other)])
    qtbot.waitUntil(lambda: w.current_tab() is not first and w.current_tab() is not None, timeout=20_000)
    second = w.current_tab()
    c = ctl.controls
    # an error on the second tab, with its own scope
    c.scope_combo.setCurrentIndex([k for k, _ in SCOPES].index("core"))
    assert ctl.run(method="rules") is None and "No TMA core" in c.error_text.toPlainText()
    # a long job on the first tab
    w.tabs.setCurrentWidget(first)
    assert c.error_text.toPlainText() == "" and c.scope_key() == "auto"
    job_id = ctl.run(method="pss", options=ScoreOptions(n_samples=5000, top_k=5, model_path=str(data["ckpt"])),
                     use_cache=False)
    qtbot.waitUntil(lambda: c.progress.value() > 50, timeout=60_000)
    assert c.cancel_button.isEnabled()
    # the second tab: its error and scope back, the first tab's job neither shown nor cancellable from here
    w.tabs.setCurrentWidget(second)
    assert "No TMA core" in c.error_text.toPlainText() and c.scope_key() == "core"
    assert not c.cancel_button.isEnabled() and c.progress.format() == "idle"
    assert "Running pss" not in c.status_label.text() and "%" not in c.status_label.text()
    c.cancel_button.setEnabled(True)
    c.cancel_button.click()                    # Cancel on the second tab leaves the first tab's job running
    assert ctl.engine.job(job_id).state in ("queued", "running")
    qtbot.wait(300)
    kept = ctl.state(first).panel.progress
    assert kept > 50                           # the first tab's progress went on in the background
    w.tabs.setCurrentWidget(first)
    assert c.cancel_button.isEnabled() and c.progress.value() >= kept and c.error_text.toPlainText() == ""
    c.cancel_button.click()
    kind, _ = ctl.wait_result(job_id, 10)
    assert kind == "cancelled"
    qtbot.waitUntil(lambda: c.status_label.text() == "Cancelled.", timeout=5_000)
    assert not c.cancel_button.isEnabled()
    w.tabs.setCurrentWidget(second)
    assert c.status_label.text() != "Cancelled." and ctl.result_for(second) is None


def test_wrapped_labels_keep_their_height_however_often_the_panel_is_shown(qtbot):
    """QLabel.heightForWidth counts the last minimum height: the labels grew 16 px a call, to thousands."""
    from her2viewer.scoring.result import ModelInfo, ScoreResult
    from her2viewer.ui.scoring.score_panel import ScorePanel

    panel = ScorePanel()
    qtbot.addWidget(panel)
    panel.resize(370, 800)
    panel.show()
    r = ScoreResult("s.png", "rules", "2+", {"2+": 0.9, "1+": 0.1}, ModelInfo("m", None, "1"), confidence=0.9,
                    explanation="complete weak-to-moderate membranes in 39% of tumour cells",
                    qc={"status": "warning", "stain": "dab_ihc", "messages": ["pixel size estimated"]})
    panel.set_result(r)
    first = [lab.minimumHeight() for lab in (panel.qc_banner, panel.explanation_label, panel.model_label)]
    for _ in range(30):
        panel.set_result(r)
        panel.resize(371, 800)
        panel.resize(370, 800)
    again = [lab.minimumHeight() for lab in (panel.qc_banner, panel.explanation_label, panel.model_label)]
    assert again == first and max(first) < 200
    # the 2+ caveat wraps instead of widening the panel
    assert "equivocal" in panel.call3_label.text() and panel.call3_label.wordWrap()
    assert panel.minimumSizeHint().width() <= 370   # fits the dock: no sideways scrolling
