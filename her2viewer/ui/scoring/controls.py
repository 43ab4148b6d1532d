"""The Scoring dock's controls: method, N/k/seed, model, criteria and profile, scope, Run / Cancel, progress
with ETA, device and errors. Emits what the user asks for; the controller does it."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from her2viewer.scoring.base import ScoreOptions

log = logging.getLogger(__name__)

#: scope choices: (key, label); driver scopes pass through, the others become a Region
SCOPES = (
    ("auto", "Whole slide (TMA: each core)"),
    ("slide", "Whole slide as one region"),
    ("cores", "All TMA cores"),
    ("core", "Selected TMA core"),
    ("view", "Current view"),
    ("selection", "Selected region"),
)
DEFAULT_METHOD = "rules"
#: the aggregator choices of a method: (extra key, ((value, label), ...)); "" is the checkpoint's / default
AGGREGATORS = {
    "mil": ("aggregator", (("", "DTFD-MIL (default)"), ("abmil", "ABMIL"), ("clam_sb", "CLAM-SB"),
                           ("clam_mb", "CLAM-MB"), ("dtfd", "DTFD-MIL"))),
    "patch": ("patch_aggregator", (("", "checkpoint's (random forest)"), ("rf", "Random forest"),
                                   ("svm", "SVM"), ("mlp", "MLP"), ("vote", "Majority vote"))),
}
#: which rows of the form each method uses (the others are hidden for it)
METHOD_ROWS = {
    "pss": {"nks", "model"},
    "rules": {"criteria", "profile"},
    "mil": {"model", "aggregator"},
    "patch": {"model", "aggregator"},
    "lowres": {"model"},
}
#: (label, (criteria, specimen)) offered in the Scoring panel
CRITERIA_CHOICES = (
    ("Breast \u2014 ASCO/CAP 2018/2023", ("breast", "resection")),
    ("Gastric resection \u2014 ASCO/CAP/ASCP 2016", ("gastric", "resection")),
    ("Gastric biopsy \u2014 ASCO/CAP/ASCP 2016", ("gastric", "biopsy")),
)


@dataclass
class PanelState:
    """What the Scoring panel shows for one slide tab while another tab is current: the same calls as
    `ScoringControls` (`set_status`, `show_progress`, `show_done`, `show_error`, `set_busy`) record it."""

    status: str = ""
    progress: int = 0
    progress_format: str = "idle"
    errors: str = ""
    scope: str = "auto"
    busy: bool = False

    def set_status(self, text: str) -> None:
        """The status sentence."""
        self.status = text

    def show_progress(self, fraction: float, message: str, eta_s: float) -> None:
        """Progress value and text with the ETA."""
        self.progress, self.progress_format = progress_text(fraction, eta_s)
        self.status = message

    def show_done(self, text: str) -> None:
        """A finished job: full bar and its sentence."""
        self.progress, self.progress_format, self.status = 1000, "done", text

    def show_error(self, message: str) -> None:
        """An error sentence (newest first)."""
        self.errors = message + ("\n" + self.errors if self.errors else "")

    def set_busy(self, busy: bool) -> None:
        """Whether jobs of this tab are queued or running."""
        self.busy = busy
        if not busy and self.progress_format != "done":
            self.progress, self.progress_format = 0, "idle"


def progress_text(fraction: float, eta_s: float) -> tuple[int, str]:
    """The progress bar's value (0-1000) and text for a fraction done and an ETA."""
    eta = format_eta(eta_s)
    return int(round(fraction * 1000)), f"{fraction:.0%}" + (f"  \u2014  {eta}" if eta else "")


def format_eta(seconds: float) -> str:
    """'ETA 42 s' / 'ETA 3 min 5 s' / '' when unknown."""
    if seconds is None or seconds < 0:
        return ""
    s = int(round(seconds))
    return f"ETA {s} s" if s < 60 else f"ETA {s // 60} min {s % 60} s"


