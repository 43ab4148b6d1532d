"""The heatmap panel: how a result's heatmap (MIL attention first, else e.g. the patch-score map) is drawn
on the slide, and a list of its most attended tiles that moves the view to each.

The controls (colormap, opacity, smoothing, percentile scale, show) change the result's `HeatmapLayer` in
place; nothing is recomputed. Smoothing and scale are display-only (`heatmap_ops`, NaN-aware); the list
ranks the model's own values. Activating a row (click, Enter, double-click, or Up/Down in the list) emits
`sigTileActivated` with the `TopTile` and outlines it on the slide; `show_tile(view, tile)` is what the
window does with it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QCheckBox,
    QComboBox,
    QDockWidget,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMainWindow,
    QSlider,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from her2viewer.scoring.heatmap_ops import (
    PREFERRED_HEATMAP,
    SMOOTHING_SIGMAS,
    TopTile,
    percentile_ranks,
    smooth_heatmap,
    smoothing_upsample,
    tile_view_rect,
    top_tiles,
)
from her2viewer.scoring.result import Heatmap, ScoreResult

from ..viewer.layers import COLORMAPS, LayerStack, Shape, VectorLayer
from .result_layers import RESULT_PREFIX, HeatmapLayer, heatmap_layer_name

HIGHLIGHT = RESULT_PREFIX + "attended tile"
HIGHLIGHT_COLOR = "#00e5ff"
TOP_N = 10
DEFAULT_COLORMAP = "inferno"
DEFAULT_OPACITY = 0.45
#: readable names of the heatmaps the scorers make
HEATMAP_TITLES = {"mil_attention": "MIL attention", "patch_score": "Patch score",
                  "membrane_hscore": "Membrane H-score"}


def heatmap_title(name: str) -> str:
    """A heatmap's name for people."""
    return HEATMAP_TITLES.get(name, name.replace("_", " ").capitalize())


def show_tile(view: Any, tile: TopTile) -> None:
    """Move a slide view onto a tile: centred, a few tiles across (`tile_view_rect`)."""
    view.fit_rect(*tile_view_rect(tile.l0_bbox))


