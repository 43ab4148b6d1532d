"""The layers panel: toggle, fade and reorder the overlay layers of the current slide."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from .layers import Layer, LayerStack


class LayersPanel(QWidget):
    """Lists a `LayerStack` top layer first; checkboxes show/hide, the slider sets opacity."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.stack: LayerStack | None = None
        self._selected: Layer | None = None
        self.list = QListWidget()
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.up = QPushButton("Up")
        self.down = QPushButton("Down")
        self.remove = QPushButton("Remove")
        buttons = QHBoxLayout()
        for b in (self.up, self.down, self.remove):
            buttons.addWidget(b)
        row = QHBoxLayout()
        row.addWidget(QLabel("Opacity"))
        row.addWidget(self.opacity)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.list)
        layout.addLayout(row)
        layout.addLayout(buttons)
        self.list.itemChanged.connect(self._on_item_changed)
        self.list.currentRowChanged.connect(self._on_current)
        self.opacity.valueChanged.connect(self._on_opacity)
        self.up.clicked.connect(lambda: self._move(+1))
        self.down.clicked.connect(lambda: self._move(-1))
        self.remove.clicked.connect(self._remove)
        self._refresh()

    def set_stack(self, stack: LayerStack | None) -> None:
        """Show another slide's layers (None: empty)."""
        if self.stack is not None:
            try:
                self.stack.sigLayersChanged.disconnect(self._refresh)
                self.stack.sigChanged.disconnect(self._sync_checks)
            except (RuntimeError, TypeError):
                pass
        self.stack = stack
        if stack is not None:
            stack.sigLayersChanged.connect(self._refresh)
            stack.sigChanged.connect(self._sync_checks)
        self._refresh()

    def layer_at(self, row: int) -> Layer | None:
        """The layer shown in list row `row` (row 0 is the top layer)."""
        if self.stack is None or not 0 <= row < len(self.stack):
            return None
        return self.stack.layers[len(self.stack) - 1 - row]

    def current_layer(self) -> Layer | None:
        """The selected layer."""
        return self.layer_at(self.list.currentRow())

    # -- syncing --------------------------------------------------------------------------------------
    def _refresh(self) -> None:
        current = self._selected
        self.list.blockSignals(True)
        self.list.clear()
        layers = list(reversed(self.stack.layers)) if self.stack is not None else []
        for layer in layers:
            item = QListWidgetItem(layer.name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if layer.visible else Qt.CheckState.Unchecked)
            self.list.addItem(item)
        if layers:
            self.list.setCurrentRow(layers.index(current) if current in layers else 0)
        self.list.blockSignals(False)
        self._on_current(self.list.currentRow())

    def _sync_checks(self) -> None:
        self.list.blockSignals(True)
        for row in range(self.list.count()):
            layer = self.layer_at(row)
            if layer is not None:
                state = Qt.CheckState.Checked if layer.visible else Qt.CheckState.Unchecked
                self.list.item(row).setCheckState(state)
        self.list.blockSignals(False)
        layer = self.current_layer()
        if layer is not None:
            self.opacity.blockSignals(True)
            self.opacity.setValue(round(layer.opacity * 100))
            self.opacity.blockSignals(False)

    def _on_item_changed(self, item: QListWidgetItem) -> None:
        layer = self.layer_at(self.list.row(item))
        if layer is not None:
            layer.visible = item.checkState() == Qt.CheckState.Checked

    def _on_current(self, row: int) -> None:
        layer = self.layer_at(row)
        self._selected = layer
        for w in (self.opacity, self.up, self.down, self.remove):
            w.setEnabled(layer is not None)
        if layer is not None:
            self.opacity.blockSignals(True)
            self.opacity.setValue(round(layer.opacity * 100))
            self.opacity.blockSignals(False)

    def _on_opacity(self, value: int) -> None:
        layer = self.current_layer()
        if layer is not None:
            layer.opacity = value / 100.0

    def _move(self, step: int) -> None:
        layer = self.current_layer()
        if layer is not None and self.stack is not None:
            self.stack.move(layer, self.stack.layers.index(layer) + step)

    def _remove(self) -> None:
        layer = self.current_layer()
        if layer is not None and self.stack is not None:
            self.stack.remove(layer)
