"""The annotation overlay: paints a slide's annotations in level-0 coordinates with their class colours,
the selection highlighted, vertex handles while editing, and the shape being drawn.

The layer reads an annotation session (a `SlideAnnotations`: its set, selection and class colours, seen
through the `AnnotationSource` protocol so the layer does not import the session that owns it) and the
drawing state the tools put on it (`draft`, `draft_points`, `overrides`); it never edits anything.
"""

from __future__ import annotations

from typing import Protocol

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QPainter, QPainterPath, QPen, QPolygonF
from shapely.geometry import LineString, MultiLineString, MultiPoint, MultiPolygon, Point, Polygon
from shapely.geometry.base import BaseGeometry

from her2viewer.annotations.editing import vertices
from her2viewer.annotations.model import AnnotationSet

from ..viewer.layers import Layer, paint_labels

LAYER_NAME = "Annotations"
DRAFT_COLOR = QColor(255, 255, 0)
HALO_COLOR = QColor(255, 255, 255, 220)
MAX_HANDLES = 2000


class AnnotationSource(Protocol):
    """What the layer reads of a slide's annotation session: the set and the selected ids."""

    aset: AnnotationSet
    selected: list[str]


def geometry_path(geom: BaseGeometry) -> QPainterPath:
    """A QPainterPath of a polygonal or linear geometry in level-0 px (holes cut out with the odd-even rule)."""
    path = QPainterPath()
    path.setFillRule(Qt.FillRule.OddEvenFill)

    def ring(coords) -> None:
        path.addPolygon(QPolygonF([QPointF(x, y) for x, y, *_ in coords]))
        path.closeSubpath()

    def line(coords) -> None:
        pts = list(coords)
        if pts:
            path.moveTo(pts[0][0], pts[0][1])
            for x, y, *_ in pts[1:]:
                path.lineTo(x, y)

    parts = getattr(geom, "geoms", None)
    for g in (parts if parts is not None else [geom]):
        if isinstance(g, Polygon):
            ring(g.exterior.coords)
            for hole in g.interiors:
                ring(hole.coords)
        elif isinstance(g, LineString):
            line(g.coords)
        elif isinstance(g, (MultiPolygon, MultiLineString)):
            path.addPath(geometry_path(g))
    return path


def point_coords(geom: BaseGeometry) -> list[tuple[float, float]]:
    """The points of a Point / MultiPoint geometry (empty for others)."""
    if isinstance(geom, Point):
        return [(geom.x, geom.y)]
    if isinstance(geom, MultiPoint):
        return [(p.x, p.y) for p in geom.geoms]
    return []


