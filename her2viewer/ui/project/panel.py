"""The Project dock's widget: the case list with its filter, the add / Score All / Cancel buttons and the
Score All progress. It only shows and asks; `ProjectController` does the work."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QSize, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from her2viewer.project.folder import STATUSES

from .table import NAME, THUMB, ProjectFilter, ProjectTableModel
from .thumbnails import THUMB_PX


class ProjectPanel(QWidget):
    """Case list; double-click or Enter opens an image (`sigOpen(path)`)."""

    sigOpen = Signal(str)
    sigAddImages = Signal()
    sigAddFolder = Signal()
    sigScoreAll = Signal()
    sigCancel = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = QLabel("No project open: File > New Project or Open Project")
        self.title.setWordWrap(True)
        self.model = ProjectTableModel(self)
        self.proxy = ProjectFilter(self)
        self.proxy.setSourceModel(self.model)
        self.filter_edit = QLineEdit(placeholderText="Filter by name or patient")
        self.filter_edit.setClearButtonEnabled(True)
        self.status_combo = QComboBox()
        self.status_combo.addItem("All statuses", "")
        for s in STATUSES:
            self.status_combo.addItem(s, s)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(NAME, Qt.SortOrder.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setIconSize(QSize(THUMB_PX // 2, THUMB_PX // 2))
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.table.verticalHeader().setDefaultSectionSize(THUMB_PX // 2 + 4)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.table.setColumnWidth(THUMB, THUMB_PX // 2 + 8)
        self.table.activated.connect(self._activated)
        self.table.doubleClicked.connect(self._activated)
        self.add_button = QPushButton("Add Images...")
        self.folder_button = QPushButton("Add Folder...")
        self.score_button = QPushButton("Score All")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(True)
        self.progress.hide()
        self.status_label = QLabel()
        self.status_label.setWordWrap(True)
        self.add_button.clicked.connect(self.sigAddImages)
        self.folder_button.clicked.connect(self.sigAddFolder)
        self.score_button.clicked.connect(self.sigScoreAll)
        self.cancel_button.clicked.connect(self.sigCancel)
        self.filter_edit.textChanged.connect(self._filter)
        self.status_combo.currentIndexChanged.connect(self._filter)

        filters = QHBoxLayout()
        filters.addWidget(self.filter_edit, 1)
        filters.addWidget(self.status_combo)
        buttons = QHBoxLayout()
        for b in (self.add_button, self.folder_button, self.score_button, self.cancel_button):
            buttons.addWidget(b)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.title)
        lay.addLayout(filters)
        lay.addWidget(self.table, 1)
        lay.addLayout(buttons)
        lay.addWidget(self.progress)
        lay.addWidget(self.status_label)
        self.set_project_open(False)

    def set_project_open(self, is_open: bool) -> None:
        """Enable the controls that need a project."""
        for w in (self.add_button, self.folder_button, self.score_button, self.filter_edit, self.status_combo):
            w.setEnabled(is_open)

    def set_busy(self, busy: bool) -> None:
        """Score All running: Cancel on, Score All off, progress shown."""
        self.score_button.setEnabled(not busy)
        self.cancel_button.setEnabled(busy)
        self.progress.setVisible(busy)
        if busy:
            self.progress.setValue(0)
            self.progress.setFormat("starting...")

    def show_progress(self, fraction: float, message: str) -> None:
        """Score All progress: the bar and its message (with the ETA)."""
        self.progress.setValue(int(1000 * fraction))
        self.progress.setFormat(f"{100 * fraction:.0f}%")
        self.status_label.setText(message)

    def _filter(self, *_: object) -> None:
        self.proxy.set_filter(self.filter_edit.text(), self.status_combo.currentData() or "")

    def _activated(self, index: QModelIndex) -> None:
        path = self.path_at(index.row())
        if path:
            self.sigOpen.emit(path)

    # -- rows in the order shown ------------------------------------------------------------------------
    def visible_paths(self) -> list[str]:
        """Image paths in the order the (sorted, filtered) list shows them."""
        return [p for r in range(self.proxy.rowCount()) if (p := self.path_at(r))]

    def path_at(self, proxy_row: int) -> str | None:
        """The image path of a shown row."""
        src = self.proxy.mapToSource(self.proxy.index(proxy_row, 0))
        return self.model.entries[src.row()].slide.path if src.isValid() else None

    def select_path(self, path: str) -> None:
        """Select the row of an image (when it is shown)."""
        row = self.model.row_of(path)
        if row is None:
            return
        ix = self.proxy.mapFromSource(self.model.index(row, NAME))
        if ix.isValid():
            self.table.selectRow(ix.row())
            self.table.scrollTo(ix)
