"""Value legends of the visible raster layers, drawn in the view's lower-right corner."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QImage, QPainter

from .layers import LayerStack

BAR_W, BAR_H, PAD = 160, 10, 8
MAX_TITLE_W = 300   # a longer title is elided ("...") rather than cut off at the plate's edge


def title_width(painter: QPainter, titles: list[str]) -> int:
    """The plates' inner width: the bar's, or the widest title up to MAX_TITLE_W."""
    fm = QFontMetrics(painter.font())
    return int(min(MAX_TITLE_W, max([BAR_W] + [fm.horizontalAdvance(t) + 4 for t in titles])))


def _title(painter: QPainter, text: str, width: int) -> str:
    return QFontMetrics(painter.font()).elidedText(text, Qt.TextElideMode.ElideRight, width)


def format_value(v: float) -> str:
    """A short number for a legend end."""
    return f"{v:.3g}"


def paint_legends(painter: QPainter, stack: LayerStack, view_w: int, view_h: int) -> None:
    """Draw one colour bar per visible raster layer with a legend, stacked upwards from the corner."""
    items = [la.legend() for la in stack.layers if la.visible]
    items = [it for it in items if it is not None]
    classes = [c for c in (la.categories() for la in stack.layers if la.visible) if c is not None]
    if not items and not classes:
        return
    painter.save()
    painter.resetTransform()
    font = QFont(painter.font())
    font.setPixelSize(11)
    painter.setFont(font)
    bottom = view_h - 12
    width = title_width(painter, [it[3] for it in items] + [c[0] for c in classes])
    for lut, vmin, vmax, title in items:
        plate = QRectF(view_w - width - 2 * PAD - 12, bottom - 44, width + 2 * PAD, 44)
        painter.fillRect(plate, QColor(255, 255, 255, 210))
        painter.setPen(QColor(20, 20, 20))
        painter.drawText(QRectF(plate.left() + PAD, plate.top() + 2, width, 14), Qt.AlignmentFlag.AlignLeft,
                         _title(painter, title, width))
        bar = np.ascontiguousarray(np.repeat(lut[None, :, :], 2, axis=0))
        img = QImage(bar.data, 256, 2, 3 * 256, QImage.Format.Format_RGB888)
        bar_rect = QRectF(plate.left() + PAD, plate.top() + 18, BAR_W, BAR_H)
        painter.drawImage(bar_rect, img)
        painter.drawText(QRectF(bar_rect.left(), bar_rect.bottom() + 1, BAR_W, 13),
                         Qt.AlignmentFlag.AlignLeft, format_value(vmin))
        painter.drawText(QRectF(bar_rect.left(), bar_rect.bottom() + 1, BAR_W, 13),
                         Qt.AlignmentFlag.AlignRight, format_value(vmax))
        bottom -= 50
    for title, entries in classes:
        bottom = _paint_categories(painter, title, entries, view_w, bottom, width)
    painter.restore()


def _paint_categories(painter: QPainter, title: str, entries: list[tuple[str, str]], view_w: int,
                      bottom: float, width: int = BAR_W) -> float:
    """A plate of colour swatches with labels above `bottom`; returns the plate's top (minus a gap)."""
    row = 14
    height = 18 + row * len(entries) + 4
    plate = QRectF(view_w - width - 2 * PAD - 12, bottom - height, width + 2 * PAD, height)
    painter.fillRect(plate, QColor(255, 255, 255, 215))
    painter.setPen(QColor(20, 20, 20))
    painter.drawText(QRectF(plate.left() + PAD, plate.top() + 2, width, 14), Qt.AlignmentFlag.AlignLeft,
                     _title(painter, title, width))
    for i, (color, label) in enumerate(entries):
        y = plate.top() + 18 + i * row
        painter.fillRect(QRectF(plate.left() + PAD, y + 2, 10, 10), QColor(color))
        painter.drawText(QRectF(plate.left() + PAD + 16, y, width - 16, row), Qt.AlignmentFlag.AlignLeft,
                         _title(painter, label, width - 16))
    return plate.top() - 6
