"""The slide properties dialog: metadata, pyramid levels, all file properties and the associated images.

The pixel size can be edited here: `on_pixel_size(mpp)` is called with the value the user applies, or with
None for "Use file / estimate" (the main window sets it on the source and remembers it per slide).
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from her2viewer.slide.base import SlideSource

from .tile_loader import rgb_to_qimage

ASSOCIATED_MAX_PX = 360
#: the range and precision of the pixel size the user may type (um/px)
MPP_EDIT_RANGE = (0.05, 5.0)
MPP_DECIMALS = 4


def pixel_size_provenance(source: SlideSource) -> str:
    """Where the slide's pixel size comes from, for people: "from the file", "set by you", "estimated from
    the nuclei \u00b117%", "ASSUMED (unknown)"."""
    kind = getattr(source, "mpp_source", None)
    if kind == "user":
        file_mpp = getattr(source, "file_mpp", None)
        return "set by you" + (f" (the file says {file_mpp:.4g} \u00b5m/px)" if file_mpp else
                               " (the file has none)")
    if kind == "file":
        return "from the file"
    if kind == "estimated":
        rel = getattr(source, "mpp_uncertainty", None)
        return "estimated from the nuclei" + (f" \u00b1{100 * rel:.0f}%" if rel is not None else "")
    if kind == "assumed":
        return "ASSUMED (unknown: the file has none and it could not be estimated)"
    return "unknown (no scale)" if not source.mpp else "from the file"


def summary_rows(source: SlideSource) -> list[tuple[str, str]]:
    """The headline facts of a slide as (name, value) rows."""
    W, H = source.dimensions
    mpp = source.mpp
    objective = source.objective_power
    if getattr(source, "mpp_source", None) in ("estimated", "assumed"):
        objective = getattr(source, "_objective", None)   # not 10 / an estimated pixel size
    rows = [
        ("File", str(source.path)),
        ("Format", str(source.vendor)),
        ("Size", f"{W:,} x {H:,} px"),
        ("Pixel size", f"{mpp:.4g} \u00b5m/px, {pixel_size_provenance(source)}" if mpp
         else "unknown (no scale)"),
        ("Physical size", f"{W * mpp / 1000:.2f} x {H * mpp / 1000:.2f} mm" if mpp else "unknown"),
        ("Objective", f"{objective:g}x" if objective else "unknown"),
        ("Levels", str(source.level_count)),
    ]
    for i, ((w, h), d) in enumerate(zip(source.level_dimensions, source.level_downsamples, strict=False)):
        rows.append((f"  level {i}", f"{w:,} x {h:,} px, downsample {d:.4g}"))
    return rows


def _table(rows: list[tuple[str, str]], t: QTableWidget | None = None) -> QTableWidget:
    t = t or QTableWidget()
    t.setRowCount(len(rows))
    t.setColumnCount(2)
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

    def __init__(self, source: SlideSource, parent: QWidget | None = None, *,
                 on_pixel_size: Callable[[float | None], None] | None = None) -> None:
        super().__init__(parent)
        self.source = source
        self.on_pixel_size = on_pixel_size
        self.setWindowTitle(f"Properties of {source.path}")
        self.resize(720, 560)
        tabs = QTabWidget()
        self.summary = _table(summary_rows(source))
        tabs.addTab(self.summary, "Summary")
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
        layout.addWidget(self._pixel_size_box())
        layout.addWidget(tabs)
        layout.addWidget(buttons)
        self.refresh()

    def _pixel_size_box(self) -> QGroupBox:
        box = QGroupBox("Pixel size")
        row = QHBoxLayout(box)
        self.mpp_spin = QDoubleSpinBox()
        self.mpp_spin.setRange(*MPP_EDIT_RANGE)
        self.mpp_spin.setDecimals(MPP_DECIMALS)
        self.mpp_spin.setSingleStep(0.01)
        self.mpp_spin.setSuffix(" \u00b5m/px")
        self.mpp_spin.setToolTip("Micrometres per full-resolution pixel; used by the scale bar, the "
                                 "coordinates, the scorers and the patch export of this slide.")
        self.mpp_source_label = QLabel()
        self.mpp_source_label.setWordWrap(True)
        self.apply_mpp_button = QPushButton("Apply")
        self.apply_mpp_button.setToolTip("Use this pixel size for this slide (remembered when it is reopened)")
        self.apply_mpp_button.clicked.connect(self.apply_pixel_size)
        self.reset_mpp_button = QPushButton("Use file / estimate")
        self.reset_mpp_button.setToolTip("Forget the pixel size you set: use the file's, else estimate it "
                                         "from the nuclei")
        self.reset_mpp_button.clicked.connect(self.reset_pixel_size)
        editable = self.on_pixel_size is not None
        for w in (self.mpp_spin, self.apply_mpp_button, self.reset_mpp_button):
            w.setEnabled(editable)
        row.addWidget(self.mpp_spin)
        row.addWidget(self.mpp_source_label, 1)
        row.addWidget(self.apply_mpp_button)
        row.addWidget(self.reset_mpp_button)
        return box

    def refresh(self) -> None:
        """Show the source's pixel size and its provenance again (after it changed)."""
        mpp = self.source.mpp
        kind = getattr(self.source, "mpp_source", None)
        if mpp:
            self.mpp_spin.setValue(float(mpp))
        self.mpp_source_label.setText(pixel_size_provenance(self.source))
        colour = {"assumed": "#b00000", "estimated": "#8a5a00"}.get(kind or "", "#206020")
        self.mpp_source_label.setStyleSheet(f"QLabel {{ color: {colour}; }}")
        self.reset_mpp_button.setEnabled(self.on_pixel_size is not None and kind == "user")
        _table(summary_rows(self.source), self.summary)

    def apply_pixel_size(self) -> None:
        """Use the typed pixel size for this slide."""
        if self.on_pixel_size is not None:
            self.on_pixel_size(round(float(self.mpp_spin.value()), MPP_DECIMALS))
            self.refresh()

    def reset_pixel_size(self) -> None:
        """Go back to the file's pixel size, else the estimate."""
        if self.on_pixel_size is not None:
            self.on_pixel_size(None)
            self.refresh()
