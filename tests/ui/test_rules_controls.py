"""The Scoring panel's criteria (kept per slide) and stain-profile choice, and Tools > Calibrate scoring
thresholds (runs in the background, shows before / leave-one-out figures, saves a profile the panel offers)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QSettings, QStandardPaths

from her2viewer.scoring.rules.params import MembraneThresholds
from her2viewer.scoring.rules.profile import StainProfile
from her2viewer.slide.writer import write_pyramidal_tiff

from ..conftest import write_labelled_cores
from .conftest import textured_image


@pytest.fixture
def win(qtbot, tmp_path):
    QStandardPaths.setTestModeEnabled(True)
    from her2viewer.ui.main_window import MainWindow

    w = MainWindow(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(w)
    w.resize(1100, 700)
    w.show()
    yield w
    w.close()


def _open(qtbot, win, path):
    n = win.tabs.count()
    win.open_paths([str(path)])
    qtbot.waitUntil(lambda: win.tabs.count() == n + 1, timeout=20_000)
    return win.current_tab()


def test_criteria_are_kept_per_slide_and_reach_the_job(qtbot, win, tmp_path):
    a = _open(qtbot, win, write_pyramidal_tiff(tmp_path / "a.tif", textured_image(900, 700), mpp=0.5))
    ctl = win.scoring
    ctl.controls.criteria_combo.setCurrentIndex(2)          # gastric biopsy
    job = ctl.job_for(a, "rules", scope_key="auto")
    assert (job.options.criteria, job.options.specimen) == ("gastric", "biopsy")
    b = _open(qtbot, win, write_pyramidal_tiff(tmp_path / "b.tif", textured_image(900, 700, 1), mpp=0.5))
    assert ctl.controls.criteria() == ("breast", "resection")     # a new slide starts with breast
    win.tabs.setCurrentWidget(a)
    assert ctl.controls.criteria() == ("gastric", "biopsy")       # and the first keeps its own
    assert ctl.job_for(b, "rules", scope_key="auto").options.criteria == "gastric"  # the form's current choice


def test_a_chosen_profile_goes_to_the_rules_scorer(win, tmp_path):
    prof = StainProfile(MembraneThresholds(0.05, 0.15, 0.35, 0.45), 10.0, 0.073, "lab B")
    path = prof.save(tmp_path / "labB.json")
    controls = win.scoring.controls
    assert controls.options().extra == {}                          # shipped profile
    controls.add_profile(path)
    extra = controls.options().extra["rules"]
    assert extra["membrane"]["strong"] == 0.35 and extra["profile"]["name"] == "lab B"
    (tmp_path / "broken.json").write_text("{")
    from her2viewer.scoring.rules.profile import ProfileError

    with pytest.raises(ProfileError):
        controls.add_profile(tmp_path / "broken.json")


def test_calibrate_dialog_runs_in_the_background_and_saves_a_profile(qtbot, win, tmp_path):
    data = write_labelled_cores(tmp_path / "lab", ["0", "1+", "2+", "3+"], 70, 600)
    dlg = win.scoring.calibrate_dialog()
    dlg.folder_edit.setText(str(data))
    job = dlg.run()
    assert job is not None
    qtbot.waitUntil(lambda: job.finished, timeout=120_000)
    assert job.state == "done", job.message
    text = dlg.output.toPlainText()
    assert "Before (shipped profile)" in text and "leave-one-out" in text and "label \\ called" in text
    assert "Confidence of the calls" in text and "ECE" in text
    path = dlg.save()
    assert path is not None and path.is_file() and StainProfile.load(path).n_images == 4
    combo = win.scoring.controls.profile_combo
    assert combo.currentData() == str(path.resolve())
    dlg.folder_edit.setText(str(tmp_path / "nowhere"))
    job = dlg.run()
    qtbot.waitUntil(lambda: job.finished, timeout=20_000)
    assert "labels.csv" in dlg.output.toPlainText()


def test_options_shown_per_method_and_aggregators_offered(qtbot):
    from her2viewer.ui.scoring.controls import ScoringControls

    c = ScoringControls(["pss", "rules", "mil", "patch", "lowres"])
    qtbot.addWidget(c)
    c.method_combo.setCurrentText("pss")
    assert c.visible_rows() == {"nks", "model"}
    c.method_combo.setCurrentText("rules")
    assert c.visible_rows() == {"criteria", "profile"}
    c.method_combo.setCurrentText("lowres")
    assert c.visible_rows() == {"model"}
    c.method_combo.setCurrentText("mil")
    assert c.visible_rows() == {"model", "aggregator"}
    assert "aggregator" not in c.options().extra                     # the default: the bundled DTFD
    c.aggregator_combo.setCurrentIndex(c.aggregator_combo.findData("abmil"))
    assert c.options().extra["aggregator"] == "abmil"
    c.method_combo.setCurrentText("patch")
    c.aggregator_combo.setCurrentIndex(c.aggregator_combo.findData("svm"))
    opts = c.options()
    assert opts.extra == {"patch_aggregator": "svm"}
