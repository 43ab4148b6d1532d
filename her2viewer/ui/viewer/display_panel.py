"""The display panel: brightness, contrast, gamma and the colour-deconvolution view of the current slide."""

from __future__ import annotations

import math

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QComboBox, QFormLayout, QPushButton, QSlider, QWidget

from .display import STAIN_VIEWS, DisplaySettings


def _slider(lo: int, hi: int) -> QSlider:
    s = QSlider(Qt.Orientation.Horizontal)
    s.setRange(lo, hi)
    return s


class DisplayPanel(QWidget):
    """Edits a `DisplaySettings`; emits `sigDisplayChanged(settings)` shortly after the user stops."""

    sigDisplayChanged = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.brightness = _slider(-50, 50)          # /100 -> -0.5 .. 0.5
        self.contrast = _slider(-100, 100)          # 2 ** (v / 100) -> 0.5 .. 2
        self.gamma = _slider(-100, 100)             # 2 ** (v / 100)
        self.stain = QComboBox()
        for name, (label, _) in STAIN_VIEWS.items():
            self.stain.addItem(label, name)
        reset = QPushButton("Reset")
        form = QFormLayout(self)
        form.addRow("View", self.stain)
        form.addRow("Brightness", self.brightness)
        form.addRow("Contrast", self.contrast)
        form.addRow("Gamma", self.gamma)
        form.addRow(reset)
        self._debounce = QTimer(self, singleShot=True, interval=120, timeout=self._emit)
        for s in (self.brightness, self.contrast, self.gamma):
            s.valueChanged.connect(self._debounce.start)
        self.stain.currentIndexChanged.connect(self._emit)
        reset.clicked.connect(lambda: self.set_settings(DisplaySettings(), emit=True))

    def settings(self) -> DisplaySettings:
        """The settings the controls show."""
        return DisplaySettings(
            brightness=self.brightness.value() / 100.0,
            contrast=2.0 ** (self.contrast.value() / 100.0),
            gamma=2.0 ** (self.gamma.value() / 100.0),
            stain=self.stain.currentData(),
        )

    def set_settings(self, s: DisplaySettings, *, emit: bool = False) -> None:
        """Show these settings (e.g. when another slide's tab becomes current)."""
        widgets = (self.brightness, self.contrast, self.gamma, self.stain)
        for w in widgets:
            w.blockSignals(True)
        self.brightness.setValue(round(s.brightness * 100))
        self.contrast.setValue(round(math.log2(s.contrast) * 100))
        self.gamma.setValue(round(math.log2(s.gamma) * 100))
        self.stain.setCurrentIndex(max(self.stain.findData(s.stain), 0))
        for w in widgets:
            w.blockSignals(False)
        if emit:
            self._emit()

    def _emit(self) -> None:
        self._debounce.stop()
        self.sigDisplayChanged.emit(self.settings())
