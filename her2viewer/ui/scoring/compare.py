"""Compare methods: the current slide / region scored with every method, one row each (call, 3-way call, the
calibrated probability of the call, input checks, time), disagreements marked. The rows are kept per slide so
that the report can print them."""

from __future__ import annotations

from collections import Counter
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QDialog, QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

from her2viewer.scoring.result import ScoreResult

from ..common.colors import score_color

COLUMNS = ("Method", "Call", "3-way", "P(call)", "Input checks", "Time")
DISAGREE = QColor("#ffd27f")


def disagreement(results: list[ScoreResult]) -> str:
    """A sentence naming the methods whose 4-way or 3-way calls differ ("" when they agree)."""
    done = [r for r in results if r.assessable]
    parts = []
    for attr, what in (("score", "4-way"), ("score3", "3-way")):
        calls = {r.method: getattr(r, attr) for r in done if getattr(r, attr)}
        if len(set(calls.values())) > 1:
            parts.append(f"{what}: " + ", ".join(f"{m} {c}" for m, c in calls.items()))
    return ("The methods disagree \u2014 " + "; ".join(parts)) if parts else ""


def _majority(values: list[str | None]) -> str | None:
    votes = Counter(v for v in values if v)
    return votes.most_common(1)[0][0] if votes else None


class ComparisonTable(QWidget):
    """The table of one comparison; rows arrive as the methods finish."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setStretchLastSection(True)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        lay = QVBoxLayout(self)
        lay.addWidget(self.table, 1)
        lay.addWidget(self.status)

    def show_rows(self, methods: list[str], results: dict[str, ScoreResult], failed: dict[str, str]) -> None:
        """One row per method: its result, its error, or "running"."""
        self.table.setRowCount(len(methods))
        done = [results[m] for m in methods if m in results]
        top4 = _majority([r.score for r in done if r.assessable])
        top3 = _majority([r.score3 for r in done if r.assessable])
        for row, m in enumerate(methods):
            r = results.get(m)
            if r is None:
                values = (m, failed.get(m, "running\u2026"), "", "", "", "")
            else:
                conf = "" if r.confidence is None else f"{r.confidence:.0%}"
                qc = (r.qc or {}).get("status", "-") if r.assessable else "not assessable"
                values = (m, r.score or "\u2014", r.score3 or "\u2014", conf, qc, f"{r.elapsed_s:.1f} s")
            for col, text in enumerate(values):
                item = QTableWidgetItem(str(text))
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
                if r is not None and col == 1 and r.score:
                    item.setBackground(DISAGREE if top4 and r.score != top4 else score_color(r.score).lighter(160))
                if r is not None and col == 2 and r.score3 and top3 and r.score3 != top3:
                    item.setBackground(DISAGREE)
                if m in failed and col == 1:
                    item.setForeground(QColor("#b00000"))
                self.table.setItem(row, col, item)
        self.table.resizeColumnsToContents()
        text = disagreement(done)
        n = len(results) + len(failed)
        self.status.setText(text or (f"{len(done)} of {len(methods)} methods agree so far" if n < len(methods)
                                     else "All methods agree."))


class ComparisonRun(QObject):
    """Scores one target with several methods through the controller's engine; `sigUpdated` on each end."""

    sigUpdated = Signal()

    def __init__(self, controller: Any, tab: Any, methods: list[str]) -> None:
        super().__init__(controller)
        self.controller, self.tab, self.methods = controller, tab, list(methods)
        self.results: dict[str, ScoreResult] = {}
        self.failed: dict[str, str] = {}
        self.jobs: dict[int, str] = {}
        engine = controller.engine
        engine.sigFinished.connect(self._finished)
        engine.sigFailed.connect(self._failed)

    @property
    def done(self) -> bool:
        return len(self.results) + len(self.failed) == len(self.methods)

    def start(self) -> None:
        """Queue one job per method (a method that cannot start is a failed row)."""
        for m in self.methods:
            try:
                job = self.controller.job_for(self.tab, m)
            except ValueError as e:
                self.failed[m] = str(e)
                continue
            self.jobs[self.controller.submit(self.tab, job, show=False)] = m
        self.sigUpdated.emit()

    def _finished(self, job_id: int, result: ScoreResult) -> None:
        if job_id in self.jobs:
            self.results[self.jobs[job_id]] = result
            self.sigUpdated.emit()

    def _failed(self, job_id: int, message: str) -> None:
        if job_id in self.jobs:
            self.failed[self.jobs[job_id]] = message
            self.sigUpdated.emit()

    def ordered_results(self) -> list[ScoreResult]:
        """The finished results in the methods' order."""
        return [self.results[m] for m in self.methods if m in self.results]


class ComparisonDialog(QDialog):
    """A non-modal window showing one comparison as it runs."""

    def __init__(self, run: ComparisonRun, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.run = run
        self.view = ComparisonTable(self)
        lay = QVBoxLayout(self)
        lay.addWidget(self.view)
        run.sigUpdated.connect(self.refresh)
        self.resize(640, 300)
        self.refresh()

    def refresh(self) -> None:
        """Show the rows as they are now."""
        self.view.show_rows(self.run.methods, self.run.results, self.run.failed)
