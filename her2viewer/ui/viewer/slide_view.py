"""The slide view: paints the visible tiles of the pyramid level that fits the zoom, overlays, scale bar.

Tiles come from a `TileLoader` (worker threads); while a tile is missing the best coarser cached tile, and
at worst the in-memory thumbnail, is painted scaled up, so there is never a hole once the first frame is up.
Navigation: wheel zoom at the cursor (touchpad pixel deltas zoom finely, notches animate), drag to pan,
Shift+drag (or the zoom-rectangle tool) to zoom to a rectangle, arrows, +/-, 0 = fit, 1 = 1:1.
"""

from __future__ import annotations

import math
import time
from collections import deque

from PySide6.QtCore import QPointF, QRect, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import (
    QColor,
    QImage,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QTransform,
    QWheelEvent,
)
from PySide6.QtWidgets import QSizePolicy, QWidget

from her2viewer.slide.base import SlideSource

from .display import DisplaySettings
from .layers import LayerStack
from .legend import paint_legends
from .scale_bar import paint_scale_bar, scale_bar_for
from .tile_loader import TileLoader
from .viewport import (
    Viewport,
    base_magnification,
    downsample_for_magnification,
    level_for_downsample,
    wheel_zoom_factor,
)

BACKGROUND = QColor(48, 48, 48)
ZOOM_STEP = math.sqrt(2.0)
PREVIEW_LEVELS = 2          # a preview comes from this many levels coarser (typically 4x fewer pixels a side)
PREVIEW_MIN_MISSING = 4     # ... when more visible tiles than this are missing



def source_base_magnification(source: SlideSource) -> float | None:
    """The magnification of level 0 from the file's objective power or a pixel size the file or the user
    gives; an estimated or assumed pixel size makes no magnification presets (the scale bar says "est.")."""
    if getattr(source, "mpp_source", None) in ("estimated", "assumed"):
        return base_magnification(None, getattr(source, "_objective", None))
    return base_magnification(source.mpp, source.objective_power)

