"""The brush's size: its limits, the `[` / `]` steps and the round cursor that shows it on the slide."""

from __future__ import annotations

import math

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor, QCursor, QPainter, QPen, QPixmap

BRUSH_MIN_PX, BRUSH_MAX_PX, BRUSH_DEFAULT_PX = 2, 200, 12   # brush radius, screen pixels
STEP = 1.25                                                # one `[` / `]` press


def clamp_brush(px: float) -> int:
    """A brush radius rounded and kept within the limits."""
    return int(min(BRUSH_MAX_PX, max(BRUSH_MIN_PX, round(px))))


def brush_step(px: int, steps: int) -> int:
    """The radius `steps` notches larger (negative: smaller): 25% a notch, at least 1 px, within the limits."""
    for _ in range(abs(steps)):
        px = max(px + 1, round(px * STEP)) if steps > 0 else min(px - 1, round(px / STEP))
    return clamp_brush(px)


def brush_cursor(radius_px: float) -> QCursor:
    """A cursor outlining the brush: a circle of the radius (dark line, light halo) with a centre dot."""
    r = max(1.0, float(radius_px))
    size = 2 * math.ceil(r) + 5
    pm = QPixmap(size, size)
    pm.fill(Qt.GlobalColor.transparent)
    p = QPainter(pm)
    p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    centre = QPointF(size / 2, size / 2)
    for color, width in ((QColor(255, 255, 255, 200), 3.0), (QColor(20, 20, 20), 1.2)):
        p.setPen(QPen(color, width))
        p.drawEllipse(centre, r, r)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(QColor(20, 20, 20))
    p.drawEllipse(centre, 1.2, 1.2)
    p.end()
    return QCursor(pm, size // 2, size // 2)