class AnnotationLayer(Layer):
    """Draws the annotations of one slide; `sigChanged` fires when they, the selection or the draft change."""

    LINE_PX = 2.0
    POINT_RADIUS_PX = 5.0
    HANDLE_PX = 7.0
    FILL_ALPHA = 45
    SELECTED_FILL_ALPHA = 80

    def __init__(self, session: AnnotationSource) -> None:
        super().__init__(LAYER_NAME)
        self.session = session
        self.draft: BaseGeometry | None = None          # shape being drawn (level-0)
        self.draft_points: list[tuple[float, float]] = []  # polygon being clicked (open polyline)
        self.draft_cursor: tuple[float, float] | None = None
        self.overrides: dict[str, BaseGeometry] = {}    # annotations shown moved/edited during a drag
        self.show_handles = True
        self._paths: dict[str, tuple[BaseGeometry, QPainterPath]] = {}

    def _path(self, ann_id: str, geom: BaseGeometry) -> QPainterPath:
        cached = self._paths.get(ann_id)
        if cached is not None and cached[0] is geom:
            return cached[1]
        path = geometry_path(geom)
        self._paths[ann_id] = (geom, path)
        return path

    def forget(self, ids) -> None:
        """Drop cached paths (of removed annotations)."""
        for i in ids:
            self._paths.pop(i, None)

    # -- painting -----------------------------------------------------------------------------------
    def paint(self, painter: QPainter, l0_visible: QRectF, downsample: float) -> None:
        """Draw the annotations in view, then the selection and the draft on top."""
        s = self.session
        selected = set(s.selected)
        vx0, vy0, vx1, vy1 = l0_visible.left(), l0_visible.top(), l0_visible.right(), l0_visible.bottom()
        pad = 8 * downsample
        painter.save()
        painter.setOpacity(self.opacity)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        to_screen = painter.transform()
        points: list[tuple[QPointF, QColor, bool]] = []
        labels: list[tuple[QPointF, str, QColor]] = []
        on_top = []
        for ann in s.aset:
            geom = self.overrides.get(ann.id, ann.geometry)
            x0, y0, x1, y1 = geom.bounds
            if x1 < vx0 - pad or x0 > vx1 + pad or y1 < vy0 - pad or y0 > vy1 + pad:
                continue
            color = QColor(*s.aset.color_of(ann))
            if ann.id in selected:
                on_top.append((ann, geom, color))
                continue
            self._paint_one(painter, ann.id, geom, color, False, to_screen, points)
            if ann.name and (x1 - x0) / downsample >= 30:
                labels.append((to_screen.map(QPointF(x0, y0)), ann.name, color))
        for ann, geom, color in on_top:
            self._paint_one(painter, ann.id, geom, color, True, to_screen, points)
            x0, y0, _, _ = geom.bounds
            if ann.name:
                labels.append((to_screen.map(QPointF(x0, y0)), ann.name, color))
        painter.resetTransform()
        for centre, color, sel in points:
            painter.setPen(QPen(QColor(255, 255, 0) if sel else QColor(255, 255, 255), 2.0 if sel else 1.5))
            painter.setBrush(QBrush(color))
            r = self.POINT_RADIUS_PX + (1.5 if sel else 0.0)
            painter.drawEllipse(centre, r, r)
        if self.show_handles and len(on_top) == 1:
            self._paint_handles(painter, on_top[0][1], to_screen)
        self._paint_labels(painter, labels)
        painter.setTransform(to_screen)
        self._paint_draft(painter, to_screen)
        painter.restore()

    def _paint_one(self, painter: QPainter, ann_id: str, geom: BaseGeometry, color: QColor, selected: bool,
                   to_screen, points: list) -> None:
        pts = point_coords(geom)
        if pts:
            points.extend((to_screen.map(QPointF(x, y)), color, selected) for x, y in pts)
            return
        path = self._path(ann_id, geom) if geom is not None else QPainterPath()
        areal = geom.geom_type in ("Polygon", "MultiPolygon")
        if selected:
            halo = QPen(HALO_COLOR, self.LINE_PX + 3.0)
            halo.setCosmetic(True)
            painter.setPen(halo)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawPath(path)
        pen = QPen(color, self.LINE_PX + (0.5 if selected else 0.0))
        pen.setCosmetic(True)
        painter.setPen(pen)
        fill = QColor(color)
        fill.setAlpha(self.SELECTED_FILL_ALPHA if selected else self.FILL_ALPHA)
        painter.setBrush(QBrush(fill) if areal else Qt.BrushStyle.NoBrush)
        painter.drawPath(path)

    def _paint_handles(self, painter: QPainter, geom: BaseGeometry, to_screen) -> None:
        verts = vertices(geom)
        if not verts or len(verts) > MAX_HANDLES or geom.geom_type == "Point":
            return
        h = self.HANDLE_PX
        painter.setPen(QPen(QColor(40, 40, 40), 1.0))
        painter.setBrush(QBrush(QColor(255, 255, 255)))
        for _, (x, y) in verts:
            c = to_screen.map(QPointF(x, y))
            painter.drawRect(QRectF(c.x() - h / 2, c.y() - h / 2, h, h))

    @staticmethod
    def _paint_labels(painter: QPainter, labels: list[tuple[QPointF, str, QColor]]) -> None:
        paint_labels(painter, labels, pixel_size=12, darker=140)

    def _paint_draft(self, painter: QPainter, to_screen) -> None:
        pen = QPen(DRAFT_COLOR, 2.0, Qt.PenStyle.DashLine)
        pen.setCosmetic(True)
        if self.draft is not None and not self.draft.is_empty:
            painter.setPen(pen)
            fill = QColor(DRAFT_COLOR)
            fill.setAlpha(50)
            painter.setBrush(QBrush(fill))
            painter.drawPath(geometry_path(self.draft))
        if self.draft_points:
            pts = [QPointF(x, y) for x, y in self.draft_points]
            if self.draft_cursor is not None:
                pts.append(QPointF(*self.draft_cursor))
            painter.setPen(pen)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawPolyline(QPolygonF(pts))
            painter.resetTransform()
            painter.setPen(QPen(QColor(40, 40, 40), 1.0))
            painter.setBrush(QBrush(DRAFT_COLOR))
            for x, y in self.draft_points:
                painter.drawEllipse(to_screen.map(QPointF(x, y)), 3.5, 3.5)
            painter.setTransform(to_screen)
