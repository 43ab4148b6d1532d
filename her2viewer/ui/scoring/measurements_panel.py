"""The Measurements dock: the shown result's measurement table (slide and cores: tumour cells, % per membrane
pattern, H-score, call), sortable, with Export CSV like QuPath's measurement tables."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from her2viewer.scoring.measurements import HEADER, measurement_rows, write_measurements_csv
from her2viewer.scoring.result import ScoreResult


class _NumberItem(QTableWidgetItem):
    """Sorts by number where both cells hold one."""

    def __lt__(self, other: QTableWidgetItem) -> bool:
        try:
            return float(self.text()) < float(other.text())
        except ValueError:
            return self.text() < other.text()


class MeasurementsPanel(QWidget):
    """Shows a result's measurement table; `export_csv(path)` writes it."""

    sigRegionActivated = Signal(str)   # a core id (or the whole-slide row's name) double-clicked

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.result: ScoreResult | None = None
        self.slide_path = ""
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        self.info = QLabel("No result yet.")
        layout.addWidget(self.info)
        self.table = QTableWidget(0, len(HEADER))
        self.table.setHorizontalHeaderLabels(list(HEADER))
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.cellDoubleClicked.connect(self._activated)
        layout.addWidget(self.table, 1)
        row = QHBoxLayout()
        row.addStretch(1)
        self.export_button = QPushButton("Export CSV\u2026")
        self.export_button.clicked.connect(self._export_dialog)
        self.export_button.setEnabled(False)
        row.addWidget(self.export_button)
        layout.addLayout(row)

    def _activated(self, row: int, _col: int) -> None:
        item = self.table.item(row, 0)
        if item is not None:
            self.sigRegionActivated.emit(item.text())

    def set_result(self, result: ScoreResult | None, slide_path: str = "") -> None:
        """Show a result's table (None: clear)."""
        self.result, self.slide_path = result, slide_path
        self.table.setSortingEnabled(False)
        rows = measurement_rows(result) if result is not None else []
        self.table.setRowCount(len(rows))
        for r, values in enumerate(rows):
            for c, text in enumerate(values):
                item = _NumberItem(text) if c >= 2 else QTableWidgetItem(text)
                if c >= 2:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(r, c, item)
        self.table.setSortingEnabled(True)
        self.table.resizeColumnsToContents()
        self.export_button.setEnabled(result is not None)
        if result is None:
            self.info.setText("No result yet.")
        else:
            measured = any(self.table.item(r, 2).text() for r in range(self.table.rowCount()))
            self.info.setText(f"{result.method}: {len(rows)} row(s)" + ("" if measured else
                              " \u2014 this method measures no cells (use rules for cell measurements)"))

    def export_csv(self, path: str | Path) -> Path | None:
        """Write the shown table as CSV (None when there is no result)."""
        if self.result is None:
            return None
        return write_measurements_csv(self.result, path)

    def _export_dialog(self) -> None:
        if self.result is None:
            return
        stem = Path(self.slide_path or self.result.slide or "slide").stem
        start = str(Path.home() / f"{stem}_{self.result.method}_measurements.csv")
        path, _ = QFileDialog.getSaveFileName(self, "Export measurements", start, "CSV (*.csv)")
        if not path:
            return
        try:
            self.export_csv(path)
            self.info.setText(f"Exported to {path}")
        except OSError as e:
            self.info.setText(f"Cannot write {path}: {e}")
