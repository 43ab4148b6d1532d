"""Simple vector icons drawn with QPainter (no icon files, no extra dependency).

Each icon is a function drawing on a 24 x 24 grid with the pen already set to the palette's text colour;
`icon(name)` renders it at the usual sizes. Names: see `ICON_NAMES`.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import (
    QColor,
    QGuiApplication,
    QIcon,
    QPainter,
    QPainterPath,
    QPalette,
    QPen,
    QPixmap,
    QPolygonF,
)

GRID = 24.0
SIZES = (16, 24, 32, 48)
Draw = Callable[[QPainter], None]
_DRAW: dict[str, Draw] = {}


def _icon(name: str) -> Callable[[Draw], Draw]:
    """Register a drawing function under `name`."""
    def register(fn: Draw) -> Draw:
        _DRAW[name] = fn
        return fn
    return register


def _poly(points: list[tuple[float, float]]) -> QPolygonF:
    return QPolygonF([QPointF(x, y) for x, y in points])


def _dot(p: QPainter, x: float, y: float, r: float) -> None:
    p.save()
    p.setBrush(p.pen().color())
    p.setPen(Qt.PenStyle.NoPen)
    p.drawEllipse(QPointF(x, y), r, r)
    p.restore()


@_icon("pan")
def _pan(p: QPainter) -> None:
    p.drawLine(QPointF(12, 3), QPointF(12, 21))
    p.drawLine(QPointF(3, 12), QPointF(21, 12))
    for head in ([(9, 6), (12, 3), (15, 6)], [(9, 18), (12, 21), (15, 18)],
                 [(6, 9), (3, 12), (6, 15)], [(18, 9), (21, 12), (18, 15)]):
        p.drawPolyline(_poly(head))


@_icon("select")
def _select(p: QPainter) -> None:
    p.setBrush(p.pen().color())
    p.drawPolygon(_poly([(6, 3), (6, 19), (10, 15), (13, 21), (15.5, 20), (12.5, 14), (18, 14)]))


@_icon("rect")
def _rect(p: QPainter) -> None:
    p.drawRect(QRectF(4, 6, 16, 12))


@_icon("ellipse")
def _ellipse(p: QPainter) -> None:
    p.drawEllipse(QRectF(3, 6, 18, 12))


@_icon("polygon")
def _polygon(p: QPainter) -> None:
    corners = [(5, 8), (13, 4), (20, 10), (16, 20), (6, 17)]
    p.drawPolygon(_poly(corners))
    for x, y in corners:
        _dot(p, x, y, 1.8)


@_icon("freehand")
def _freehand(p: QPainter) -> None:
    path = QPainterPath(QPointF(5, 14))
    path.cubicTo(QPointF(3, 5), QPointF(14, 2), QPointF(18, 7))
    path.cubicTo(QPointF(22, 12), QPointF(15, 13), QPointF(17, 17))
    path.cubicTo(QPointF(19, 22), QPointF(7, 22), QPointF(5, 14))
    p.drawPath(path)


@_icon("brush")
def _brush(p: QPainter) -> None:
    p.save()
    pen = QPen(p.pen())
    pen.setWidthF(5.0)
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    p.setPen(pen)
    path = QPainterPath(QPointF(5, 18))
    path.cubicTo(QPointF(8, 8), QPointF(14, 20), QPointF(19, 6))
    p.drawPath(path)
    p.restore()


@_icon("point")
def _point(p: QPainter) -> None:
    for x, y in ((6, 7), (17, 6), (11, 13), (6, 19), (18, 17)):
        _dot(p, x, y, 2.4)


@_icon("brush_smaller")
def _brush_smaller(p: QPainter) -> None:
    p.drawEllipse(QPointF(12, 12), 4.5, 4.5)
    p.drawLine(QPointF(10, 12), QPointF(14, 12))


@_icon("brush_larger")
def _brush_larger(p: QPainter) -> None:
    p.drawEllipse(QPointF(12, 12), 9, 9)
    p.drawLine(QPointF(8, 12), QPointF(16, 12))
    p.drawLine(QPointF(12, 8), QPointF(12, 16))


ICON_NAMES = tuple(_DRAW)


def _ink() -> QColor:
    app = QGuiApplication.instance()
    return app.palette().color(QPalette.ColorRole.WindowText) if app is not None else QColor(40, 40, 40)


def render(name: str, size: int, color: QColor | None = None) -> QPixmap:
    """One icon as a transparent square pixmap of `size` px."""
    if name not in _DRAW:
        raise KeyError(f"no icon called {name!r}; expected one of {', '.join(ICON_NAMES)}")
    pm = QPixmap(size, size)
    pm.fill(Qt.GlobalColor.transparent)
    p = QPainter(pm)
    p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    p.scale(size / GRID, size / GRID)
    pen = QPen(color or _ink(), 1.8)
    pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    p.setPen(pen)
    p.setBrush(Qt.BrushStyle.NoBrush)
    _DRAW[name](p)
    p.end()
    return pm


@cache
def icon(name: str) -> QIcon:
    """The drawn icon called `name` (see ICON_NAMES), in the palette's text colour."""
    out = QIcon()
    for size in SIZES:
        out.addPixmap(render(name, size))
    return out
