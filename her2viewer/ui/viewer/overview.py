"""The overview (minimap): the slide's thumbnail with the viewport rectangle; click or drag to move there."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from .slide_view import SlideView


class OverviewWidget(QWidget):
    """Follows one `SlideView` (or none); shows where it looks and moves it on click and drag."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.view: SlideView | None = None
        self._dragging = False
        self.setMinimumSize(120, 90)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.setCursor(Qt.CursorShape.PointingHandCursor)

    def sizeHint(self) -> QSize:
        return QSize(260, 200)

    def set_view(self, view: SlideView | None) -> None:
        """Follow another view (None: show nothing)."""
        if self.view is not None:
            for sig in (self.view.sigViewChanged, self.view.loader.sigThumbnailReady):
                try:
                    sig.disconnect(self.update)
                except (RuntimeError, TypeError):
                    pass
        self.view = view
        if view is not None:
            view.sigViewChanged.connect(self.update)
            view.loader.sigThumbnailReady.connect(self.update)
        self.update()

    # -- geometry -----------------------------------------------------------------------------------
    def slide_rect(self) -> QRectF:
        """Where the whole slide is drawn inside this widget (aspect kept, centred)."""
        if self.view is None:
            return QRectF()
        W, H = self.view.source.dimensions
        k = min((self.width() - 4) / W, (self.height() - 4) / H)
        w, h = W * k, H * k
        return QRectF((self.width() - w) / 2, (self.height() - h) / 2, w, h)

    def viewport_rect(self) -> QRectF:
        """The view's visible area in widget coordinates."""
        if self.view is None:
            return QRectF()
        s = self.slide_rect()
        k = s.width() / self.view.source.dimensions[0]
        r = self.view.l0_rect()
        return QRectF(s.left() + r.left() * k, s.top() + r.top() * k, r.width() * k, r.height() * k)

    def to_l0(self, pos: QPointF) -> tuple[float, float]:
        """The level-0 point under a widget position."""
        s = self.slide_rect()
        k = self.view.source.dimensions[0] / s.width()
        return (pos.x() - s.left()) * k, (pos.y() - s.top()) * k

    # -- painting and input -------------------------------------------------------------------------
    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(48, 48, 48))
        if self.view is not None:
            s = self.slide_rect()
            thumb = self.view.loader.thumbnail
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
            if thumb is not None:
                painter.drawImage(s, thumb)
            else:
                painter.fillRect(s, QColor(255, 255, 255))
            painter.setClipRect(self.rect())
            pen = QPen(QColor(230, 30, 30), 2)
            painter.setPen(pen)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            v = self.viewport_rect()
            if v.width() < 3 or v.height() < 3:     # tiny at high zoom: still show where
                v = QRectF(v.center() - QPointF(3, 3), v.center() + QPointF(3, 3))
            painter.drawRect(v)
        painter.end()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if self.view is not None and event.button() == Qt.MouseButton.LeftButton:
            self._dragging = True
            self.view.center_on(*self.to_l0(event.position()))

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._dragging and self.view is not None:
            self.view.center_on(*self.to_l0(event.position()))

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        self._dragging = False
