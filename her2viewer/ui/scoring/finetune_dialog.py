"""Tools > Fine-tune Model: adapt a network to the lab's own reviewed cases.

The cases are the open project's reviewed slides and TMA cores (reviewed score = label), or a folder with
labels.csv. The dialog shows the count per class, the classes without a case and the evaluation it will run
(leave-one-out when there are few cases), trains in a child process (`python -m training.finetune`, one JSON
event per line) with progress, ETA, a live loss / accuracy plot and Cancel, shows the base model and the
fine-tuned one side by side (cross-validated accuracy, confusion matrix, calibrated confidence), and saves
the new model under a name into the user's models folder, where the Scoring panel offers it. The bundled
models are never overwritten. "Calibrate Thresholds..." opens the rules scorer's calibration.
"""

from __future__ import annotations

import json
import logging
import shutil
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import QProcess, QProcessEnvironment, Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from her2viewer.models.checkpoint import CheckpointError, default_model_path, read_card
from her2viewer.models.library import install_model, model_exists, safe_name, user_models
from her2viewer.project.cases import Case, CasePlan, folder_cases, plan_cases, reviewed_cases, write_cases_csv
from her2viewer.project.locations import user_models_dir
from her2viewer.scoring.asco import SCORES4

from .controls import format_eta

log = logging.getLogger(__name__)

#: method -> label (the methods `training.finetune` can fine-tune)
METHODS = (("pss", "PSS (pyramid sampling sets)"), ("lowres", "Low-resolution classifier (0 / Low / High)"))


