"""Tools > Calibrate scoring thresholds: fit the rules scorer's stain profile to a folder of the lab's own
labelled images (labels.csv: file,label) in the background, show before / leave-one-out accuracy and the
confusion matrix, and save the profile into the user's data folder, where the Scoring panel offers it."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QStandardPaths
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from her2viewer.progress import Task

from ..common.jobs import BackgroundJob

log = logging.getLogger(__name__)


def profiles_folder() -> Path:
    """Where the viewer keeps the stain profiles the user made (never beside the slides)."""
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    return Path(base or Path.home() / ".her2viewer") / "profiles"


def calibrate_folder(folder: str | Path, fit: str, task: Task, mpp: float | None = None) -> dict[str, Any]:
    """Measure the labelled images, cross-validate and fit (plain Python, for the background job)."""
    from her2viewer.scoring.rules.calibrate import calibrated_profile, measure_folder
    from her2viewer.scoring.rules.profile import default_profile

    start = default_profile()
    images = measure_folder(folder, mpp, task.sub(0.0, 0.8))
    task.check()
    profile, before, loo = calibrated_profile(images, start, fit, Path(folder).resolve().name,
                                              task=task.sub(0.8, 0.98))
    task.report(1.0, "done")
    return {"profile": profile, "before": before, "loo": loo, "images": images}


class CalibrateDialog(QDialog):
    """Choose a labelled folder, run the calibration off the main thread, save the profile."""

    def __init__(self, parent: QWidget | None = None, on_saved=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Calibrate scoring thresholds")
        self.resize(620, 480)
        self.on_saved = on_saved
        self.outcome: dict[str, Any] | None = None
        self.job: BackgroundJob | None = None
        self.saved_path: Path | None = None
        layout = QVBoxLayout(self)
        form = QFormLayout()
        row = QHBoxLayout()
        self.folder_edit = QLineEdit()
        self.folder_edit.setPlaceholderText("folder with labels.csv (file,label) and the images")
        browse = QToolButton(text="\u2026")
        browse.clicked.connect(self._browse)
        row.addWidget(self.folder_edit, 1)
        row.addWidget(browse)
        form.addRow("Labelled images:", row)
        self.fit_combo = QComboBox()
        self.fit_combo.addItem("Stain scale and completeness (2 numbers; few images)", "scale")
        self.fit_combo.addItem("Weak-moderate and strong cut-offs apart, and completeness (3 numbers)",
                               "intensity")
        self.fit_combo.addItem("Every cut-off and the percentage (many images)", "full")
        form.addRow("Fit:", self.fit_combo)
        layout.addLayout(form)
        self.output = QPlainTextEdit()
        self.output.setReadOnly(True)
        self.output.setFont(QFont("monospace"))
        self.output.setPlaceholderText("Before / after accuracy and the confusion matrix appear here.")
        layout.addWidget(self.output, 1)
        buttons = QHBoxLayout()
        self.run_button = QPushButton("Calibrate")
        self.run_button.setDefault(True)
        self.run_button.clicked.connect(self.run)
        self.save_button = QPushButton("Save profile and use it")
        self.save_button.setEnabled(False)
        self.save_button.clicked.connect(self.save)
        close = QPushButton("Close")
        close.clicked.connect(self.reject)
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.save_button)
        buttons.addStretch(1)
        buttons.addWidget(close)
        layout.addLayout(buttons)

    def _browse(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Folder of labelled images (labels.csv)")
        if path:
            self.folder_edit.setText(path)

    def run(self) -> BackgroundJob | None:
        """Start calibrating the chosen folder in the background."""
        folder = self.folder_edit.text().strip()
        if not folder:
            self.output.setPlainText("Choose a folder with labels.csv (file,label) first.")
            return None
        fit = str(self.fit_combo.currentData())
        self.run_button.setEnabled(False)
        self.save_button.setEnabled(False)
        self.output.setPlainText(f"Measuring the images in {folder} ...")
        self.job = BackgroundJob("Calibrating scoring thresholds", lambda task: calibrate_folder(folder, fit, task),
                                 self._done, self._failed, self, dialog=True)
        return self.job.start()

    def _done(self, outcome: dict[str, Any]) -> None:
        from her2viewer.scoring.rules.confidence import confidence_summary

        self.outcome = outcome
        before, loo, prof = outcome["before"], outcome["loo"], outcome["profile"]
        t = prof.to_dict()["thresholds"]
        self.output.setPlainText(
            f"{len(outcome['images'])} images measured.\n\n"
            f"Before (shipped profile): accuracy {before.accuracy:.1%}, within one class {before.within_one:.1%}, "
            f"{before.not_assessable} not assessable\n{before.confusion_text()}\n\n"
            f"After, leave-one-out: accuracy {loo.accuracy:.1%}, within one class {loo.within_one:.1%}\n"
            f"{loo.confusion_text()}\n\n{confidence_summary(prof.confidence)}\n\nProfile fitted on all images: "
            + ", ".join(f"{k} {v}" for k, v in t.items()))
        self.run_button.setEnabled(True)
        self.save_button.setEnabled(True)

    def _failed(self, message: str) -> None:
        self.output.setPlainText(f"Calibration failed: {message}")
        self.run_button.setEnabled(True)

    def save(self) -> Path | None:
        """Save the fitted profile to the user's profiles folder and hand it to the Scoring panel."""
        if self.outcome is None:
            return None
        prof = self.outcome["profile"]
        path = profiles_folder() / f"{prof.name or 'profile'}.json"
        try:
            prof.save(path)
        except OSError as e:
            self.output.appendPlainText(f"\nCannot save {path}: {e}")
            return None
        self.saved_path = path
        self.output.appendPlainText(f"\nSaved to {path}")
        if self.on_saved is not None:
            self.on_saved(path)
        return path
