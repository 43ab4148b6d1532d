"""Overlay layers drawn above the slide, in level-0 coordinates, and the `LayerStack` views subscribe to.

A layer implements one method, `paint(painter, l0_visible, downsample)`: the painter's transform maps
level-0 pixels to the screen (use cosmetic pens; map points with `painter.transform()` for text and
markers of a fixed screen size), `l0_visible` is the visible level-0 QRectF and `downsample` is level-0
pixels per screen pixel. Two kinds exist now: `RasterLayer` (a float grid: heatmaps, masks) and
`VectorLayer` (polygons, boxes, points with colours and labels).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
from PySide6.QtCore import QObject, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QImage, QPainter, QPen, QPolygonF

COLORMAPS = {
    "viridis": cv2.COLORMAP_VIRIDIS, "inferno": cv2.COLORMAP_INFERNO, "jet": cv2.COLORMAP_JET,
    "turbo": cv2.COLORMAP_TURBO, "hot": cv2.COLORMAP_HOT, "magma": cv2.COLORMAP_MAGMA,
}


def colormap_lut(name: str) -> np.ndarray:
    """A (256, 3) uint8 RGB lookup table for a colormap name or a single colour like '#00ff00'."""
    if name in COLORMAPS:
        bgr = cv2.applyColorMap(np.arange(256, dtype=np.uint8)[:, None], COLORMAPS[name])[:, 0]
        return np.ascontiguousarray(bgr[:, ::-1])
    c = QColor(name)
    if not c.isValid():
        raise ValueError(f"unknown colormap or colour {name!r}; expected one of {sorted(COLORMAPS)} or #rrggbb")
    return np.tile(np.array([c.red(), c.green(), c.blue()], np.uint8), (256, 1))


def paint_labels(painter: QPainter, labels: Sequence[tuple[QPointF, str, QColor]], *, pixel_size: int = 13,
                 darker: int = 130) -> None:
    """Draw text badges (bold, on a translucent white box) at screen positions, each in its colour."""
    if not labels:
        return
    font = QFont(painter.font())
    font.setPixelSize(pixel_size)
    font.setBold(True)
    painter.setFont(font)
    for pos, text, color in labels:
        rect = painter.fontMetrics().boundingRect(text).adjusted(-3, -1, 3, 1)
        rect.moveTopLeft(pos.toPoint() + QPointF(3, 3).toPoint())
        painter.fillRect(rect, QColor(255, 255, 255, 200))
        painter.setPen(color.darker(darker))
        painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)


class Layer(QObject):
    """Base of overlay layers: a name, visibility and opacity; `sigChanged` asks views to repaint."""

    sigChanged = Signal()

    def __init__(self, name: str, *, visible: bool = True, opacity: float = 1.0) -> None:
        super().__init__()
        self.name = name
        self._visible = visible
        self._opacity = float(opacity)

    @property
    def visible(self) -> bool:
        return self._visible

    @visible.setter
    def visible(self, value: bool) -> None:
        if bool(value) != self._visible:
            self._visible = bool(value)
            self.sigChanged.emit()

    @property
    def opacity(self) -> float:
        return self._opacity

    @opacity.setter
    def opacity(self, value: float) -> None:
        value = min(max(float(value), 0.0), 1.0)
        if value != self._opacity:
            self._opacity = value
            self.sigChanged.emit()

    def paint(self, painter: QPainter, l0_visible: QRectF, downsample: float) -> None:
        """Draw the layer; the painter maps level-0 pixels to the screen."""
        raise NotImplementedError

    def legend(self) -> tuple[np.ndarray, float, float, str] | None:
        """(RGB lut, vmin, vmax, title) for a value legend, or None."""
        return None

    def categories(self) -> tuple[str, list[tuple[str, str]]] | None:
        """(title, [(colour, label), ...]) for a legend of classes, or None."""
        return None


class RasterLayer(Layer):
    """A float grid over the slide: cell (i, j) covers level-0 [x0 + j*cell, x0 + (j+1)*cell) x (...)."""

    def __init__(self, name: str, values: np.ndarray, *, l0_origin: tuple[float, float] = (0.0, 0.0),
                 cell_size: float = 1.0, colormap: str = "viridis", vmin: float | None = None,
                 vmax: float | None = None, threshold: float | None = None, opacity: float = 0.5,
                 visible: bool = True, units: str = "", show_legend: bool = True) -> None:
        super().__init__(name, visible=visible, opacity=opacity)
        self.show_legend = show_legend
        values = np.asarray(values, dtype=np.float32)
        if values.ndim != 2 or values.size == 0:
            raise ValueError(f"a raster layer needs a 2-D grid, got shape {values.shape}")
        self.values = values
        self.l0_origin = (float(l0_origin[0]), float(l0_origin[1]))
        self.cell_size = float(cell_size)
        finite = values[np.isfinite(values)]
        self.vmin = float(vmin if vmin is not None else (finite.min() if finite.size else 0.0))
        self.vmax = float(vmax if vmax is not None else (finite.max() if finite.size else 1.0))
        self.units = units
        self._colormap = colormap
        self._threshold = threshold
        self._image: QImage | None = None
        self.l0_clip: QRectF | None = None   # drawn only inside this level-0 rectangle (the image), if set

    @property
    def colormap(self) -> str:
        return self._colormap

    @colormap.setter
    def colormap(self, name: str) -> None:
        colormap_lut(name)
        self._colormap, self._image = name, None
        self.sigChanged.emit()

    @property
    def threshold(self) -> float | None:
        return self._threshold

    @threshold.setter
    def threshold(self, value: float | None) -> None:
        self._threshold, self._image = value, None
        self.sigChanged.emit()

    def rgba(self) -> np.ndarray:
        """The grid coloured: (H, W, 4) uint8, transparent where NaN or below the threshold."""
        v = self.values
        span = self.vmax - self.vmin or 1.0
        idx = np.clip((np.nan_to_num(v, nan=self.vmin) - self.vmin) / span * 255.0, 0, 255).astype(np.uint8)
        out = np.empty(v.shape + (4,), np.uint8)
        out[..., :3] = colormap_lut(self._colormap)[idx]
        shown = np.isfinite(v)
        if self._threshold is not None:
            shown &= v >= self._threshold
        out[..., 3] = np.where(shown, 255, 0)
        return out

    def _qimage(self) -> QImage:
        if self._image is None:
            rgba = np.ascontiguousarray(self.rgba())
            h, w = rgba.shape[:2]
            self._image = QImage(rgba.data, w, h, 4 * w, QImage.Format.Format_RGBA8888).copy()
        return self._image

    def l0_bounds(self) -> QRectF:
        """The level-0 rectangle the grid covers."""
        h, w = self.values.shape
        return QRectF(self.l0_origin[0], self.l0_origin[1], w * self.cell_size, h * self.cell_size)

    def paint(self, painter: QPainter, l0_visible: QRectF, downsample: float) -> None:
        """Draw the coloured grid, cells as crisp squares."""
        bounds = self.l0_bounds()
        if not bounds.intersects(l0_visible):
            return
        img = self._qimage()
        # Only the visible cells, so a big grid costs what the screen shows.
        vis = bounds.intersected(l0_visible)
        c0 = max(int((vis.left() - bounds.left()) / self.cell_size), 0)
        r0 = max(int((vis.top() - bounds.top()) / self.cell_size), 0)
        c1 = min(int(np.ceil((vis.right() - bounds.left()) / self.cell_size)), img.width())
        r1 = min(int(np.ceil((vis.bottom() - bounds.top()) / self.cell_size)), img.height())
        if c1 <= c0 or r1 <= r0:
            return
        src = QRectF(c0, r0, c1 - c0, r1 - r0)
        dst = QRectF(bounds.left() + c0 * self.cell_size, bounds.top() + r0 * self.cell_size,
                     (c1 - c0) * self.cell_size, (r1 - r0) * self.cell_size)
        painter.save()
        if self.l0_clip is not None:   # the image's own extent: edge cells stop at the edge
            painter.setClipRect(self.l0_clip, Qt.ClipOperation.IntersectClip)
        painter.setOpacity(self.opacity)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        painter.drawImage(dst, img, src)
        painter.restore()

    def legend(self) -> tuple[np.ndarray, float, float, str] | None:
        if not self.show_legend:
            return None
        title = f"{self.name} ({self.units})" if self.units else self.name
        return colormap_lut(self._colormap), self.vmin, self.vmax, title


@dataclass
class Shape:
    """One vector item in level-0 px: a polygon [(x, y), ...], a box (x, y, w, h) or a point (x, y)."""

    kind: str                     # "polygon" | "box" | "point"
    coords: Sequence
    color: str = "#00c000"
    label: str = ""
    fill: bool = False
    bbox: tuple[float, float, float, float] = field(init=False)

    def __post_init__(self) -> None:
        if self.kind == "box":
            x, y, w, h = (float(v) for v in self.coords)
            self.bbox = (x, y, x + w, y + h)
        elif self.kind == "point":
            x, y = (float(v) for v in self.coords)
            self.bbox = (x, y, x, y)
        elif self.kind == "polygon":
            pts = np.asarray(self.coords, dtype=np.float64).reshape(-1, 2)
            self.coords = pts
            self.bbox = (*pts.min(0), *pts.max(0))
        else:
            raise ValueError(f"unknown shape kind {self.kind!r}; expected polygon, box or point")


class VectorLayer(Layer):
    """Polygons, boxes and points with colours and labels; only shapes in view are drawn."""

    POINT_RADIUS_PX = 4.0
    MIN_LABEL_PX = 24.0

    def __init__(self, name: str, shapes: Sequence[Shape] = (), *, visible: bool = True,
                 opacity: float = 1.0, line_width: float = 2.0, show_labels: bool = True) -> None:
        super().__init__(name, visible=visible, opacity=opacity)
        self.line_width = line_width
        self.show_labels = show_labels
        self.set_shapes(shapes)

    def set_shapes(self, shapes: Sequence[Shape]) -> None:
        """Replace all shapes."""
        self.shapes = list(shapes)
        self._bboxes = np.array([s.bbox for s in self.shapes], np.float64).reshape(-1, 4)
        self.sigChanged.emit()

    def visible_shapes(self, l0_visible: QRectF) -> list[Shape]:
        """Shapes whose bounding box meets the visible rectangle."""
        if not self.shapes:
            return []
        b = self._bboxes
        hit = ((b[:, 2] >= l0_visible.left()) & (b[:, 0] <= l0_visible.right())
               & (b[:, 3] >= l0_visible.top()) & (b[:, 1] <= l0_visible.bottom()))
        return [self.shapes[i] for i in np.flatnonzero(hit)]

    @staticmethod
    def _label_anchor(shape: Shape, l0_visible: QRectF, downsample: float) -> QPointF:
        """The shape's top-left corner, moved into view when the shape is partly off screen."""
        x0, y0, x1, y1 = shape.bbox
        margin = 4 * downsample
        x = min(max(x0, l0_visible.left() + margin), max(x0, x1 - 40 * downsample))
        y = min(max(y0, l0_visible.top() + margin), max(y0, y1 - 20 * downsample))
        return QPointF(x, y)

    def paint(self, painter: QPainter, l0_visible: QRectF, downsample: float) -> None:
        """Draw the shapes in view with cosmetic pens, labels at a fixed screen size."""
        shapes = self.visible_shapes(l0_visible)
        if not shapes:
            return
        painter.save()
        painter.setOpacity(self.opacity)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        to_screen = painter.transform()
        labels: list[tuple[QPointF, str, QColor]] = []
        for s in shapes:
            color = QColor(s.color)
            pen = QPen(color, self.line_width)
            pen.setCosmetic(True)
            painter.setPen(pen)
            fill = QColor(color)
            fill.setAlphaF(0.25)
            painter.setBrush(QBrush(fill) if s.fill else Qt.BrushStyle.NoBrush)
            if s.kind == "box":
                x0, y0, x1, y1 = s.bbox
                painter.drawRect(QRectF(x0, y0, x1 - x0, y1 - y0))
                anchor, size_px = self._label_anchor(s, l0_visible, downsample), (x1 - x0) / downsample
            elif s.kind == "polygon":
                painter.drawPolygon(QPolygonF([QPointF(x, y) for x, y in s.coords]))
                anchor = self._label_anchor(s, l0_visible, downsample)
                size_px = (s.bbox[2] - s.bbox[0]) / downsample
            else:
                centre = to_screen.map(QPointF(*s.bbox[:2]))
                painter.save()
                painter.resetTransform()
                painter.setBrush(QBrush(color))
                painter.drawEllipse(centre, self.POINT_RADIUS_PX, self.POINT_RADIUS_PX)
                painter.restore()
                anchor, size_px = QPointF(*s.bbox[:2]), self.MIN_LABEL_PX
            if s.label and self.show_labels and size_px >= self.MIN_LABEL_PX:
                labels.append((to_screen.map(anchor), s.label, color))
        if labels:
            painter.resetTransform()
            paint_labels(painter, labels, pixel_size=13, darker=130)
        painter.restore()


