"""Tools > Fine-tune Model, through the window's own code path: a small synthetic project with reviewed
cases is fine-tuned in the child process, the new model is saved with its card, appears in the Scoring
panel, scores a slide and can be removed; small data is refused in the dialog with a sentence."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QSettings

from her2viewer.models.checkpoint import checkpoint_files, read_card
from her2viewer.models.library import install_model
from her2viewer.project.locations import user_models_dir
from training.items import read_items


@pytest.fixture
def window(qtbot, tmp_path):
    from her2viewer.ui.main_window import MainWindow

    win = MainWindow(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(win)
    win.resize(1300, 800)
    win.show()
    yield win
    win.close()


def _project_with_reviews(window, tmp_path: Path, tiny_cores: Path, n: int) -> list:
    items = read_items(tiny_cores)[:n]
    ctl = window.project
    ctl.open_project(tmp_path / "proj", create=True)
    ctl.add_paths([it.path for it in items])
    for it in items:
        ctl.project.db.save_review(it.path, it.label, reviewer="test")
    return items


def _finetune_action(window):
    return next(a for a in window.scoring.actions if a.text().startswith("&Fine-tune"))


@pytest.mark.slow
def test_finetune_through_the_dialog_saves_a_model_the_scoring_panel_uses(qtbot, window, tmp_path, tiny_cores,
                                                                           tiny_pss_base):
    _project_with_reviews(window, tmp_path, tiny_cores, 8)
    # the tiny base sits in the user's models folder so the dialog offers it (a run of seconds)
    base = install_model(tiny_pss_base, user_models_dir(), "tiny_base")
    _finetune_action(window).trigger()
    dlg = window.scoring._finetune_dialog
    assert dlg.isVisible() and "8 reviewed cases from the project proj" in dlg.cases_label.text()
    assert "leave-one-patient-out (8 folds)" in dlg.counts_label.text()
    dlg.base_combo.setCurrentIndex(dlg.base_combo.findData(str(base)))
    dlg.epochs_spin.setValue(1)
    dlg.name_edit.setText("lab pss")
    assert dlg.start() is not None and dlg.running() and dlg.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: not dlg.running(), timeout=300_000)
    assert dlg.outcome is not None, dlg.status_label.text()
    epochs = [e for e in dlg.events if e["event"] == "epoch"]
    assert len(epochs) == 9 and len(dlg._series["train_loss"]) == 9            # 8 folds + the final model
    assert any(e["event"] == "progress" for e in dlg.events) and dlg.progress.value() == 1000
    assert dlg.table.item(0, 0).text().endswith("%") and dlg.table.item(0, 1).text().endswith("%")
    assert "Base model (n = 8)" in dlg.confusion.toPlainText()
    path = dlg.save()
    assert path == user_models_dir() / "lab_pss" and all(p.is_file() for p in checkpoint_files(path))
    card = read_card(path)
    assert card.parent.startswith("tiny_base sha256:") and "finetune_cv" in card.metrics
    assert sum(card.training_data["train"]["counts"].values()) == 8
    controls = window.scoring.controls
    assert controls.method_combo.currentText() == "pss"
    assert controls.model_combo.currentData() == str(path) and controls.is_user_model()
    assert controls.options().model_path == str(path)
    assert not list((user_models_dir() / ".staging").iterdir())      # the staging copy is gone
    # the saved model scores a slide
    from her2viewer.scoring.driver import score_slide
    from her2viewer.slide import open_slide

    with open_slide(read_items(tiny_cores)[0].path) as src:
        result = score_slide(src, "pss", controls.options(), scope="slide")
    assert result.score in ("0", "1+", "2+", "3+") and result.model.name == "lab_pss"
    # and it can be removed (the bundled default stays)
    assert controls.remove_chosen_model() == "lab_pss"
    assert not any(p.exists() for p in checkpoint_files(path)) and controls.model_combo.currentData() is None


def test_small_data_is_reported_in_the_dialog_not_raised(qtbot, window, tmp_path, tiny_cores):
    items = _project_with_reviews(window, tmp_path, tiny_cores, 1)
    _finetune_action(window).trigger()
    dlg = window.scoring._finetune_dialog
    assert "at least 2 classes" in dlg.counts_label.text() and not dlg.start_button.isEnabled()
    assert dlg.start() is None and "at least 2 classes" in dlg.status_label.text()
    window.project.project.db.save_review(read_items(tiny_cores)[5].path, "3+", reviewer="t")
    window.project.add_paths([read_items(tiny_cores)[5].path])
    dlg.use_project(window.project.project)
    text = dlg.counts_label.text()
    assert items[0].label == "0" and "No case of 1+, 2+" in text and "leave-one-patient-out (2 folds)" in text
    assert dlg.start_button.isEnabled()
    dlg.close()
    assert not dlg.isVisible()
    dlg.method_combo.setCurrentIndex(dlg.method_combo.findData("lowres"))   # a 3-way base: 0 / Low / High
    assert "<b>High</b>: 1" in dlg.counts_label.text() and "No case of Low" in dlg.counts_label.text()
    # a base of other classes within one method recounts (it did not: the counts stayed the default's)
    import json
    import shutil

    from her2viewer.models.checkpoint import default_model_path

    folder = user_models_dir()
    folder.mkdir(parents=True, exist_ok=True)
    card = json.loads(Path(str(default_model_path("pss")) + ".json").read_text())
    card["classes"] = ["0", "Low", "High"]
    (folder / "pss_three_way.json").write_text(json.dumps(card))
    shutil.copy(str(default_model_path("pss")) + ".safetensors", folder / "pss_three_way.safetensors")
    dlg.method_combo.setCurrentIndex(dlg.method_combo.findData("pss"))
    assert "<b>3+</b>: 1" in dlg.counts_label.text() and dlg.base_combo.count() == 2
    dlg.base_combo.setCurrentIndex(1)
    assert "<b>High</b>: 1" in dlg.counts_label.text() and "<b>3+</b>" not in dlg.counts_label.text()
    dlg.base_combo.setCurrentIndex(0)
    assert "<b>3+</b>: 1" in dlg.counts_label.text()
    assert not dlg.use_folder(tmp_path / "no-such-folder") and "Cannot read" in dlg.cases_label.text()


@pytest.mark.slow
def test_cancel_stops_the_child_and_saves_nothing(qtbot, window, tmp_path, tiny_cores, tiny_pss_base):
    _project_with_reviews(window, tmp_path, tiny_cores, 8)
    base = install_model(tiny_pss_base, user_models_dir(), "tiny_base")
    _finetune_action(window).trigger()
    dlg = window.scoring._finetune_dialog
    dlg.base_combo.setCurrentIndex(dlg.base_combo.findData(str(base)))
    proc = dlg.start()
    qtbot.waitUntil(lambda: any(e["event"] == "plan" for e in dlg.events), timeout=120_000)
    dlg.cancel()
    qtbot.waitUntil(lambda: not dlg.running(), timeout=30_000)
    assert proc.state() == proc.ProcessState.NotRunning
    assert "Cancelled" in dlg.status_label.text() and not dlg.save_button.isEnabled()
    assert dlg.save() is None and not list((user_models_dir() / ".staging").iterdir())
    assert dlg.start_button.isEnabled()
