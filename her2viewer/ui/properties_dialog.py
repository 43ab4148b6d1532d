"""The slide properties dialog: metadata, pyramid levels, all file properties and the associated images."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from her2viewer.slide.base import SlideSource

from .tile_loader import rgb_to_qimage

ASSOCIATED_MAX_PX = 360


def summary_rows(source: SlideSource) -> list[tuple[str, str]]:
    """The headline facts of a slide as (name, value) rows."""
    W, H = source.dimensions
    mpp = source.mpp
    rows = [
        ("File", str(source.path)),
        ("Format", str(source.vendor)),
        ("Size", f"{W:,} x {H:,} px"),
        ("Pixel size", f"{mpp:.4g} \u00b5m/px" if mpp else "unknown (no scale)"),
        ("Physical size", f"{W * mpp / 1000:.2f} x {H * mpp / 1000:.2f} mm" if mpp else "unknown"),
        ("Objective", f"{source.objective_power:g}x" if source.objective_power else "unknown"),
        ("Levels", str(source.level_count)),
    ]
    for i, ((w, h), d) in enumerate(zip(source.level_dimensions, source.level_downsamples, strict=False)):
        rows.append((f"  level {i}", f"{w:,} x {h:,} px, downsample {d:.4g}"))
    return rows


def _table(rows: list[tuple[str, str]]) -> QTableWidget:
    t = QTableWidget(len(rows), 2)
    t.setHorizontalHeaderLabels(["Property", "Value"])
    t.verticalHeader().setVisible(False)
    t.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
    for i, (k, v) in enumerate(rows):
        t.setItem(i, 0, QTableWidgetItem(k))
        t.setItem(i, 1, QTableWidgetItem(v))
    t.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
    t.horizontalHeader().setStretchLastSection(True)
    return t


class PropertiesDialog(QDialog):
    """Non-modal dialog describing one slide."""

    def __init__(self, source: SlideSource, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Properties of {source.path}")
        self.resize(720, 520)
        tabs = QTabWidget()
        tabs.addTab(_table(summary_rows(source)), "Summary")
        props = sorted(source.properties.items())
        tabs.addTab(_table([(k, str(v)) for k, v in props]), f"All properties ({len(props)})")
        images = QWidget()
        row = QHBoxLayout(images)
        try:
            associated = source.associated_images
        except Exception as exc:  # a broken label image must not stop the dialog
            associated = {}
            row.addWidget(QLabel(f"Cannot read the associated images: {exc}"))
        for name, rgb in associated.items():
            box = QVBoxLayout()
            pic = QLabel()
            pic.setPixmap(QPixmap.fromImage(rgb_to_qimage(rgb)).scaled(
                ASSOCIATED_MAX_PX, ASSOCIATED_MAX_PX, Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation))
            box.addWidget(pic)
            box.addWidget(QLabel(f"{name} ({rgb.shape[1]} x {rgb.shape[0]} px)"))
            row.addLayout(box)
        if not associated:
            row.addWidget(QLabel("This file has no label or macro image."))
        tabs.addTab(images, f"Label and macro ({len(associated)})")
        self.tabs = tabs
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(tabs)
        layout.addWidget(buttons)
