"""A `ScoreResult` as overlay layers: heatmaps, cell detections by membrane class, sampled patch boxes by
their sample's score, and the TMA cores with a score badge each.

The layers show what the result carries (no branching on the method): heatmaps -> `RasterLayer`, cells ->
`CellLayer`, patch boxes -> `VectorLayer`, cores -> `CoreScoreLayer`. Every layer name starts with
`RESULT_PREFIX`, so a new result replaces the old one's layers.
"""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QImage, QPainter, QPen

from her2viewer.scoring.result import CellDetections, CoreResult, ScoreResult

from ..common.colors import MEMBRANE_COLORS, MEMBRANE_NAMES, NON_TUMOUR_COLOR, SCORE_COLORS, score_color
from ..viewer.layers import Layer, LayerStack, RasterLayer, Shape, VectorLayer

RESULT_PREFIX = "Score: "
CELLS = RESULT_PREFIX + "cells"
PATCHES = RESULT_PREFIX + "sampled patches"
MAX_SHOWN_BOXES = 120   # more sampled patches than this start hidden (ticked on in the Layers list)
CORES = RESULT_PREFIX + "TMA cores"


class CellLayer(Layer):
    """Cell detections as dots coloured by membrane class, drawn only when zoomed in enough to tell cells
    apart, and only those in view (a bucket grid over sorted arrays; dots stamped with numpy per class)."""

    MIN_SPACING_PX = 8.0     # cells closer than this on screen: not drawn (the heatmap says enough)
    MAX_DOT_PX = 9.0

    def __init__(self, name: str, cells: CellDetections, *, visible: bool = True, opacity: float = 0.9) -> None:
        super().__init__(name, visible=visible, opacity=opacity)
        x = np.asarray(cells.x, np.float64)
        y = np.asarray(cells.y, np.float64)
        n = len(x)
        self.n = n
        inten = np.clip(np.asarray(cells.intensity, np.int64), 0, 3)
        complete = np.asarray(cells.complete, bool)
        tumour = np.ones(n, bool) if cells.tumour is None else np.asarray(cells.tumour, bool)
        # group: 0..3 incomplete by class, 4..7 complete by class, 8 non-tumour
        group = np.where(tumour, inten + 4 * complete, 8)
        if n:
            self.x0, self.y0 = float(x.min()), float(y.min())
            w, h = float(x.max()) - self.x0 + 1.0, float(y.max()) - self.y0 + 1.0
        else:
            self.x0 = self.y0 = 0.0
            w = h = 1.0
        self.bucket = max(16.0, math.sqrt(w * h / max(n, 1) * 64.0))   # ~64 cells per bucket on average
        self.cols = int(w // self.bucket) + 1
        self.rows = int(h // self.bucket) + 1
        key = ((y - self.y0) // self.bucket).astype(np.int64) * self.cols + ((x - self.x0) // self.bucket).astype(
            np.int64)
        order = np.argsort(key, kind="stable")
        self.x, self.y, self.group = x[order], y[order], group[order].astype(np.int8)
        self.tumour = tumour[order]
        self.inten = inten[order].astype(np.int8)
        self.complete = complete[order]
        self.membrane_od = None if cells.membrane_od is None else np.asarray(cells.membrane_od, np.float32)[order]
        self.completeness = (None if cells.completeness is None
                             else np.asarray(cells.completeness, np.float32)[order])
        self.starts = np.searchsorted(key[order], np.arange(self.cols * self.rows + 1))
        occupied = np.count_nonzero(np.diff(self.starts))
        self.spacing = math.sqrt(occupied * self.bucket ** 2 / max(n, 1)) if n else float("inf")
        self.last_drawn = 0

    def categories(self) -> tuple[str, list[tuple[str, str]]] | None:
        """The legend of the cell dots (large with a dark rim: complete membrane; smaller: incomplete)."""
        if self.n == 0:
            return None
        entries = [(MEMBRANE_COLORS[k], f"{MEMBRANE_NAMES[k]}") for k in (3, 2, 1, 0)]
        entries.append((NON_TUMOUR_COLOR, "not a tumour cell"))
        return "Cells (dark rim: complete)", entries

    def nearest(self, l0_x: float, l0_y: float, radius: float) -> dict | None:
        """The measurements of the cell nearest a level-0 point within `radius` level-0 px, or None."""
        r = QRectF(l0_x - radius, l0_y - radius, 2 * radius, 2 * radius)
        idx = self.indices_in(r)
        if idx.size == 0:
            return None
        d2 = (self.x[idx] - l0_x) ** 2 + (self.y[idx] - l0_y) ** 2
        i = int(idx[int(np.argmin(d2))])
        if d2.min() > radius * radius:
            return None
        return {"x": float(self.x[i]), "y": float(self.y[i]), "tumour": bool(self.tumour[i]),
                "class": MEMBRANE_NAMES[int(self.inten[i])], "complete": bool(self.complete[i]),
                "membrane_od": None if self.membrane_od is None else float(self.membrane_od[i]),
                "completeness": None if self.completeness is None else float(self.completeness[i])}

    def shown_at(self, downsample: float) -> bool:
        """Whether cells are drawn at this zoom (level-0 px per screen px)."""
        return self.n > 0 and self.spacing / downsample >= self.MIN_SPACING_PX

    def indices_in(self, l0_rect: QRectF) -> np.ndarray:
        """Indices (into the sorted arrays) of the cells inside a level-0 rectangle."""
        b = self.bucket
        c0 = max(0, int((l0_rect.left() - self.x0) // b))
        c1 = min(self.cols - 1, int((l0_rect.right() - self.x0) // b))
        r0 = max(0, int((l0_rect.top() - self.y0) // b))
        r1 = min(self.rows - 1, int((l0_rect.bottom() - self.y0) // b))
        if c1 < c0 or r1 < r0:
            return np.zeros(0, np.int64)
        rows = np.arange(r0, r1 + 1) * self.cols
        lo, hi = self.starts[rows + c0], self.starts[rows + c1 + 1]
        if len(lo) == 0 or (hi - lo).sum() == 0:
            return np.zeros(0, np.int64)
        idx = np.concatenate([np.arange(a, z) for a, z in zip(lo, hi, strict=True) if z > a])
        x, y = self.x[idx], self.y[idx]
        inside = (x >= l0_rect.left()) & (x <= l0_rect.right()) & (y >= l0_rect.top()) & (y <= l0_rect.bottom())
        return idx[inside]

    def paint(self, painter: QPainter, l0_visible: QRectF, downsample: float) -> None:
        """Draw the cells in view as round dots: complete membranes solid with a dark rim, incomplete paler
        and smaller, non-tumour cells small grey. Dots are stamped into one screen-sized image with numpy
        (far faster than QPainter points with a wide round pen) and drawn at once."""
        self.last_drawn = 0
        if not self.shown_at(downsample):
            return
        idx = self.indices_in(l0_visible)
        if idx.size == 0:
            return
        t = painter.transform()
        screen = t.mapRect(l0_visible).toAlignedRect()
        dot = min(self.MAX_DOT_PX, max(3.0, 0.45 * self.spacing / downsample))
        pad = int(math.ceil(dot / 2 + 2))
        w, h = screen.width() + 2 * pad, screen.height() + 2 * pad
        if w <= 2 * pad or h <= 2 * pad:
            return
        buf = np.zeros(h * w, np.uint32)
        x, y = self.x[idx], self.y[idx]
        sx = np.rint(t.m11() * x + t.m21() * y + t.dx() - screen.left()).astype(np.int64) + pad
        sy = np.rint(t.m12() * x + t.m22() * y + t.dy() - screen.top()).astype(np.int64) + pad
        rim = int(math.ceil(dot / 2 + 1))   # the largest stamp's radius: dots may hang over the edges
        ok = (sx >= rim) & (sx < w - rim) & (sy >= rim) & (sy < h - rim)
        base, groups = (sy * w + sx)[ok], self.group[idx][ok]
        for g in (8, 0, 1, 2, 3, 4, 5, 6, 7):
            at = base[groups == g]
            if at.size == 0:
                continue
            if g == 8:
                _stamp(buf, at, w, 0.6 * dot, QColor(NON_TUMOUR_COLOR), 0.9)
                continue
            color = QColor(MEMBRANE_COLORS[g % 4])
            if g >= 4:   # complete: dark rim, then the colour
                _stamp(buf, at, w, dot + 2.0, QColor(25, 25, 25), 1.0)
                _stamp(buf, at, w, dot, color, 1.0)
            else:
                _stamp(buf, at, w, 0.8 * dot, color, 0.75)
            self.last_drawn += int(at.size)
        img = QImage(buf.data, w, h, 4 * w, QImage.Format.Format_ARGB32_Premultiplied)
        painter.save()
        painter.resetTransform()
        painter.setOpacity(self.opacity)
        painter.drawImage(QPointF(screen.left() - pad, screen.top() - pad), img)
        painter.restore()


def _disk_offsets(diameter: float, row_stride: int) -> np.ndarray:
    """Flat offsets of the pixels of a disk of `diameter` px in an image `row_stride` px wide."""
    r = diameter / 2.0
    n = int(math.ceil(r))
    dy, dx = np.mgrid[-n:n + 1, -n:n + 1]
    inside = dx * dx + dy * dy <= r * r + 0.25
    return (dy[inside] * row_stride + dx[inside]).astype(np.int64)


def _stamp(buf: np.ndarray, at: np.ndarray, row_stride: int, diameter: float, color: QColor,
           alpha: float) -> None:
    """Write a disk of `color` (premultiplied ARGB) around each flat index `at` (later stamps win)."""
    a = int(round(255 * alpha))
    value = np.uint32((a << 24) | ((color.red() * a // 255) << 16) | ((color.green() * a // 255) << 8)
                      | (color.blue() * a // 255))
    for off in _disk_offsets(diameter, row_stride):
        buf[at + off] = value


class CoreScoreLayer(Layer):
    """TMA cores as circles coloured by score, each with a badge "A1 2+" (the reviewed score when there is
    one: "A1 3+ (was 2+)")."""

    MIN_BADGE_PX = 28.0

    def __init__(self, name: str, cores: list[CoreResult], *, visible: bool = True) -> None:
        super().__init__(name, visible=visible)
        self.cores = list(cores)
        self.reviewed: dict[str, str] = {}
        self.highlighted: str | None = None

    def set_reviewed(self, reviewed: dict[str, str]) -> None:
        """Reviewed scores by core id."""
        self.reviewed = dict(reviewed)
        self.sigChanged.emit()

    def set_highlighted(self, core_id: str | None) -> None:
        """Draw one core thicker (the one shown in the panels)."""
        self.highlighted = core_id
        self.sigChanged.emit()

    def badge_text(self, core: CoreResult) -> str:
        """The badge of a core."""
        rev = self.reviewed.get(core.id)
        suggested = core.score or core.score3 or "\u2014"
        if rev is None:
            return f"{core.id}  {suggested}"
        if rev == core.score:
            return f"{core.id}  {rev} \u2713"
        return f"{core.id}  {rev} (was {suggested})"

    def paint(self, painter: QPainter, l0_visible: QRectF, downsample: float) -> None:
        """Draw the cores in view and their badges at a fixed screen size."""
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setOpacity(self.opacity)
        to_screen = painter.transform()
        badges = []
        for core in self.cores:
            x, y, w, h = core.bbox
            rect = QRectF(x, y, w, h)
            if not rect.intersects(l0_visible):
                continue
            color = score_color(self.reviewed.get(core.id, core.score))
            pen = QPen(color, 4.0 if core.id == self.highlighted else 2.0)
            pen.setCosmetic(True)
            painter.setPen(pen)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawEllipse(rect)
            if w / downsample >= self.MIN_BADGE_PX:
                badges.append((to_screen.map(QPointF(x + w / 2, y)), self.badge_text(core), color))
        painter.resetTransform()
        font = QFont(painter.font())
        font.setPixelSize(13)
        font.setBold(True)
        painter.setFont(font)
        fm = painter.fontMetrics()
        for anchor, text, color in badges:
            r = QRectF(fm.boundingRect(text)).adjusted(-5, -2, 5, 2)
            r.moveCenter(QPointF(anchor.x(), anchor.y() + r.height() / 2 + 2))
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QBrush(color))
            painter.drawRoundedRect(r, 4, 4)
            painter.setPen(QColor(0, 0, 0) if color.lightness() > 140 else QColor(255, 255, 255))
            painter.drawText(r, Qt.AlignmentFlag.AlignCenter, text)
        painter.restore()


class HeatmapLayer(RasterLayer):
    """A result heatmap whose low values fade out (alpha rises with the value), so that it tints only where
    the evidence is and leaves the rest of the tissue readable."""

    ALPHA_FULL_AT = 0.5   # fraction of the value range at which a cell becomes fully opaque

    def set_values(self, values: np.ndarray, *, cell_size: float | None = None,
                   vrange: tuple[float, float] | None = None) -> None:
        """Show another grid over the same area (e.g. smoothed on finer cells, or as percentiles): a new
        `cell_size` must keep the grid's level-0 extent; `vrange` sets (vmin, vmax)."""
        values = np.asarray(values, dtype=np.float32)
        cell = self.cell_size if cell_size is None else float(cell_size)
        old_w, old_h = self.values.shape[1] * self.cell_size, self.values.shape[0] * self.cell_size
        if values.ndim != 2 or abs(values.shape[1] * cell - old_w) > 1e-6 * max(old_w, 1.0) \
                or abs(values.shape[0] * cell - old_h) > 1e-6 * max(old_h, 1.0):
            raise ValueError(f"a grid of shape {values.shape} with cells of {cell:g} px does not cover this "
                             f"heatmap's {old_w:g} x {old_h:g} px")
        self.values, self.cell_size, self._image = values, cell, None
        if vrange is not None:
            self.vmin, self.vmax = float(vrange[0]), float(vrange[1])
        self.sigChanged.emit()

    def rgba(self) -> np.ndarray:
        """The grid coloured, alpha growing with the value (transparent at vmin and where NaN)."""
        out = super().rgba()
        span = self.vmax - self.vmin or 1.0
        norm = np.clip((np.nan_to_num(self.values, nan=self.vmin) - self.vmin) / span, 0.0, 1.0)
        ramp = np.clip(norm / self.ALPHA_FULL_AT, 0.0, 1.0)
        out[..., 3] = (out[..., 3].astype(np.float32) * ramp).astype(np.uint8)
        return out


def heatmap_layer_name(heatmap_name: str) -> str:
    """The layer name of a result heatmap."""
    return f"{RESULT_PREFIX}{heatmap_name} heatmap"


def result_layers(result: ScoreResult, image_size: tuple[int, int] | None = None) -> list[Layer]:
    """The layers that show a result's evidence, bottom first; heatmaps are clipped to `image_size` (W, H)."""
    layers: list[Layer] = []
    ev = result.evidence
    for h in ev.heatmaps:
        if h.values.ndim != 2 or h.values.size == 0:
            continue
        heat = HeatmapLayer(heatmap_layer_name(h.name), h.values, l0_origin=h.l0_origin,
                            cell_size=h.l0_cell_size, colormap="inferno", vmin=h.vmin, vmax=h.vmax, opacity=0.45)
        if image_size is not None:
            heat.l0_clip = QRectF(0.0, 0.0, float(image_size[0]), float(image_size[1]))
        layers.append(heat)
    if ev.cells is not None and len(ev.cells):
        layers.append(CellLayer(CELLS, ev.cells))
    if ev.patch_boxes:
        shapes = [Shape("box", b.bbox, color=SCORE_COLORS.get(b.score, "#808080"), label=f"#{b.sample} {b.score}")
                  for b in ev.patch_boxes]
        # hundreds of boxes bury the tissue: then listed, unticked, for the user to show (the heatmap sums them)
        layers.append(VectorLayer(PATCHES, shapes, line_width=1.0 if len(shapes) > 40 else 1.5, show_labels=False,
                                  visible=len(shapes) <= MAX_SHOWN_BOXES))
    if result.cores:
        layers.append(CoreScoreLayer(CORES, result.cores))
    return layers


def install_result_layers(stack: LayerStack, result: ScoreResult | None,
                          image_size: tuple[int, int] | None = None) -> list[Layer]:
    """Replace the previous result's layers on `stack` by those of `result` (None: just remove them); heatmaps
    are clipped to the image (`image_size`, level-0 W x H)."""
    for layer in stack.layers:
        if layer.name.startswith(RESULT_PREFIX):
            stack.remove(layer)
    if result is None:
        return []
    return [stack.add(layer) for layer in result_layers(result, image_size)]