class LayerStack(QObject):
    """The ordered overlay layers of one slide (index 0 is drawn first, i.e. at the bottom)."""

    sigChanged = Signal()          # something visible changed: repaint
    sigLayersChanged = Signal()    # layers added, removed or reordered

    def __init__(self) -> None:
        super().__init__()
        self._layers: list[Layer] = []

    @property
    def layers(self) -> list[Layer]:
        """The layers, bottom first (a copy)."""
        return list(self._layers)

    def __len__(self) -> int:
        return len(self._layers)

    def find(self, name: str) -> Layer | None:
        """The layer with this name, or None."""
        return next((la for la in self._layers if la.name == name), None)

    def add(self, layer: Layer, *, replace: bool = True) -> Layer:
        """Put a layer on top; with `replace`, a layer of the same name is replaced in place."""
        old = self.find(layer.name) if replace else None
        layer.sigChanged.connect(self.sigChanged)
        if old is not None:
            self._layers[self._layers.index(old)] = layer
            old.sigChanged.disconnect(self.sigChanged)
        else:
            self._layers.append(layer)
        self.sigLayersChanged.emit()
        self.sigChanged.emit()
        return layer

    def remove(self, layer: Layer) -> None:
        """Take a layer off the stack."""
        self._layers.remove(layer)
        layer.sigChanged.disconnect(self.sigChanged)
        self.sigLayersChanged.emit()
        self.sigChanged.emit()

    def move(self, layer: Layer, index: int) -> None:
        """Move a layer to a new position (0 = bottom)."""
        self._layers.remove(layer)
        self._layers.insert(max(0, min(index, len(self._layers))), layer)
        self.sigLayersChanged.emit()
        self.sigChanged.emit()

    def paint(self, painter: QPainter, l0_visible: QRectF, downsample: float) -> None:
        """Paint the visible layers bottom to top."""
        for layer in self._layers:
            if layer.visible and layer.opacity > 0:
                layer.paint(painter, l0_visible, downsample)