class SlideView(QWidget):
    """Shows one slide; emits `sigViewChanged` when it moves and `sigCursorMoved(l0 point | None)`."""

    sigViewChanged = Signal()
    sigCursorMoved = Signal(object)
    sigFrameComplete = Signal()     # a frame was painted with every visible tile at the right level

    def __init__(self, source: SlideSource, tile_layer, *, layers: LayerStack | None = None,
                 loader: TileLoader | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.source = source
        self.tiles = tile_layer
        self.layers = layers if layers is not None else LayerStack()
        self.loader = loader or TileLoader(source, tile_layer, parent=self)
        w, h = source.dimensions
        self.viewport = Viewport(w, h, max(self.width(), 1), max(self.height(), 1))
        self.viewport.fit()
        self.base_mag = source_base_magnification(source)
        self.smooth_zoom = True
        self.tool = "pan"                       # "pan" or "zoom_rect"
        self.paint_ms: deque[float] = deque(maxlen=10_000)
        self.complete_frames = 0
        self._fitted = False
        self._drag_start: QPointF | None = None
        self._drag_last: QPointF | None = None
        self._rubber: QRectF | None = None
        self._zoom_target: float | None = None
        self._zoom_anchor = QPointF()
        self._zoom_timer = QTimer(self, interval=15, timeout=self._zoom_tick)
        self._schedule_timer = QTimer(self, singleShot=True, interval=0, timeout=self._schedule)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMouseTracking(True)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent, True)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(200, 150)
        self.loader.sigTileReady.connect(self._on_tile)
        self.loader.sigThumbnailReady.connect(self.update)
        self.layers.sigChanged.connect(self.update)

    # -- state --------------------------------------------------------------------------------------
    @property
    def downsample(self) -> float:
        return self.viewport.downsample

    @property
    def level(self) -> int:
        """The pyramid level painted at the current zoom."""
        return level_for_downsample(self.source.level_downsamples, self.viewport.downsample)

    @property
    def magnification(self) -> float | None:
        """The current magnification (e.g. 20.0 for 20x), or None when the slide has no scale."""
        return None if self.base_mag is None else self.base_mag / self.viewport.downsample

    def pixel_size_changed(self) -> None:
        """The source's pixel size changed (set by the user, estimated): new magnification, new scale bar."""
        self.base_mag = source_base_magnification(self.source)
        self.sigViewChanged.emit()
        self.update()

    def l0_rect(self) -> QRectF:
        """The visible level-0 rectangle."""
        return QRectF(*self.viewport.l0_rect())

    def sizeHint(self) -> QSize:
        return QSize(1000, 700)

    def visible_tiles(self, level: int | None = None, margin_tiles: int = 0) -> list[tuple[int, int]]:
        """(col, row) of the tiles of `level` in view (plus a ring of `margin_tiles`), centre first."""
        level = self.level if level is None else level
        ds = self.source.level_downsamples[level]
        x, y, w, h = self.viewport.l0_rect()
        pad = margin_tiles * self.tiles.tile_size * ds
        W, H = self.source.dimensions
        x0, y0 = max(x - pad, 0.0), max(y - pad, 0.0)
        x1, y1 = min(x + w + pad, W), min(y + h + pad, H)
        if x1 <= x0 or y1 <= y0:
            return []
        tiles = self.tiles.tiles_for_view(level, x0, y0, x1 - x0, y1 - y0)
        cx, cy = self.viewport.l0_cx / ds / self.tiles.tile_size, self.viewport.l0_cy / ds / self.tiles.tile_size
        return sorted(tiles, key=lambda t: (t[0] + 0.5 - cx) ** 2 + (t[1] + 0.5 - cy) ** 2)

    def is_complete(self) -> bool:
        """True when the thumbnail and every visible tile of the current level are loaded."""
        if self.loader.thumbnail is None:
            return False
        level = self.level
        return all(self.loader.is_loaded(level, c, r) for c, r in self.visible_tiles(level))

    # -- navigation API -----------------------------------------------------------------------------
    def _changed(self) -> None:
        self._schedule_timer.start()
        self.update()
        self.sigViewChanged.emit()

    def fit(self) -> None:
        """Show the whole slide (and keep fitting it when the widget is resized)."""
        self._zoom_timer.stop()
        self._fitted = False
        self.viewport.fit()
        self._changed()

    def fit_rect(self, l0_x: float, l0_y: float, l0_w: float, l0_h: float) -> None:
        """Show a level-0 rectangle as large as fits."""
        self._zoom_timer.stop()
        self._fitted = True
        self.viewport.fit_rect(l0_x, l0_y, l0_w, l0_h)
        self._changed()

    def set_downsample(self, downsample: float, anchor: QPointF | None = None) -> None:
        """Zoom to a downsample (level-0 px per screen px), keeping `anchor` (default: centre) fixed."""
        self._zoom_timer.stop()
        self._fitted = True
        a = anchor or QPointF(self.viewport.view_w / 2, self.viewport.view_h / 2)
        self.viewport.set_downsample_at(downsample, a.x(), a.y())
        self._changed()

    def zoom_by(self, factor: float, anchor: QPointF | None = None) -> None:
        """Zoom in by `factor` (< 1 zooms out) about `anchor` (default: centre)."""
        self.set_downsample(self.viewport.downsample / factor, anchor)

    def one_to_one(self) -> None:
        """Show level 0 at one slide pixel per screen pixel."""
        self.set_downsample(1.0)

    def set_magnification(self, mag: float) -> bool:
        """Zoom to a magnification like 20 (x); False when the slide has neither mpp nor objective power."""
        if self.base_mag is None:
            return False
        self.set_downsample(downsample_for_magnification(mag, self.base_mag))
        return True

    def center_on(self, l0_x: float, l0_y: float) -> None:
        """Centre the view on a level-0 point."""
        self._fitted = True
        self.viewport.center_on(l0_x, l0_y)
        self._changed()

    def pan_by(self, screen_dx: float, screen_dy: float) -> None:
        """Move the image by screen pixels."""
        self._fitted = True
        self.viewport.pan(screen_dx, screen_dy)
        self._changed()

    def set_display(self, display: DisplaySettings) -> None:
        """Show tiles with new display settings (re-rendered on the workers)."""
        self.loader.set_display(display)
        self._schedule()
        self.update()

    # -- tiles --------------------------------------------------------------------------------------
    def _schedule(self) -> None:
        """Ask the loader for the view's tiles: a quick coarse preview when many are missing, the visible
        tiles centre first, then one ring around them."""
        level = self.level
        visible = [(level, c, r) for c, r in self.visible_tiles(level)]
        seen = set(visible)
        ring = [(level, c, r) for c, r in self.visible_tiles(level, margin_tiles=1) if (level, c, r) not in seen]
        preview: list[tuple[int, int, int]] = []
        coarse = min(level + PREVIEW_LEVELS, self.source.level_count - 1)
        missing = sum(not self.loader.is_loaded(*t) for t in visible)
        if coarse > level and missing > PREVIEW_MIN_MISSING:
            preview = [(coarse, c, r) for c, r in self.visible_tiles(coarse)]
        self.loader.request(preview + visible + ring)

    def _on_tile(self, level: int, col: int, row: int) -> None:
        """Repaint when a tile of the current level that is in view arrives (ring tiles do not repaint)."""
        if level != self.level:
            return
        ds = self.source.level_downsamples[level]
        ts = self.tiles.tile_size * ds
        if QRectF(col * ts, row * ts, ts, ts).intersects(self.l0_rect()):
            self.update()

    # -- painting -----------------------------------------------------------------------------------
    def resizeEvent(self, event) -> None:
        self.viewport.resize(self.width(), self.height())
        if not self._fitted:
            self.viewport.fit()
        self._changed()
        super().resizeEvent(event)

    def showEvent(self, event) -> None:
        self._schedule()
        super().showEvent(event)

    def paintEvent(self, event: QPaintEvent) -> None:
        t0 = time.perf_counter()
        painter = QPainter(self)
        complete = self.render_into(painter, event.rect())
        painter.end()
        self.paint_ms.append((time.perf_counter() - t0) * 1000.0)
        if complete:
            self.complete_frames += 1
            self.sigFrameComplete.emit()

    def render_into(self, painter: QPainter, clip: QRect | None = None) -> bool:
        """Paint the view; returns True when every visible tile of the current level was painted."""
        painter.fillRect(clip or self.rect(), BACKGROUND)
        vp = self.viewport
        d = vp.downsample
        W, H = self.source.dimensions
        sx0, sy0 = vp.l0_to_screen(0, 0)
        slide_screen = QRectF(sx0, sy0, W / d, H / d)
        painter.fillRect(slide_screen, QColor(255, 255, 255))
        level = self.level
        ds = self.source.level_downsamples[level]
        smooth = abs(ds / d - 1.0) > 1e-6
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, smooth)
        complete = self.loader.thumbnail is not None
        for col, row in self.visible_tiles(level):
            lvl_x, lvl_y, tw, th = self.tiles.tile_rect(level, col, row)
            l0 = QRectF(lvl_x * ds, lvl_y * ds, tw * ds, th * ds)
            img = self.loader.image(level, col, row)
            if img is not None:
                a = vp.l0_to_screen(l0.left(), l0.top())
                b = vp.l0_to_screen(l0.right(), l0.bottom())
                target = QRect(round(a[0]), round(a[1]), round(b[0]) - round(a[0]), round(b[1]) - round(a[1]))
                painter.drawImage(target, img, QRect(0, 0, tw, th))
            else:
                complete = complete and self.loader.is_loaded(level, col, row)
                painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
                self._paint_fallback(painter, level, l0)
                painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, smooth)
        painter.save()
        painter.setTransform(self._l0_transform())
        self.layers.paint(painter, self.l0_rect(), d)
        painter.restore()
        paint_legends(painter, self.layers, self.width(), self.height())
        bar = scale_bar_for(self.source.mpp, d, mpp_source=getattr(self.source, "mpp_source", None))
        paint_scale_bar(painter, bar, 12, self.height() - 12)
        if self._rubber is not None:
            painter.setPen(QPen(QColor(255, 200, 0), 1, Qt.PenStyle.DashLine))
            painter.setBrush(QColor(255, 200, 0, 40))
            painter.drawRect(self._rubber.normalized())
        return complete

    def _l0_transform(self) -> QTransform:
        """The painter transform from level-0 pixels to widget pixels."""
        x, y, _, _ = self.viewport.l0_rect()
        d = self.viewport.downsample
        return QTransform(1.0 / d, 0, 0, 1.0 / d, -x / d, -y / d)

    def _paint_fallback(self, painter: QPainter, level: int, l0: QRectF) -> None:
        """Fill a missing tile's area from the best coarser cached tiles, else from the thumbnail."""
        downsamples = self.source.level_downsamples
        ts = self.tiles.tile_size
        for coarse in range(level + 1, self.source.level_count):
            cds = downsamples[coarse]
            c0, r0 = int(l0.left() / cds) // ts, int(l0.top() / cds) // ts
            c1, r1 = int((l0.right() - 1) / cds) // ts, int((l0.bottom() - 1) / cds) // ts
            parts = []
            for r in range(r0, r1 + 1):
                for c in range(c0, c1 + 1):
                    img = self.loader.image(coarse, c, r)
                    if img is None:
                        break
                    parts.append((img, QRectF(c * ts * cds, r * ts * cds, img.width() * cds, img.height() * cds)))
                else:
                    continue
                break
            else:
                for img, img_l0 in parts:
                    self._draw_l0_part(painter, img, img_l0, l0)
                return
        thumb = self.loader.thumbnail
        if thumb is not None:
            W, H = self.source.dimensions
            self._draw_l0_part(painter, thumb, QRectF(0, 0, W, H), l0)

    def _draw_l0_part(self, painter: QPainter, img: QImage, img_l0: QRectF, l0_target: QRectF) -> None:
        """Draw the part of `img` (covering `img_l0` in level-0 px) that lies inside `l0_target`."""
        part = img_l0.intersected(l0_target)
        if part.isEmpty():
            return
        kx, ky = img.width() / img_l0.width(), img.height() / img_l0.height()
        src = QRectF((part.left() - img_l0.left()) * kx, (part.top() - img_l0.top()) * ky,
                     part.width() * kx, part.height() * ky)
        a = self.viewport.l0_to_screen(part.left(), part.top())
        d = self.viewport.downsample
        painter.drawImage(QRectF(a[0], a[1], part.width() / d, part.height() / d), img, src)

    # -- input --------------------------------------------------------------------------------------
    def wheelEvent(self, event: QWheelEvent) -> None:
        pixel, angle = event.pixelDelta().y(), event.angleDelta().y()
        factor = wheel_zoom_factor(angle, pixel)
        anchor = event.position()
        if pixel or not self.smooth_zoom:
            self.zoom_by(factor, anchor)
        else:
            base = self._zoom_target if self._zoom_target is not None else self.viewport.downsample
            self._zoom_target = base / factor
            self._zoom_anchor = anchor
            if not self._zoom_timer.isActive():
                self._zoom_timer.start()
        event.accept()

    def _zoom_tick(self) -> None:
        """One step of the animated wheel zoom (about 100 ms per notch)."""
        if self._zoom_target is None:
            self._zoom_timer.stop()
            return
        cur, target = math.log(self.viewport.downsample), math.log(self._zoom_target)
        step = target - cur
        done = abs(step) < 0.01
        new = target if done else cur + 0.35 * step
        a = self._zoom_anchor
        self._fitted = True
        self.viewport.set_downsample_at(math.exp(new), a.x(), a.y())
        if done or abs(self.viewport.downsample - math.exp(new)) > 1e-9 * self.viewport.downsample:
            self._zoom_target = None
            self._zoom_timer.stop()
        self._changed()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._drag_start = self._drag_last = event.position()
            rect_zoom = self.tool == "zoom_rect" or event.modifiers() & Qt.KeyboardModifier.ShiftModifier
            self._rubber = QRectF(event.position(), event.position()) if rect_zoom else None
            if not rect_zoom:
                self.setCursor(Qt.CursorShape.ClosedHandCursor)
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        pos = event.position()
        if self._rubber is not None:
            self._rubber.setBottomRight(pos)
            self.update()
        elif self._drag_last is not None:
            delta = pos - self._drag_last
            self._drag_last = pos
            self.pan_by(delta.x(), delta.y())
        self.sigCursorMoved.emit(self.viewport.screen_to_l0(pos.x(), pos.y()))
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            if self._rubber is not None:
                r = self._rubber.normalized()
                self._rubber = None
                if r.width() > 4 and r.height() > 4:
                    x0, y0 = self.viewport.screen_to_l0(r.left(), r.top())
                    x1, y1 = self.viewport.screen_to_l0(r.right(), r.bottom())
                    self.fit_rect(x0, y0, x1 - x0, y1 - y0)
                self.update()
            self._drag_start = self._drag_last = None
            self.unsetCursor()
        super().mouseReleaseEvent(event)

    def leaveEvent(self, event) -> None:
        self.sigCursorMoved.emit(None)
        super().leaveEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        step_x, step_y = self.width() / 8.0, self.height() / 8.0
        moves = {Qt.Key.Key_Left: (step_x, 0), Qt.Key.Key_Right: (-step_x, 0),
                 Qt.Key.Key_Up: (0, step_y), Qt.Key.Key_Down: (0, -step_y)}
        if key in moves:
            self.pan_by(*moves[key])
        elif key in (Qt.Key.Key_Plus, Qt.Key.Key_Equal):
            self.zoom_by(ZOOM_STEP)
        elif key in (Qt.Key.Key_Minus, Qt.Key.Key_Underscore):
            self.zoom_by(1.0 / ZOOM_STEP)
        elif key == Qt.Key.Key_0:
            self.fit()
        elif key == Qt.Key.Key_1:
            self.one_to_one()
        else:
            super().keyPressEvent(event)
            return
        event.accept()

    def closeEvent(self, event) -> None:
        self.loader.close()
        super().closeEvent(event)
