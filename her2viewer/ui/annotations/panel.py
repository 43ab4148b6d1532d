"""The annotation list dock: name, class, area (um^2 from the slide's mpp, px^2 without), type; a click
selects an annotation and centres the view on it; class changes, renames and deletes are undoable edits.

A double-click anywhere on a row (or F2, or Edit > Rename Annotation) opens the name editor at once; Enter
commits the new name as one undoable step. The double-click is handled here rather than by the table's edit
trigger, which ignores a double-click whose first click landed on another index (the list scrolled or was
rebuilt in between) and does not edit from the Class and Area columns."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QItemSelectionModel, QObject, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QMouseEvent, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from her2viewer.annotations.model import Annotation

from .layer import point_coords
from .session import SlideAnnotations

UNCLASSIFIED = "Unclassified"
COLUMNS = ("Name", "Class", "Area")


def format_area(area_px: float, mpp: float | None) -> str:
    """An area for the list: um^2 (mm^2 when large) with a pixel size, px^2 without."""
    if not mpp:
        return f"{area_px:,.0f} px\u00b2"
    um2 = area_px * mpp * mpp
    if um2 >= 1e6:
        return f"{um2 / 1e6:,.3g} mm\u00b2"
    return f"{um2:,.0f} \u00b5m\u00b2"


def size_text(ann: Annotation, mpp: float | None) -> str:
    """The list's Area column: the area, or how many points a points annotation has ('-' for lines)."""
    if ann.area_px > 0:
        return format_area(ann.area_px, mpp)
    n = len(point_coords(ann.geometry))
    return f"{n} point{'s' if n != 1 else ''}" if n else "-"


def color_icon(rgb: tuple[int, int, int], size: int = 12) -> QIcon:
    """A small square of a colour, for class lists."""
    pm = QPixmap(size, size)
    pm.fill(QColor(*rgb))
    return QIcon(pm)


def fill_class_combo(combo: QComboBox, session: SlideAnnotations | None, current: str | None) -> None:
    """List the session's classes (and Unclassified) with colour swatches; select `current`."""
    combo.blockSignals(True)
    combo.clear()
    combo.addItem(color_icon((255, 255, 0)), UNCLASSIFIED, None)
    if session is not None:
        for c in session.aset.classes:
            combo.addItem(color_icon(c.color), c.name, c.name)
    i = combo.findData(current) if current is not None else 0
    combo.setCurrentIndex(max(i, 0))
    combo.blockSignals(False)


