"""The case list's table model: one row per project image, sortable and filtered by text and status."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, QSortFilterProxyModel, Qt
from PySide6.QtGui import QBrush, QColor, QImage, QPixmap

from her2viewer.project import ImageEntry

COLUMNS = ("", "Image", "Patient", "Status", "Suggested", "Reviewed", "Conf.")
THUMB, NAME, PATIENT, STATUS, SUGGESTED, REVIEWED, CONFIDENCE = range(len(COLUMNS))
#: the background of the status cell
STATUS_COLORS = {"not scored": "#eeeeee", "scored": "#dbe9ff", "reviewed": "#d9f2d9", "QC failed": "#ffe2b3",
                 "error": "#ffd0d0", "missing": "#ffd0d0"}
#: what sorting by score means: 0 < 1+ < Low < 2+ < High < 3+ (no score last)
SCORE_ORDER = {"0": 0, "1+": 1, "Low": 1.5, "2+": 2, "High": 2.5, "3+": 3}
PathIndex = QModelIndex | QPersistentModelIndex


class ProjectTableModel(QAbstractTableModel):
    """The images of a project as rows; thumbnails arrive later through `set_thumbnail`."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.entries: list[ImageEntry] = []
        self.names: list[str] = []
        self.thumbs: dict[str, QPixmap] = {}

    def set_entries(self, entries: list[ImageEntry]) -> None:
        """Replace the rows (thumbnails already loaded are kept)."""
        self.beginResetModel()
        self.entries = list(entries)
        self.names = display_names([e.path for e in self.entries])
        self.endResetModel()

    def set_thumbnail(self, slide_id: str, image: QImage) -> None:
        """Show a slide's thumbnail once it is made."""
        self.thumbs[slide_id] = QPixmap.fromImage(image)
        for row, e in enumerate(self.entries):
            if e.slide.id == slide_id:
                ix = self.index(row, THUMB)
                self.dataChanged.emit(ix, ix, [Qt.ItemDataRole.DecorationRole])

    def row_of(self, path: str) -> int | None:
        """The row of an image path, or None."""
        return next((i for i, e in enumerate(self.entries) if e.slide.path == path), None)

    def rowCount(self, parent: PathIndex = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self.entries)

    def columnCount(self, parent: PathIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def data(self, index: PathIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        e, col = self.entries[index.row()], index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self.names[index.row()] if col == NAME else _text(e, col)
        if role == Qt.ItemDataRole.UserRole:          # the sort key
            return self.names[index.row()].lower() if col in (NAME, THUMB) else _sort_key(e, col)
        if role == Qt.ItemDataRole.DecorationRole and col == THUMB:
            return self.thumbs.get(e.slide.id)
        if role == Qt.ItemDataRole.BackgroundRole and col == STATUS:
            return QBrush(QColor(STATUS_COLORS.get(e.status, "#ffffff")))
        if role == Qt.ItemDataRole.ToolTipRole:
            if col == SUGGESTED and e.method:
                return f"suggested by {e.method}"
            return e.error or e.slide.path
        return None


def display_names(paths: list[Path]) -> list[str]:
    """File names, with as many parent folders as tell apart images that share a name ("a.png (run2)")."""
    names = [p.name for p in paths]
    for depth in range(1, 8):
        dup = {n for n, k in Counter(names).items() if k > 1}
        if not dup:
            break
        names = [f"{p.name} ({'/'.join(p.parent.parts[-depth:])})" if n in dup or p.name != n else n
                 for p, n in zip(paths, names, strict=True)]
    return names


def _text(e: ImageEntry, col: int) -> str:
    if col == NAME:
        return e.path.name
    if col == PATIENT:
        return e.slide.patient_id or e.slide.case_id or ""
    if col == STATUS:
        return e.status
    if col == SUGGESTED:
        return e.suggested or ""
    if col == REVIEWED:
        return e.reviewed or ""
    if col == CONFIDENCE:
        return f"{100 * e.confidence:.0f}%" if e.confidence is not None else ""
    return ""


def _sort_key(e: ImageEntry, col: int) -> Any:
    if col == SUGGESTED:
        return SCORE_ORDER.get(e.suggested or "", 9)
    if col == REVIEWED:
        return SCORE_ORDER.get(e.reviewed or "", 9)
    if col == CONFIDENCE:
        return e.confidence if e.confidence is not None else -1.0
    return _text(e, col if col != THUMB else NAME).lower()


class ProjectFilter(QSortFilterProxyModel):
    """Sorts by each column's key and keeps the rows whose name / patient contain the text and whose status
    is the chosen one ("" for all)."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.setSortRole(Qt.ItemDataRole.UserRole)
        self.text = ""
        self.status = ""

    def set_filter(self, text: str, status: str) -> None:
        """Keep rows containing `text` (case-insensitive) with `status` ("" = any)."""
        if hasattr(self, "beginFilterChange"):    # Qt 6.10+
            self.beginFilterChange()
            self.text, self.status = text.strip().lower(), status
            self.endFilterChange()
        else:
            self.text, self.status = text.strip().lower(), status
            self.invalidateFilter()

    def filterAcceptsRow(self, row: int, parent: PathIndex) -> bool:
        model = self.sourceModel()
        e = model.entries[row]
        if self.status and e.status != self.status:
            return False
        if self.text:
            hay = " ".join((e.path.name, e.slide.patient_id or "", e.slide.case_id or "")).lower()
            return self.text in hay
        return True