class AttentionPanel(QWidget):
    """Colormap, opacity and smoothing of the shown result's heatmap, and its top tiles."""

    sigTileActivated = Signal(object)   # TopTile

    def __init__(self, parent: QWidget | None = None, *, n_top: int = TOP_N) -> None:
        super().__init__(parent)
        self.n_top = n_top
        self.result: ScoreResult | None = None
        self.stack: LayerStack | None = None
        self.heatmap: Heatmap | None = None
        self.layer: HeatmapLayer | None = None
        self.tiles: list[TopTile] = []
        self._heatmaps: list[Heatmap] = []
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        self.title_label = QLabel()
        self.title_label.setWordWrap(True)
        layout.addWidget(self.title_label)
        self._add_settings_form(layout)
        self._add_top_tiles_table(layout)
        self._controls = [self.heatmap_combo, self.colormap_combo, self.opacity_slider, self.smoothing_combo,
                          self.scale_combo, self.show_check, self.table]
        self._update_opacity_label()
        self._bind(None)

    def _add_settings_form(self, layout: QVBoxLayout) -> None:
        """Heatmap, colormap, opacity, smoothing, scale and whether it is shown."""
        form = self._form = QFormLayout()
        self.heatmap_combo = QComboBox()
        self.heatmap_combo.currentIndexChanged.connect(self._on_heatmap_chosen)
        form.addRow("Heatmap:", self.heatmap_combo)
        self.colormap_combo = QComboBox()
        self.colormap_combo.addItems(list(COLORMAPS))
        self.colormap_combo.setCurrentText(DEFAULT_COLORMAP)
        self.colormap_combo.currentTextChanged.connect(self._apply_colormap)
        form.addRow("Colormap:", self.colormap_combo)
        row = QHBoxLayout()
        self.opacity_slider = QSlider(Qt.Orientation.Horizontal)
        self.opacity_slider.setRange(0, 100)
        self.opacity_slider.setValue(round(DEFAULT_OPACITY * 100))
        self.opacity_slider.valueChanged.connect(self._apply_opacity)
        self.opacity_label = QLabel()
        self.opacity_label.setMinimumWidth(36)
        row.addWidget(self.opacity_slider, 1)
        row.addWidget(self.opacity_label)
        form.addRow("Opacity:", row)
        self.smoothing_combo = QComboBox()
        for sigma in SMOOTHING_SIGMAS:
            self.smoothing_combo.addItem("Off" if sigma == 0 else f"Gaussian, \u03c3 = {sigma:g} tile", sigma)
        self.smoothing_combo.currentIndexChanged.connect(self._apply_values)
        form.addRow("Smoothing:", self.smoothing_combo)
        self.scale_combo = QComboBox()
        self.scale_combo.addItem("As scored", "value")
        self.scale_combo.addItem("Percentile rank", "percentile")
        self.scale_combo.setToolTip("Percentile rank colours each tile by its rank among the tissue tiles: "
                                    "it shows where the model looks most even when its values are nearly flat.")
        self.scale_combo.currentIndexChanged.connect(self._apply_values)
        form.addRow("Scale:", self.scale_combo)
        self.show_check = QCheckBox("Show on the slide")
        self.show_check.setChecked(True)
        self.show_check.toggled.connect(self._apply_visible)
        form.addRow(self.show_check)
        layout.addLayout(form)

    def _add_top_tiles_table(self, layout: QVBoxLayout) -> None:
        """The list of the top tiles; a click or Enter goes there."""
        self.list_label = QLabel()
        layout.addWidget(self.list_label)
        self.table = QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(["#", "attention", "share", "centre (px)"])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        header = self.table.horizontalHeader()
        for col in range(3):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.table.setMinimumHeight(160)
        self.table.currentCellChanged.connect(self._on_current_cell)
        self.table.cellClicked.connect(lambda r, _c: self.activate_row(r))
        self.table.cellActivated.connect(lambda r, _c: self.activate_row(r))
        self.table.setToolTip("Click a tile, or press Enter, to go there; Up / Down step through the list.")
        layout.addWidget(self.table, 1)

    # -- settings -------------------------------------------------------------------------------------
    @property
    def colormap(self) -> str:
        """The chosen colormap name."""
        return self.colormap_combo.currentText()

    @property
    def opacity(self) -> float:
        """The chosen opacity, 0..1."""
        return self.opacity_slider.value() / 100.0

    @property
    def sigma(self) -> float:
        """The chosen smoothing, Gaussian sigma in tiles (0 = off)."""
        return float(self.smoothing_combo.currentData() or 0.0)

    @property
    def percentile(self) -> bool:
        """Whether tiles are coloured by percentile rank rather than by value."""
        return self.scale_combo.currentData() == "percentile"

    # -- target ---------------------------------------------------------------------------------------
    def set_target(self, result: ScoreResult | None, layers: LayerStack | None) -> None:
        """Show `result`'s heatmap, drawn by its layer on `layers` (None: nothing to show)."""
        heatmaps = [h for h in (result.evidence.heatmaps if result is not None else [])
                    if np.ndim(h.values) == 2 and np.size(h.values) > 0]
        if result is self.result and layers is self.stack and self.heatmap is not None \
                and self.layer is self._find_layer(self.heatmap):
            return   # the same result shown again (e.g. back on its tab): keep the list's place
        self.result, self.stack, self._heatmaps = result, layers, heatmaps
        self.heatmap_combo.blockSignals(True)
        self.heatmap_combo.clear()
        for h in heatmaps:
            self.heatmap_combo.addItem(heatmap_title(h.name), h.name)
        preferred = next((i for i, h in enumerate(heatmaps) if h.name == PREFERRED_HEATMAP), 0)
        self.heatmap_combo.setCurrentIndex(preferred if heatmaps else -1)
        self.heatmap_combo.blockSignals(False)
        self._form.setRowVisible(self.heatmap_combo, len(heatmaps) > 1)
        self._bind(heatmaps[preferred] if heatmaps else None)

    def _on_heatmap_chosen(self, index: int) -> None:
        if 0 <= index < len(self._heatmaps):
            self._bind(self._heatmaps[index])

    def _find_layer(self, heatmap: Heatmap) -> HeatmapLayer | None:
        found = self.stack.find(heatmap_layer_name(heatmap.name)) if self.stack is not None else None
        return found if isinstance(found, HeatmapLayer) else None

    def _bind(self, heatmap: Heatmap | None) -> None:
        """Attach the controls to one heatmap and its layer, applying the current settings to the layer."""
        if self.layer is not None:
            self.layer.sigChanged.disconnect(self._sync_from_layer)
        self.heatmap = heatmap
        self.layer = self._find_layer(heatmap) if heatmap is not None else None
        for w in self._controls:
            w.setEnabled(heatmap is not None)
        if heatmap is None:
            self.title_label.setText("No heatmap: score the slide with a method that makes one "
                                     "(mil, patch, pss or rules).")
            self.tiles = []
            self._fill_table()
            return
        self.title_label.setText(self._title(heatmap))
        self.title_label.setToolTip(heatmap.description)
        self.tiles = top_tiles(heatmap, self.n_top, self.result.params if self.result is not None else None)
        self._fill_table()
        if self.layer is not None:
            self._apply_colormap(self.colormap)
            self._apply_values()
            self.layer.opacity = self.opacity
            self.layer.visible = self.show_check.isChecked()
            self.layer.sigChanged.connect(self._sync_from_layer)

    def _title(self, heatmap: Heatmap) -> str:
        """"MIL attention - abmil, 74 tiles" (what the params say about the heatmap's grid)."""
        params = self.result.params if self.result is not None else {}
        bits = []
        if heatmap.name == PREFERRED_HEATMAP and params.get("aggregator"):
            bits.append(str(params["aggregator"]))
        n = int(np.isfinite(np.asarray(heatmap.values, np.float64)).sum())
        bits.append(f"{n} tiles")
        return f"<b>{heatmap_title(heatmap.name)}</b> \u2014 {', '.join(bits)}"

    def _fill_table(self) -> None:
        attention = self.heatmap is not None and self.heatmap.name == PREFERRED_HEATMAP
        what = "attended tiles" if attention else "tiles by value"
        self.list_label.setText(f"Top {len(self.tiles)} {what}:" if self.tiles else "")
        self.table.setHorizontalHeaderItem(1, QTableWidgetItem("attention" if attention else "value"))
        has_share = any(t.share is not None for t in self.tiles)
        self.table.setColumnHidden(2, not has_share)
        self.table.blockSignals(True)
        self.table.setRowCount(len(self.tiles))
        # three decimals for probabilities and attention, whole numbers for an H-score (0-300)
        digits = 0 if self.heatmap is not None and self.heatmap.vmax - self.heatmap.vmin > 10 else 3
        for row, t in enumerate(self.tiles):
            x, y = t.l0_center
            cells = [str(t.rank), f"{t.value:.{digits}f}", "" if t.share is None else f"{100 * t.share:.2f}%",
                     f"x {x:,.0f}  y {y:,.0f}"]
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if col < 3:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(row, col, item)
        self.table.setCurrentCell(-1, -1)
        self.table.clearSelection()
        self.table.blockSignals(False)
        if has_share:
            self.table.horizontalHeaderItem(2).setToolTip("the tile's share of the attention over the whole bag")
        self.table.horizontalHeaderItem(1).setToolTip(
            "relative to the most attended tile (1 = most attended)" if attention else "the heatmap's value")

    # -- applying to the layer ----------------------------------------------------------------------------
    def _apply_colormap(self, name: str) -> None:
        if self.layer is not None and name:
            self.layer.colormap = name

    def _apply_opacity(self, _value: int = 0) -> None:
        self._update_opacity_label()
        if self.layer is not None:
            self.layer.opacity = self.opacity

    def _update_opacity_label(self) -> None:
        self.opacity_label.setText(f"{self.opacity_slider.value()}%")

    def _apply_values(self, _index: int = 0) -> None:
        """Put the heatmap on the layer as scaled (value or percentile) and smoothed (on finer cells)."""
        if self.layer is None or self.heatmap is None:
            return
        hm = self.heatmap
        vals, vrange, units = np.asarray(hm.values, np.float32), (hm.vmin, hm.vmax), ""
        if self.percentile:
            vals, vrange, units = percentile_ranks(vals), (0.0, 1.0), "percentile rank"
        cell = hm.l0_cell_size
        if self.sigma > 0:
            f = smoothing_upsample(vals.shape)
            vals, cell = smooth_heatmap(vals, self.sigma, f), cell / f
        self.layer.units = units
        self.layer.set_values(vals, cell_size=cell, vrange=vrange)

    def _apply_visible(self, checked: bool) -> None:
        if self.layer is not None:
            self.layer.visible = checked

    def _sync_from_layer(self) -> None:
        """Follow changes made elsewhere (the layers panel's opacity slider and checkbox)."""
        if self.layer is None:
            return
        for widget, setter, value in ((self.opacity_slider, self.opacity_slider.setValue,
                                       round(self.layer.opacity * 100)),
                                      (self.show_check, self.show_check.setChecked, self.layer.visible)):
            widget.blockSignals(True)
            setter(value)
            widget.blockSignals(False)
        self._update_opacity_label()

    # -- the list -------------------------------------------------------------------------------------------
    def _on_current_cell(self, row: int, _col: int, _prev_row: int, _prev_col: int) -> None:
        # keyboard moves go to the tile at once; a mouse press is handled by the click (no double move)
        if row >= 0 and QApplication.mouseButtons() == Qt.MouseButton.NoButton:
            self.activate_row(row)

    def activate_row(self, row: int) -> TopTile | None:
        """Go to the tile of list row `row`: select it, outline it on the slide, emit `sigTileActivated`."""
        if not 0 <= row < len(self.tiles):
            return None
        tile = self.tiles[row]
        if self.table.currentRow() != row:
            self.table.blockSignals(True)
            self.table.setCurrentCell(row, 0)
            self.table.blockSignals(False)
        self._highlight(tile)
        self.sigTileActivated.emit(tile)
        return tile

    def _highlight(self, tile: TopTile) -> None:
        if self.stack is None:
            return
        layer = self.stack.find(HIGHLIGHT)
        if not isinstance(layer, VectorLayer):
            layer = self.stack.add(VectorLayer(HIGHLIGHT, line_width=3.0))
        layer.set_shapes([Shape("box", tile.l0_bbox, color=HIGHLIGHT_COLOR, label=f"#{tile.rank}")])


def install_attention_panel(window: QMainWindow, controller: Any) -> QDockWidget:
    """Add the heatmap panel as a dock of `window`, following `controller.sigResultShown` (the shown result
    of the current slide tab) and moving the current tab's view to activated tiles; returns the dock."""
    panel = AttentionPanel()
    dock = QDockWidget("Heatmap", window)
    dock.setObjectName("dock_heatmap")
    dock.setWidget(panel)
    window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
    display = getattr(window, "docks", {}).get("Display")
    if display is not None:
        window.tabifyDockWidget(display, dock)
    seen: list[int] = []

    def on_result(result: ScoreResult | None) -> None:
        tab = window.current_tab()
        panel.set_target(result, tab.layers if tab is not None else None)
        if panel.heatmap is not None and id(result) not in seen:
            seen[:] = [id(result)]
            dock.raise_()

    def on_tile(tile: TopTile) -> None:
        tab = window.current_tab()
        if tab is not None:
            show_tile(tab.view, tile)

    controller.sigResultShown.connect(on_result)
    panel.sigTileActivated.connect(on_tile)
    return dock