class ScoringControls(QWidget):
    """Method, parameters, scope, Run / Cancel, progress, device and errors."""

    sigRun = Signal()
    sigCancel = Signal()
    sigCriteriaChanged = Signal(object)   # (criteria, specimen)

    def __init__(self, methods: list[str] | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        self._rows: dict[str, tuple[QWidget, QWidget]] = {}
        form = self._parameter_form(methods)
        self._add_rules_rows(form)
        self.form = form
        layout.addLayout(form)
        self.method_combo.currentTextChanged.connect(self._method_changed)
        self._add_run_rows(layout)
        layout.addStretch(1)

    def _parameter_form(self, methods: list[str] | None) -> QFormLayout:
        """Method, N / k / seed, model and scope."""
        form = QFormLayout()
        self.method_combo = QComboBox()
        self.set_methods(methods or [DEFAULT_METHOD])
        form.addRow("Method:", self.method_combo)
        nks = QHBoxLayout()
        self.n_spin = self._spin(1, 1000, 20, "N: samples (PSSs) per core")
        self.k_spin = self._spin(1, 1000, 5, "k: the most confident samples kept")
        self.seed_spin = self._spin(0, 2**31 - 1, 0, "random seed")
        for label, spin in (("N", self.n_spin), ("k", self.k_spin), ("seed", self.seed_spin)):
            nks.addWidget(QLabel(label))
            nks.addWidget(spin, 1)
        self._add_row(form, "nks", "Sampling:", nks)
        model_row = QHBoxLayout()
        self.model_combo = QComboBox()
        self.model_combo.setToolTip("The network: the bundled default, a model fine-tuned in Tools > Fine-tune "
                                    "Model, or a checkpoint file")
        self.model_button = QToolButton(text="\u2026")
        self.model_button.setToolTip("Load a checkpoint (.safetensors + .json)")
        self.model_button.clicked.connect(self._choose_model)
        self.remove_model_button = QToolButton(text="\u2212")
        self.remove_model_button.setToolTip("Remove the chosen fine-tuned model from your models folder")
        self.remove_model_button.clicked.connect(self._remove_model_clicked)
        model_row.addWidget(self.model_combo, 1)
        model_row.addWidget(self.model_button)
        model_row.addWidget(self.remove_model_button)
        self.model_combo.currentIndexChanged.connect(self._update_remove_button)
        self._add_row(form, "model", "Model:", model_row)
        self.aggregator_combo = QComboBox()
        self.aggregator_combo.setToolTip("The slide-level aggregator: attention MIL (mil) or the patch "
                                         "classifier's slide aggregator (patch)")
        self._add_row(form, "aggregator", "Aggregator:", self.aggregator_combo)
        self.scope_combo = QComboBox()
        for key, label in SCOPES:
            self.scope_combo.addItem(label, key)
        form.addRow("Scope:", self.scope_combo)
        return form

    def _add_rules_rows(self, form: QFormLayout) -> None:
        """The rules scorer's criteria and stain profile."""
        self.criteria_combo = QComboBox()
        for label, value in CRITERIA_CHOICES:
            self.criteria_combo.addItem(label, value)
        self.criteria_combo.setToolTip("The guideline the rules scorer applies; kept per slide and stored with "
                                       "the result")
        self.criteria_combo.currentIndexChanged.connect(lambda _i: self.sigCriteriaChanged.emit(self.criteria()))
        self._add_row(form, "criteria", "Criteria:", self.criteria_combo)
        profile_row = QHBoxLayout()
        self.profile_combo = QComboBox()
        self.profile_combo.addItem("Shipped stain profile", None)
        self.profile_combo.setToolTip("The rules scorer's membrane cut-offs: the shipped profile or one from "
                                      "Tools > Calibrate scoring thresholds / `her2viewer calibrate`")
        self.profile_button = QToolButton(text="\u2026")
        self.profile_button.setToolTip("Load a stain profile (JSON)")
        self.profile_button.clicked.connect(self._choose_profile)
        profile_row.addWidget(self.profile_combo, 1)
        profile_row.addWidget(self.profile_button)
        self._add_row(form, "profile", "Profile:", profile_row)
        self._method_changed(self.method_combo.currentText())

    def _add_run_rows(self, layout: QVBoxLayout) -> None:
        """Run / Cancel, progress, status, device and errors."""
        row = QHBoxLayout()
        self.run_button = QPushButton("Run")
        self.run_button.setDefault(True)
        self.run_button.clicked.connect(self.sigRun)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.sigCancel)
        self.cancel_button.setEnabled(False)
        row.addWidget(self.run_button, 1)
        row.addWidget(self.cancel_button)
        layout.addLayout(row)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(True)
        self.progress.setFormat("idle")
        layout.addWidget(self.progress)
        self.status_label = QLabel("")
        self.status_label.setWordWrap(True)
        layout.addWidget(self.status_label)
        self.device_label = QLabel("Device: CPU")
        layout.addWidget(self.device_label)
        self.error_text = QPlainTextEdit()
        self.error_text.setReadOnly(True)
        self.error_text.setMaximumHeight(70)
        self.error_text.setStyleSheet("QPlainTextEdit { color: #b00000; }")
        self.error_text.setPlaceholderText("Errors appear here.")
        layout.addWidget(self.error_text)

    def _add_row(self, form: QFormLayout, key: str, label: str, field: Any) -> None:
        """A form row that `_method_changed` shows only for the methods that use it."""
        if not isinstance(field, QWidget):
            box = QWidget()
            field.setContentsMargins(0, 0, 0, 0)
            box.setLayout(field)
            field = box
        lab = QLabel(label)
        form.addRow(lab, field)
        self._rows[key] = (lab, field)

    def _method_changed(self, method: str) -> None:
        """Show the rows the method uses; fill the aggregator choices of mil / patch."""
        used = METHOD_ROWS.get(method, {"nks", "model", "aggregator", "criteria", "profile"})
        for key, (lab, field) in self._rows.items():
            lab.setVisible(key in used)
            field.setVisible(key in used)
        self.fill_models(method)
        self.aggregator_combo.clear()
        for value, text in AGGREGATORS.get(method, ("", ()))[1]:
            self.aggregator_combo.addItem(text, value)

    def visible_rows(self) -> set[str]:
        """The form rows shown for the current method."""
        return {k for k, (_lab, field) in self._rows.items() if not field.isHidden()}

    def set_methods(self, methods: list[str]) -> None:
        """Offer these methods (keeping the current choice when it is still there)."""
        current = self.method_combo.currentText() or DEFAULT_METHOD
        self.method_combo.clear()
        self.method_combo.addItems(methods)
        if current in methods:
            self.method_combo.setCurrentText(current)

    @staticmethod
    def _spin(lo: int, hi: int, value: int, tip: str) -> QSpinBox:
        s = QSpinBox()
        s.setRange(lo, hi)
        s.setValue(value)
        s.setToolTip(tip)
        return s

    def fill_models(self, method: str | None = None) -> None:
        """Offer the bundled default and the user's fine-tuned models of `method` (default: the current one)."""
        from her2viewer.models.library import user_models
        from her2viewer.project.locations import user_models_dir

        method = method or self.method_combo.currentText()
        current = self.model_combo.currentData()
        self.model_combo.blockSignals(True)
        self.model_combo.clear()
        self.model_combo.addItem("Bundled default", None)
        models, problems = user_models(user_models_dir(), method)
        for m in models:
            self.model_combo.addItem(m.label(), str(m.stem))
        for text in problems:
            log.warning("%s", text)
        i = self.model_combo.findData(current)
        self.model_combo.setCurrentIndex(max(0, i))
        self.model_combo.blockSignals(False)
        self._update_remove_button()

    def choose_model(self, path: str | Path) -> None:
        """Choose a checkpoint (adding it to the list when it is not there)."""
        from her2viewer.models.checkpoint import checkpoint_stem

        stem = str(checkpoint_stem(path))
        i = self.model_combo.findData(stem)
        if i < 0:
            self.model_combo.addItem(Path(stem).name, stem)
            i = self.model_combo.count() - 1
        self.model_combo.setCurrentIndex(i)

    def is_user_model(self) -> bool:
        """Whether the chosen model lives in the user's models folder (it can be removed)."""
        from her2viewer.project.locations import user_models_dir

        data = self.model_combo.currentData()
        return bool(data) and Path(str(data)).parent.resolve() == user_models_dir().resolve()

    def _update_remove_button(self) -> None:
        self.remove_model_button.setEnabled(self.is_user_model())

    def remove_chosen_model(self) -> str:
        """Delete the chosen user model's files and drop it from the list; returns its name."""
        from her2viewer.models.library import remove_model
        from her2viewer.project.locations import user_models_dir

        stem = str(self.model_combo.currentData())
        remove_model(stem, user_models_dir())
        self.model_combo.removeItem(self.model_combo.currentIndex())
        self.model_combo.setCurrentIndex(0)
        return Path(stem).name

    def _remove_model_clicked(self) -> None:
        from PySide6.QtWidgets import QMessageBox

        from her2viewer.models.checkpoint import CheckpointError

        if not self.is_user_model():
            return
        name = Path(str(self.model_combo.currentData())).name
        if QMessageBox.question(self, "Remove model", f"Remove the fine-tuned model {name}? Results it made "
                                "stay; the bundled models are not affected.") != QMessageBox.StandardButton.Yes:
            return
        try:
            self.remove_chosen_model()
        except (CheckpointError, OSError) as e:
            self.show_error(f"Cannot remove {name}: {e}")

    def _choose_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose a model checkpoint", "",
                                              "Checkpoints (*.safetensors *.json);;All files (*)")
        if path:
            self.choose_model(path)

    def criteria(self) -> tuple[str, str]:
        """(criteria, specimen) chosen."""
        return tuple(self.criteria_combo.currentData() or ("breast", "resection"))

    def set_criteria(self, value: tuple[str, str]) -> None:
        """Show a slide's criteria (without emitting a change)."""
        i = next((i for i in range(self.criteria_combo.count())
                  if tuple(self.criteria_combo.itemData(i)) == tuple(value)), 0)
        self.criteria_combo.blockSignals(True)
        self.criteria_combo.setCurrentIndex(i)
        self.criteria_combo.blockSignals(False)

    def add_profile(self, path: str | Path) -> None:
        """Offer a stain profile file (ProfileError when it cannot be used) and choose it."""
        from her2viewer.scoring.rules.profile import StainProfile

        prof = StainProfile.load(path)
        path = str(Path(path).resolve())
        i = self.profile_combo.findData(path)
        if i < 0:
            self.profile_combo.addItem(f"{prof.name} ({Path(path).name})", path)
            i = self.profile_combo.count() - 1
        self.profile_combo.setCurrentIndex(i)

    def _choose_profile(self) -> None:
        from her2viewer.scoring.rules.profile import ProfileError

        path, _ = QFileDialog.getOpenFileName(self, "Choose a stain profile", "", "Stain profiles (*.json)")
        if path:
            try:
                self.add_profile(path)
            except ProfileError as e:
                self.show_error(str(e))

    def options(self) -> ScoreOptions:
        """The score options the form describes (a chosen stain profile goes to the rules scorer)."""
        from her2viewer.scoring.rules.profile import ProfileError, StainProfile, profile_extra

        extra: dict[str, Any] = {}
        path = self.profile_combo.currentData()
        if path:
            try:
                extra["rules"] = profile_extra(StainProfile.load(path))
            except ProfileError as e:
                self.show_error(f"{e}; using the shipped profile")
        key = AGGREGATORS.get(self.method_combo.currentText(), (None, ()))[0]
        if key and self.aggregator_combo.currentData():
            extra[key] = self.aggregator_combo.currentData()
        criteria, specimen = self.criteria()
        return ScoreOptions(n_samples=self.n_spin.value(), top_k=self.k_spin.value(), seed=self.seed_spin.value(),
                            model_path=self.model_combo.currentData() or None, extra=extra, criteria=criteria,
                            specimen=specimen)

    def scope_key(self) -> str:
        """The chosen scope's key (see SCOPES)."""
        return str(self.scope_combo.currentData())

    def set_busy(self, busy: bool) -> None:
        """Enable Cancel while jobs of the shown tab run."""
        self.cancel_button.setEnabled(busy)
        if not busy and self.progress.format() != "done":
            self.progress.setValue(0)
            self.progress.setFormat("idle")

    def set_status(self, text: str) -> None:
        """The status sentence under the progress bar."""
        self.status_label.setText(text)

    def show_progress(self, fraction: float, message: str, eta_s: float) -> None:
        """Progress bar value and text with the ETA."""
        value, text = progress_text(fraction, eta_s)
        self.progress.setValue(value)
        self.progress.setFormat(text)
        self.status_label.setText(message)

    def show_done(self, text: str) -> None:
        """A finished job: full bar and its sentence."""
        self.progress.setValue(1000)
        self.progress.setFormat("done")
        self.status_label.setText(text)

    def show_error(self, message: str) -> None:
        """Show an error sentence (newest first)."""
        old = self.error_text.toPlainText()
        self.error_text.setPlainText(message + ("\n" + old if old else ""))

    def panel_state(self) -> PanelState:
        """What the panel shows now (kept for a tab when another becomes current)."""
        return PanelState(status=self.status_label.text(), progress=self.progress.value(),
                          progress_format=self.progress.format(), errors=self.error_text.toPlainText(),
                          scope=self.scope_key(), busy=self.cancel_button.isEnabled())

    def restore_panel_state(self, state: PanelState) -> None:
        """Show a tab's kept status, progress, errors, scope and busy state."""
        self.status_label.setText(state.status)
        self.progress.setValue(state.progress)
        self.progress.setFormat(state.progress_format)
        self.error_text.setPlainText(state.errors)
        i = self.scope_combo.findData(state.scope)
        self.scope_combo.setCurrentIndex(max(i, 0))
        self.cancel_button.setEnabled(state.busy)