class FinetuneDialog(QDialog):
    """Cases, method, base model, training in a child process with live curves, results and Save."""

    def __init__(self, parent: QWidget | None = None, *, project: Any = None,
                 on_saved: Callable[[Path], None] | None = None,
                 on_calibrate: Callable[[], Any] | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Fine-tune Model")
        self.resize(900, 760)
        self.project, self.on_saved = project, on_saved
        self.cases: list[Case] = []
        self.source = ""
        self._problems: list[str] = []  # cases left out, kept for a recount when the base model changes
        self.events: list[dict[str, Any]] = []
        self.outcome: dict[str, Any] | None = None
        self.saved_path: Path | None = None
        self.process: QProcess | None = None
        self.staging: Path | None = None
        self._buffer = b""
        self._stderr = b""
        self._cancelled = False
        self._t0 = 0.0
        layout = QVBoxLayout(self)
        layout.addLayout(self._setup_form(on_calibrate))
        layout.addLayout(self._run_row())
        layout.addWidget(self._plots(), 1)
        layout.addWidget(self._results(), 1)
        layout.addLayout(self._save_row())
        self._method_changed()
        if project is not None:
            self.use_project(project)

    # -- building ---------------------------------------------------------------------------------------
    def _setup_form(self, on_calibrate: Callable[[], Any] | None) -> QFormLayout:
        form = QFormLayout()
        row = QHBoxLayout()
        self.cases_label = QLabel("No cases yet: open a project with reviewed cases, or choose a folder.")
        self.cases_label.setWordWrap(True)
        folder = QPushButton("Folder with labels.csv\u2026")
        folder.setToolTip("Use a folder of labelled images (labels.csv: file,label) instead of the project")
        folder.clicked.connect(self._browse_folder)
        row.addWidget(self.cases_label, 1)
        row.addWidget(folder)
        form.addRow("Cases:", row)
        self.counts_label = QLabel("")
        self.counts_label.setWordWrap(True)
        form.addRow("Per class:", self.counts_label)
        self.method_combo = QComboBox()
        for key, text in METHODS:
            self.method_combo.addItem(text, key)
        self.method_combo.currentIndexChanged.connect(self._method_changed)
        form.addRow("Method:", self.method_combo)
        self.base_combo = QComboBox()
        self.base_combo.setToolTip("The model to start from: the bundled default or one fine-tuned earlier")
        # a base of other classes (a 3-way fine-tune of a 4-way default) changes the counts and the plan
        self.base_combo.currentIndexChanged.connect(lambda _i: self._show_cases())
        form.addRow("Base model:", self.base_combo)
        settings = QHBoxLayout()
        self.epochs_spin = QSpinBox()
        self.epochs_spin.setRange(1, 200)
        self.epochs_spin.setValue(8)
        self.epochs_spin.setToolTip("Epochs of each fine-tuning (the same for every fold and the final model)")
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 2**31 - 1)
        for text, w in (("Epochs", self.epochs_spin), ("Seed", self.seed_spin)):
            settings.addWidget(QLabel(text))
            settings.addWidget(w)
        settings.addStretch(1)
        calibrate = QPushButton("Calibrate Thresholds (rules)\u2026")
        calibrate.setToolTip("Fit the rule-based scorer's stain profile instead (Tools > Calibrate Scoring "
                             "Thresholds)")
        calibrate.setEnabled(on_calibrate is not None)
        if on_calibrate is not None:
            calibrate.clicked.connect(lambda: on_calibrate())
        settings.addWidget(calibrate)
        form.addRow("Training:", settings)
        return form

    def _run_row(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.start_button = QPushButton("Start")
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setFormat("idle")
        self.status_label = QLabel("")
        self.status_label.setWordWrap(True)
        row.addWidget(self.start_button)
        row.addWidget(self.cancel_button)
        row.addWidget(self.progress, 1)
        col = QVBoxLayout()
        col.addLayout(row)
        col.addWidget(self.status_label)
        outer = QHBoxLayout()
        outer.addLayout(col)
        return outer

    def _plots(self) -> QWidget:
        box = QWidget()
        grid = QGridLayout(box)
        grid.setContentsMargins(0, 0, 0, 0)
        self.loss_plot = pg.PlotWidget(title="Loss per epoch")
        self.acc_plot = pg.PlotWidget(title="Accuracy per epoch (one sample per case)")
        self.curves = {}
        for plot, keys in ((self.loss_plot, ("train_loss", "val_loss")), (self.acc_plot, ("train_acc", "val_acc"))):
            plot.setBackground("w")
            plot.addLegend(offset=(-5, -5))
            plot.setLabel("bottom", "epoch (all folds, then the final model)")
            for key, color in zip(keys, ("#1f77b4", "#d62728"), strict=True):
                name = ("training" if key.startswith("train") else "held-out fold")
                self.curves[key] = plot.plot([], [], pen=pg.mkPen(color, width=2), symbol="o", symbolSize=5,
                                             symbolBrush=color, name=name)
        self.acc_plot.setYRange(0, 1)
        grid.addWidget(self.loss_plot, 0, 0)
        grid.addWidget(self.acc_plot, 0, 1)
        self._series: dict[str, list[float]] = {k: [] for k in self.curves}
        self._phase_lines: list[Any] = []
        return box

    def _results(self) -> QWidget:
        box = QWidget()
        lay = QHBoxLayout(box)
        lay.setContentsMargins(0, 0, 0, 0)
        self.table = QTableWidget(6, 2)
        self.table.setHorizontalHeaderLabels(["Base model", "Fine-tuned (cross-validated)"])
        self.table.horizontalHeaderItem(0).setToolTip("The base model as its card ships it, at its temperature")
        self.table.horizontalHeaderItem(1).setToolTip(
            "Each case predicted by a model fine-tuned without it, at the temperature fitted on those predictions "
            "(the one the saved model's card states)")
        self.table.setVerticalHeaderLabels(["Accuracy", "Within one class", "Mean confidence", "ECE",
                                            "ECE, T fitted in a nested CV", "Temperature"])
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.confusion = QPlainTextEdit()
        self.confusion.setReadOnly(True)
        self.confusion.setFont(QFont("monospace"))
        self.confusion.setPlaceholderText("Confusion matrices (rows: reviewed score, columns: call) appear here.")
        lay.addWidget(self.table, 1)
        lay.addWidget(self.confusion, 1)
        return box

    def _save_row(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("name of the new model")
        self.save_button = QPushButton("Save Model and Use It")
        self.save_button.setEnabled(False)
        self.save_button.clicked.connect(self.save)
        close = QPushButton("Close")
        close.clicked.connect(self.close)
        row.addWidget(QLabel("Name:"))
        row.addWidget(self.name_edit, 1)
        row.addWidget(self.save_button)
        row.addWidget(close)
        return row

    # -- cases ------------------------------------------------------------------------------------------
    def use_project(self, project: Any) -> None:
        """Take the project's reviewed cases."""
        self.cases, problems = reviewed_cases(project)
        self.source = f"project {project.name}"
        self._default_name(project.name)
        self._show_cases(problems)

    def use_folder(self, folder: str | Path) -> bool:
        """Take the labelled images of a folder (labels.csv: file,label[,patient_id]); False with a message."""
        try:
            cases, problems = folder_cases(folder)
        except (OSError, UnicodeDecodeError, ValueError) as e:
            self.cases_label.setText(f"Cannot read the cases of {folder}: {e}")
            return False
        self.cases, self.source = cases, f"folder {Path(folder).name}"
        self._default_name(Path(folder).name)
        self._show_cases(problems)
        return True

    def _browse_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Folder of labelled images (labels.csv)")
        if path:
            self.use_folder(path)

    def _default_name(self, source: str) -> None:
        self.name_edit.setText(safe_name(f"{self.method()}_{source}_{datetime.now():%Y%m%d}"))

    def classes(self) -> tuple[str, ...]:
        """The classes of the chosen base model."""
        try:
            return tuple(read_card(self.base_combo.currentData()).classes)
        except (CheckpointError, TypeError):
            return SCORES4

    def plan(self) -> CasePlan:
        """What the cases allow for the chosen base model."""
        classes = self.classes()
        return plan_cases([c.label_for(classes) for c in self.cases], [c.patient_id for c in self.cases], classes)

    def _show_cases(self, problems: list[str] | None = None) -> None:
        if problems is None:
            problems = self._problems
        self._problems = list(problems)
        plan = self.plan()
        n = len(self.cases)
        text = f"{n} reviewed case{'' if n == 1 else 's'} from the {self.source}" if self.source else "No cases."
        if problems:
            text += f" ({len(problems)} left out: {problems[0]}{' ...' if len(problems) > 1 else ''})"
        self.cases_label.setText(text)
        counts = ", ".join(f"<b>{k}</b>: {v}" for k, v in plan.counts.items())
        extra = ""
        if plan.missing:
            extra += (f"<br><span style='color:#b06000'>No case of {', '.join(plan.missing)}: the model "
                      f"cannot learn or be measured on {'it' if len(plan.missing) == 1 else 'them'}.</span>")
        extra += (f"<br><span style='color:#b00000'>{plan.problem}</span>" if plan.problem
                  else f"<br>Evaluation: {plan.scheme}, then a final model on all cases.")
        self.counts_label.setText(counts + extra)
        self.start_button.setEnabled(plan.ok and self.process is None)

    # -- method / base ----------------------------------------------------------------------------------
    def method(self) -> str:
        return str(self.method_combo.currentData())

    def _method_changed(self, _index: int = 0) -> None:
        method = self.method()
        self.base_combo.blockSignals(True)  # one recount after the list is filled, not one per item
        self.base_combo.clear()
        self.base_combo.addItem(f"Bundled default ({method}_default)", str(default_model_path(method)))
        models, _problems = user_models(user_models_dir(), method)
        for m in models:
            self.base_combo.addItem(m.label(), str(m.stem))
        self.base_combo.blockSignals(False)
        self._show_cases()

    # -- running ----------------------------------------------------------------------------------------
    def _write_request(self) -> Path:
        """Stage folder with the cases CSV and the request JSON for the child."""
        self.staging = user_models_dir() / ".staging" / datetime.now().strftime("%Y%m%d-%H%M%S-%f")
        items = write_cases_csv(self.cases, self.staging / "cases.csv")
        request = {"items_csv": str(items), "method": self.method(), "base": self.base_combo.currentData(),
                   "name": safe_name(self.name_edit.text()) or "model", "staging": str(self.staging / "out"),
                   "epochs": self.epochs_spin.value(), "seed": self.seed_spin.value()}
        req_path = self.staging / "request.json"
        req_path.write_text(json.dumps(request, indent=1), encoding="utf-8")
        return req_path

    def start(self) -> QProcess | None:
        """Start fine-tuning in a child process (None with a message when the cases do not allow it)."""
        plan = self.plan()
        if not plan.ok or self.process is not None:
            self.status_label.setText(plan.problem or "Already running.")
            return None
        self.events, self.outcome, self._buffer, self._stderr = [], None, b"", b""
        self._cancelled = False
        self._clear_plots()
        self.table.clearContents()
        self.confusion.clear()
        req = self._write_request()
        proc = QProcess(self)
        env = QProcessEnvironment.systemEnvironment()
        env.insert("PYTHONUNBUFFERED", "1")
        proc.setProcessEnvironment(env)
        proc.readyReadStandardOutput.connect(self._read_stdout)
        proc.readyReadStandardError.connect(self._read_stderr)
        proc.finished.connect(self._finished)
        self.process = proc
        self._t0 = time.monotonic()
        proc.start(sys.executable, ["-m", "training.finetune", "--request", str(req)])
        self.start_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.save_button.setEnabled(False)
        self.progress.setValue(0)
        self.progress.setFormat("starting\u2026")
        self.status_label.setText(f"Fine-tuning {self.method()} on {len(self.cases)} cases ({plan.scheme}).")
        return proc

    def cancel(self) -> None:
        """Stop the training; nothing is saved."""
        if self.process is not None:
            self._cancelled = True
            self.process.kill()

    def running(self) -> bool:
        return self.process is not None

    def _read_stderr(self) -> None:
        if self.process is not None:
            self._stderr = (self._stderr + bytes(self.process.readAllStandardError()))[-20000:]

    def _read_stdout(self) -> None:
        if self.process is None:
            return
        self._buffer += bytes(self.process.readAllStandardOutput())
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict):
                self.handle_event(event)

    def handle_event(self, event: dict[str, Any]) -> None:
        """Show one event of the child (progress, a phase, an epoch, a result, an error)."""
        self.events.append(event)
        kind = event.get("event")
        if kind == "progress":
            f = float(event.get("fraction", 0.0))
            eta = event.get("eta_s")
            self.progress.setValue(int(1000 * f))
            self.progress.setFormat(f"{100 * f:.0f}%" + (f" \u2014 {format_eta(float(eta))}" if eta else ""))
        elif kind == "phase":
            self.status_label.setText(str(event.get("message", "")))
            if str(event.get("phase", "")).startswith(("fold", "final")) and self._series["train_loss"]:
                x = len(self._series["train_loss"]) - 0.5
                for plot in (self.loss_plot, self.acc_plot):
                    line = pg.InfiniteLine(pos=x, angle=90, pen=pg.mkPen("#999999", style=Qt.PenStyle.DashLine))
                    plot.addItem(line)
                    self._phase_lines.append((plot, line))
        elif kind == "epoch":
            final = event.get("phase") == "final"    # the final model has no held-out cases: no red point
            for key in self.curves:
                value = float("nan") if final and key.startswith("val") else float(event.get(key, float("nan")))
                self._series[key].append(value)
                self.curves[key].setData(list(range(1, len(self._series[key]) + 1)), self._series[key],
                                         connect="finite")
        elif kind == "plan":
            self.status_label.setText(str(event.get("summary", "")))
        elif kind in ("base", "finetuned"):
            self._fill_column(0 if kind == "base" else 1, event)
        elif kind == "done":
            self.outcome = event
        elif kind == "error":
            self.status_label.setText(f"Fine-tuning failed: {event.get('message')}")

    def _fill_column(self, col: int, fig: dict[str, Any]) -> None:
        def pct(v: Any) -> str:
            return "" if v is None else f"{float(v):.1%}"

        values = [pct(fig.get("accuracy")), pct(fig.get("within_one")), pct(fig.get("mean_confidence")),
                  f"{float(fig.get('ece', 0)):.3f}",
                  "" if fig.get("ece_calibrated_cv") is None else f"{float(fig['ece_calibrated_cv']):.3f} (nested CV)",
                  f"{float(fig.get('temperature', 1.0)):.2f}"]
        if col == 0:
            values[4] = "\u2014 (at the card's T)"
        for row, text in enumerate(values):
            self.table.setItem(row, col, QTableWidgetItem(text))
        title = "Base model" if col == 0 else "Fine-tuned, held-out folds"
        classes = self.classes()
        lines = [f"{title} (n = {fig.get('n')})", "          " + "".join(f"{c:>6}" for c in classes)]
        for c, row in zip(classes, fig.get("confusion", []), strict=False):
            lines.append(f"  {c:>6}  " + "".join(f"{v:>6}" for v in row))
        self.confusion.appendPlainText("\n".join(lines) + "\n")

    def _finished(self, code: int, _status: Any) -> None:
        self._read_stdout()
        self._read_stderr()
        self.process = None
        self.cancel_button.setEnabled(False)
        elapsed = time.monotonic() - self._t0
        if self._cancelled:
            self.status_label.setText("Cancelled; nothing was saved.")
            self.progress.setFormat("cancelled")
            self._drop_staging()
        elif self.outcome is not None:
            o = self.outcome
            self.progress.setValue(1000)
            took = format_eta(elapsed).removeprefix("ETA ")
            self.progress.setFormat(f"done in {took}")
            self.status_label.setText(
                f"Done in {took}. {o['scheme']}: accuracy {o['base']['accuracy']:.1%} with the base "
                f"model, {o['finetuned']['accuracy']:.1%} fine-tuned. Save the model to use it in the Scoring panel.")
            self.save_button.setEnabled(True)
        else:
            err = next((e.get("message") for e in reversed(self.events) if e.get("event") == "error"), None)
            tail = self._stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
            self.status_label.setText(f"Fine-tuning failed (exit {code}): {err or ' '.join(tail) or 'no output'}")
            self.progress.setFormat("failed")
            self._drop_staging()
        self._show_cases()

    def _drop_staging(self) -> None:
        if self.staging is not None:
            shutil.rmtree(self.staging, ignore_errors=True)
            self.staging = None

    # -- saving -----------------------------------------------------------------------------------------
    def save(self) -> Path | None:
        """Install the fine-tuned model under the chosen name and hand it to the Scoring panel."""
        if self.outcome is None:
            return None
        name = safe_name(self.name_edit.text())
        folder = user_models_dir()
        overwrite = False
        if name and model_exists(folder, name):
            ask = QMessageBox.question(self, "Replace model", f"A model named {name} exists. Replace it?")
            if ask != QMessageBox.StandardButton.Yes:
                return None
            overwrite = True
        try:
            path = install_model(self.outcome["checkpoint"], folder, name, overwrite=overwrite)
        except (CheckpointError, OSError) as e:
            self.status_label.setText(f"Cannot save the model: {e}")
            return None
        self.saved_path = path
        self._drop_staging()
        self.outcome = None
        self.save_button.setEnabled(False)
        self.status_label.setText(f"Saved as {path.name} in {folder}; chosen in the Scoring panel.")
        self._method_changed()
        if self.on_saved is not None:
            self.on_saved(path)
        return path

    def _clear_plots(self) -> None:
        for key, curve in self.curves.items():
            self._series[key] = []
            curve.setData([], [])
        for plot, line in self._phase_lines:
            plot.removeItem(line)
        self._phase_lines = []

    def closeEvent(self, event: Any) -> None:  # noqa: N802 - Qt API
        """Closing while training asks first; a closed dialog leaves no child and no unsaved model behind."""
        if self.process is not None:
            ask = QMessageBox.question(self, "Fine-tune Model", "Training is running. Stop it and close?")
            if ask != QMessageBox.StandardButton.Yes:
                event.ignore()
                return
            self.cancel()
            self.process.waitForFinished(3000)
        self._drop_staging()       # a trained model that was not saved is not kept
        super().closeEvent(event)
