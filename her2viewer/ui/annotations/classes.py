"""The class editor: rename, recolour, add and remove annotation classes (one undoable edit on OK)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QColorDialog,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from her2viewer.annotations.model import ClassRegistry

from .panel import color_icon
from .session import SlideAnnotations

ORIGINAL = Qt.ItemDataRole.UserRole          # the class's name when the dialog opened ("" for new ones)
COLOR = Qt.ItemDataRole.UserRole + 1


class ClassesDialog(QDialog):
    """Edit the class list of a slide's annotations; double-click a name to rename it."""

    def __init__(self, session: SlideAnnotations, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Annotation classes")
        self.session = session
        self.list = QListWidget()
        for c in session.aset.classes:
            self._add_item(c.name, c.color, original=c.name)
        add = QPushButton("Add")
        add.clicked.connect(self.add_class)
        recolour = QPushButton("Colour...")
        recolour.clicked.connect(self.choose_color)
        remove = QPushButton("Remove")
        remove.clicked.connect(self.remove_class)
        buttons = QHBoxLayout()
        for b in (add, recolour, remove):
            buttons.addWidget(b)
        box = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        box.accepted.connect(self.accept)
        box.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.list)
        layout.addLayout(buttons)
        layout.addWidget(box)

    def _add_item(self, name: str, color: tuple[int, int, int], original: str = "") -> QListWidgetItem:
        item = QListWidgetItem(color_icon(color), name)
        item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable)
        item.setData(ORIGINAL, original)
        item.setData(COLOR, list(color))
        self.list.addItem(item)
        return item

    def add_class(self, name: str = "", color: tuple[int, int, int] = (0, 160, 255)) -> QListWidgetItem:
        """Append a new class and start editing its name."""
        taken = {self.list.item(i).text() for i in range(self.list.count())}
        base = name or "New class"
        name, n = base, 2
        while name in taken:
            name, n = f"{base} {n}", n + 1
        item = self._add_item(name, color)
        self.list.setCurrentItem(item)
        if self.isVisible():
            self.list.editItem(item)
        return item

    def set_color(self, item: QListWidgetItem, color: tuple[int, int, int]) -> None:
        """Give a class another colour."""
        item.setData(COLOR, list(color))
        item.setIcon(color_icon(color))

    def choose_color(self) -> None:
        item = self.list.currentItem()
        if item is None:
            return
        c = QColorDialog.getColor(QColor(*item.data(COLOR)), self, f"Colour of {item.text()}")
        if c.isValid():
            self.set_color(item, (c.red(), c.green(), c.blue()))

    def remove_class(self) -> None:
        """Take the current class off the list (its annotations keep the name)."""
        row = self.list.currentRow()
        if row >= 0:
            self.list.takeItem(row)

    def result_classes(self) -> tuple[ClassRegistry, dict[str, str]]:
        """The edited list and the renames (old name -> new name); raises ValueError for bad names."""
        names: list[str] = []
        renames: dict[str, str] = {}
        items = []
        for i in range(self.list.count()):
            it = self.list.item(i)
            name = it.text().strip()
            if not name:
                raise ValueError("a class needs a name")
            if name in names:
                raise ValueError(f"the class name {name!r} is used twice")
            names.append(name)
            original = it.data(ORIGINAL)
            if original and original != name:
                renames[original] = name
            items.append((name, tuple(int(v) for v in it.data(COLOR))))
        return ClassRegistry(items), renames

    def accept(self) -> None:
        try:
            classes, renames = self.result_classes()
        except ValueError as e:
            QMessageBox.warning(self, "Annotation classes", f"The classes cannot be saved: {e}.")
            return
        if classes.to_list() != self.session.aset.classes.to_list() or renames:
            self.session.edit_classes(classes, renames)
        super().accept()