class AnnotationPanel(QWidget):
    """Lists one slide's annotations; follows and sets the session's selection."""

    sigEditClasses = Signal()   # the user asked for the class editor

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session: SlideAnnotations | None = None
        self.new_class = QComboBox()
        self.new_class.setToolTip("Class given to newly drawn annotations")
        self.new_class.currentIndexChanged.connect(self._on_new_class)
        self.classes_button = QPushButton("Classes...")
        self.classes_button.clicked.connect(self.sigEditClasses)
        top = QHBoxLayout()
        top.addWidget(QLabel("Draw as:"))
        top.addWidget(self.new_class, 1)
        top.addWidget(self.classes_button)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.setWordWrap(False)
        self.table.setMinimumHeight(160)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.EditKeyPressed)
        self.table.viewport().installEventFilter(self)
        hdr = self.table.horizontalHeader()
        hdr.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for c in (1, 2):
            hdr.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
        self.table.itemSelectionChanged.connect(self._on_rows_selected)
        self.table.itemChanged.connect(self._on_item_changed)
        self.table.cellClicked.connect(self._on_cell_clicked)
        self.set_class = QComboBox()
        self.set_class.setToolTip("Change the class of the selected annotations")
        self.set_class.activated.connect(self._on_set_class)
        self.delete_button = QPushButton("Delete")
        self.delete_button.clicked.connect(lambda: self.session and self.session.delete())
        bottom = QHBoxLayout()
        bottom.addWidget(QLabel("Class:"))
        bottom.addWidget(self.set_class, 1)
        bottom.addWidget(self.delete_button)
        self.summary = QLabel()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        layout.addLayout(bottom)
        layout.addWidget(self.summary)
        self._ids: list[str] = []
        self._syncing = False
        self._from_table = False
        self.set_session(None)

    def set_session(self, session: SlideAnnotations | None) -> None:
        """Show another slide's annotations (None: no slide)."""
        if self.session is not None:
            for sig, slot in self._connections():
                sig.disconnect(slot)
        self.session = session
        if session is not None:
            for sig, slot in self._connections():
                sig.connect(slot)
        self.setEnabled(session is not None)
        self._fill_classes()
        self.refresh()

    def _connections(self):
        s = self.session
        return [(s.sigChanged, self.refresh), (s.sigSelectionChanged, self._sync_selection),
                (s.sigClassesChanged, self._on_classes_changed)]

    # -- filling -----------------------------------------------------------------------------------------
    def _fill_classes(self) -> None:
        s = self.session
        fill_class_combo(self.new_class, s, s.current_class if s else None)
        fill_class_combo(self.set_class, s, None)

    def _on_classes_changed(self) -> None:
        self._fill_classes()
        self.refresh()

    def refresh(self) -> None:
        """Show the session's annotations: rows updated in place while the same annotations are listed (an
        open name editor and the scroll position stay), rebuilt when annotations came or went."""
        s = self.session
        anns = list(s.aset) if s is not None else []
        self._syncing = True
        ids = [a.id for a in anns]
        if ids != self._ids:
            self.table.setRowCount(0)
            self.table.setRowCount(len(anns))
            self._ids = ids
        for r, a in enumerate(anns):
            self._fill_row(r, a)
        n = len(anns)
        self.summary.setText(f"{n} annotation{'s' if n != 1 else ''}" if s is not None else "No slide open")
        self._syncing = False
        self._sync_selection()

    def _fill_row(self, row: int, ann: Annotation) -> None:
        s = self.session
        texts = (ann.name, ann.cls or UNCLASSIFIED, size_text(ann, s.mpp))
        if self.table.item(row, 0) is None:
            for c, text in enumerate(texts):
                item = QTableWidgetItem(text)
                if c:
                    item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
                self.table.setItem(row, c, item)
            self.table.item(row, 0).setData(Qt.ItemDataRole.UserRole, ann.id)
            self.table.item(row, 2).setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        tip = f"{ann.kind}; double-click or F2 to rename"
        for c, text in enumerate(texts):
            item = self.table.item(row, c)
            if item.text() != text:
                item.setText(text)
            if item.toolTip() != tip:
                item.setToolTip(tip)
        self.table.item(row, 1).setIcon(color_icon(s.aset.color_of(ann)))

    def _sync_selection(self) -> None:
        s = self.session
        self._syncing = True
        self.table.clearSelection()
        if s is not None:
            index = {i: r for r, i in enumerate(self._ids)}
            model = self.table.selectionModel()
            flags = QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows
            for i in s.selected:
                if i in index:
                    model.select(self.table.model().index(index[i], 0), flags)
            if s.selected and s.selected[-1] in index and not self._from_table:
                self.table.scrollToItem(self.table.item(index[s.selected[-1]], 0))
            first = s.aset.get(s.selected[0]) if s.selected else None
            if first is not None:
                self.set_class.setCurrentIndex(max(0, self.set_class.findData(first.cls) if first.cls else 0))
        self._syncing = False
        self.delete_button.setEnabled(bool(s and s.selected))
        self.set_class.setEnabled(bool(s and s.selected))

    # -- user actions ------------------------------------------------------------------------------------
    def selected_ids(self) -> list[str]:
        """The ids of the selected rows, top to bottom."""
        rows = sorted({i.row() for i in self.table.selectionModel().selectedRows()})
        return [self._ids[r] for r in rows if r < len(self._ids)]

    def _on_rows_selected(self) -> None:
        if self._syncing or self.session is None:
            return
        self._from_table = True          # the row clicked is in view: do not scroll it away mid double-click
        try:
            self.session.select(self.selected_ids())
        finally:
            self._from_table = False

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        """A double-click on a row opens its name editor."""
        if (obj is self.table.viewport() and event.type() == QEvent.Type.MouseButtonDblClick
                and isinstance(event, QMouseEvent) and event.button() == Qt.MouseButton.LeftButton):
            index = self.table.indexAt(event.position().toPoint())
            if index.isValid():
                self.rename_row(index.row())
                return True
        return super().eventFilter(obj, event)

    def rename_row(self, row: int) -> bool:
        """Open the name editor of a row; False when there is no such row."""
        item = self.table.item(row, 0)
        if item is None:
            return False
        self.table.setCurrentItem(item, QItemSelectionModel.SelectionFlag.NoUpdate)
        self.table.editItem(item)
        return True

    def rename_selected(self) -> bool:
        """Open the name editor of the first selected annotation; False when none is selected."""
        s = self.session
        if s is None or not s.selected or s.selected[0] not in self._ids:
            return False
        return self.rename_row(self._ids.index(s.selected[0]))

    def _on_cell_clicked(self, row: int, _col: int) -> None:
        """A click on a row takes the view to that annotation."""
        if self.session is not None and row < len(self._ids) and len(self.selected_ids()) <= 1:
            self.session.navigate_to(self._ids[row])

    def _on_item_changed(self, item: QTableWidgetItem) -> None:
        if self._syncing or self.session is None or item.column() != 0:
            return
        ann_id = item.data(Qt.ItemDataRole.UserRole)
        if ann_id:
            self.session.rename(ann_id, item.text().strip())

    def _on_new_class(self, _index: int) -> None:
        if self.session is not None:
            self.session.current_class = self.new_class.currentData()

    def _on_set_class(self, _index: int) -> None:
        if self.session is not None and self.session.selected:
            self.session.set_class(list(self.session.selected), self.set_class.currentData())
