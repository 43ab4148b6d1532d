"""Drawing and editing tools on the slide view, as an event filter (the view itself is not changed).

Tools: "pan" (the view's own navigation), "select" (click to select, Ctrl+click to add, drag to move,
drag a white handle to move a vertex), "rect", "ellipse", "polygon" (click vertices, double-click, Enter
or a click on the first vertex closes, Backspace drops the last one), "freehand" (drag an outline),
"brush" (drag a round brush of `brush_px` screen pixels; a stroke that starts inside the selected area adds to
it), "point" (a click adds a point to the current class's one multipoint annotation, a right-click removes the
point under the cursor).
Esc cancels the shape being drawn, then clears the selection. Widget pixels become level-0 pixels through
the view's viewport; tolerances are screen pixels times the downsample.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QEvent, QObject, QPointF, Qt, Signal
from PySide6.QtGui import QKeyEvent, QMouseEvent
from shapely.geometry.base import BaseGeometry

from her2viewer.annotations import editing
from her2viewer.annotations.editing import ShapeError

from .brush import BRUSH_DEFAULT_PX, brush_cursor, clamp_brush
from .layer import point_coords
from .session import POINT_KINDS, SlideAnnotations

TOOLS = ("pan", "select", "rect", "ellipse", "polygon", "freehand", "brush", "point")
TOOL_LABELS = {"pan": "Navigate", "select": "Select / move / edit", "rect": "Rectangle", "ellipse": "Ellipse",
               "polygon": "Polygon", "freehand": "Freehand", "brush": "Brush", "point": "Points"}
TOOL_SHORTCUTS = {"pan": "H", "select": "S", "rect": "R", "ellipse": "E", "polygon": "P", "freehand": "F",
                  "brush": "B", "point": "."}
DRAWING = ("rect", "ellipse", "polygon", "freehand", "brush", "point")


class AnnotationTools(QObject):
    """Turns mouse and key events on a SlideView into annotation edits of a session."""

    sigToolChanged = Signal(str)

    HIT_PX = 6.0          # click tolerance
    HANDLE_PX = 8.0       # vertex handle grab distance
    CLOSE_PX = 8.0        # a polygon click this close to the first vertex closes it
    MIN_PX = 3.0          # smallest rectangle / ellipse side

    def __init__(self, view, session: SlideAnnotations, parent: QObject | None = None) -> None:
        super().__init__(parent or view)
        self.view = view
        self.session = session
        session.view = view
        self._tool = "pan"
        self.brush_px = float(BRUSH_DEFAULT_PX)         # brush radius in screen pixels
        self._points: list[tuple[float, float]] = []   # polygon vertices / freehand / brush path
        self._start: tuple[float, float] | None = None
        self._drag: str | None = None                   # "draw" | "move" | "vertex"
        self._vertex: tuple[str, editing.VertexRef] | None = None
        self._moved = False
        self._brush_target: str | None = None
        view.installEventFilter(self)

    # -- tool state ---------------------------------------------------------------------------------
    @property
    def tool(self) -> str:
        return self._tool

    def set_tool(self, name: str) -> None:
        """Switch tools (cancels a shape being drawn)."""
        if name not in TOOLS:
            raise ValueError(f"unknown tool {name!r}; expected one of {', '.join(TOOLS)}")
        self.cancel()
        self._tool = name
        if name == "brush":
            self.view.setCursor(brush_cursor(self.brush_px))
        elif name in DRAWING:
            self.view.setCursor(Qt.CursorShape.CrossCursor)
        elif name == "select":
            self.view.setCursor(Qt.CursorShape.ArrowCursor)
        else:
            self.view.unsetCursor()
        self.sigToolChanged.emit(name)

    def set_brush_px(self, px: float) -> None:
        """Set the brush radius in screen pixels (kept within its limits); the brush cursor follows."""
        self.brush_px = float(clamp_brush(px))
        if self._tool == "brush":
            self.view.setCursor(brush_cursor(self.brush_px))

    def cancel(self) -> bool:
        """Drop the shape being drawn or the drag in progress; True if there was one."""
        layer = self.session.layer
        busy = bool(self._points or self._drag or layer.draft is not None or layer.overrides)
        self._points, self._start, self._drag, self._vertex, self._moved = [], None, None, None, False
        layer.draft, layer.draft_points, layer.draft_cursor = None, [], None
        layer.overrides = {}
        if busy:
            layer.sigChanged.emit()
        return busy

    # -- coordinates -----------------------------------------------------------------------------------
    def l0(self, pos: QPointF) -> tuple[float, float]:
        """Level-0 coordinates of a widget position."""
        return self.view.viewport.screen_to_l0(pos.x(), pos.y())

    @property
    def ds(self) -> float:
        return float(self.view.viewport.downsample)

    # -- events ----------------------------------------------------------------------------------------
    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if obj is not self.view:
            return False
        t = event.type()
        if t == QEvent.Type.KeyPress:
            return self._key(event)
        if self._tool == "pan" or not isinstance(event, QMouseEvent):
            return False
        if t == QEvent.Type.MouseButtonDblClick:
            return self._double_click(event)
        if t == QEvent.Type.MouseButtonPress:
            return self._press(event)
        if t == QEvent.Type.MouseMove:
            return self._move(event)
        if t == QEvent.Type.MouseButtonRelease:
            return self._release(event)
        return False

    def _press(self, ev: QMouseEvent) -> bool:
        if ev.button() == Qt.MouseButton.RightButton and self._tool == "point":
            return self.remove_point_at(self.l0(ev.position()))
        if ev.button() != Qt.MouseButton.LeftButton:
            return False
        p = self.l0(ev.position())
        tool = self._tool
        if tool == "select":
            return self._press_select(p, ev.modifiers())
        if tool == "point":
            self.session.add_point(p)
            return True
        if tool == "polygon":
            if len(self._points) >= 3 and math.dist(p, self._points[0]) <= self.CLOSE_PX * self.ds:
                self.finish_polygon()
            else:
                self._points.append(p)
                self._show_polygon(p)
            return True
        self._drag, self._start, self._points = "draw", p, [p]
        if tool == "brush":
            sel = self.session.selected_annotations()
            self._brush_target = (sel[0].id if len(sel) == 1 and sel[0].geometry.geom_type in ("Polygon", "MultiPolygon")
                                  and editing.hits(sel[0].geometry, p, 0.0) else None)
            self._update_draft(p)
        return True

    def _move(self, ev: QMouseEvent) -> bool:
        p = self.l0(ev.position())
        if self._tool == "polygon" and self._points:
            self._show_polygon(p)
            return False            # the view still reports the cursor position
        if self._drag is None:
            return False
        if self._drag == "draw":
            self._update_draft(p)
        elif self._drag == "move":
            self._drag_move(p)
        elif self._drag == "vertex":
            self._drag_vertex(p)
        self.view.sigCursorMoved.emit(p)
        return True

    def _release(self, ev: QMouseEvent) -> bool:
        if ev.button() != Qt.MouseButton.LeftButton or self._drag is None:
            return self._tool != "select" and self._tool in DRAWING
        p = self.l0(ev.position())
        drag, self._drag = self._drag, None
        layer = self.session.layer
        if drag == "draw":
            self._update_draft(p)
            geom, layer.draft = layer.draft, None
            points, self._points = self._points, []
            self._finish_drag_shape(geom, points)
            layer.sigChanged.emit()
        else:
            overrides, layer.overrides = layer.overrides, {}
            if self._moved and overrides:
                self.session.set_geometries(overrides, "Move" if drag == "move" else "Edit vertex")
            layer.sigChanged.emit()
        self._moved = False
        return True

    def _double_click(self, ev: QMouseEvent) -> bool:
        if self._tool == "polygon" and ev.button() == Qt.MouseButton.LeftButton:
            self._points.append(self.l0(ev.position()))   # Qt sends no press for the second click
            self.finish_polygon()
            return True
        return self._tool in DRAWING

    def _key(self, ev: QKeyEvent) -> bool:
        key = ev.key()
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self._points and self._tool == "polygon":
            self.finish_polygon()
            return True
        if key == Qt.Key.Key_Escape:
            if not self.cancel():
                self.session.clear_selection()
            return True
        if key == Qt.Key.Key_Backspace and self._tool == "polygon" and self._points:
            self._points.pop()
            self._show_polygon(self.session.layer.draft_cursor)
            return True
        if key in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace) and self.session.selected:
            self.session.delete()
            return True
        return False

    # -- drawing -----------------------------------------------------------------------------------------
    def _show_polygon(self, cursor: tuple[float, float] | None) -> None:
        layer = self.session.layer
        layer.draft_points, layer.draft_cursor = list(self._points), cursor
        layer.sigChanged.emit()

    def _update_draft(self, p: tuple[float, float]) -> None:
        tool, layer = self._tool, self.session.layer
        if tool in ("freehand", "brush") and (not self._points or self._points[-1] != p):
            self._points.append(p)
        try:
            if tool == "rect":
                layer.draft = editing.rectangle(self._start, p, self.MIN_PX * self.ds)
            elif tool == "ellipse":
                layer.draft = editing.ellipse(self._start, p, self.MIN_PX * self.ds)
            elif tool == "freehand":
                layer.draft = None
                layer.draft_points, layer.draft_cursor = list(self._points), None
            elif tool == "brush":
                layer.draft = editing.brush_stroke(self._points, self.brush_px * self.ds)
        except ShapeError:
            layer.draft = None
        layer.sigChanged.emit()

    def _finish_drag_shape(self, geom: BaseGeometry | None, points: list[tuple[float, float]]) -> None:
        layer = self.session.layer
        tool = self._tool
        try:
            if tool == "freehand":
                layer.draft_points, layer.draft_cursor = [], None
                geom = editing.freehand(points, 0.5 * self.ds, min_area=(self.MIN_PX * self.ds) ** 2)
            if geom is None:
                return
            if tool == "brush" and self._brush_target in self.session.aset:
                target = self.session.aset[self._brush_target]
                merged = editing.clip_to_slide(target.geometry.union(geom), self.session.source.dimensions)
                self.session.set_geometries({target.id: merged}, "Brush")
                return
            self._create(geom)
        except ShapeError as e:
            self.session.sigMessage.emit(f"No annotation drawn: {e}.")

    def _create(self, geom: BaseGeometry) -> None:
        try:
            self.session.add(geom)
        except ShapeError as e:
            self.session.sigMessage.emit(f"No annotation drawn: {e}.")

    def remove_point_at(self, p: tuple[float, float]) -> bool:
        """Remove the point of a points annotation nearest `p` (within the click tolerance); True if one was."""
        best: tuple[float, str, int] | None = None
        for ann in self.session.aset:
            if ann.kind not in POINT_KINDS or ann.locked:
                continue
            for index, q in enumerate(point_coords(ann.geometry)):
                d = math.dist(p, q)
                if d <= self.HIT_PX * self.ds and (best is None or d < best[0]):
                    best = (d, ann.id, index)
        if best is None:
            return False
        self.session.remove_point(best[1], best[2])
        return True

    def finish_polygon(self) -> None:
        """Close the polygon being clicked and add it."""
        points = self._points
        self._points = []
        layer = self.session.layer
        layer.draft_points, layer.draft_cursor = [], None
        layer.sigChanged.emit()
        try:
            self._create(editing.polygon(points, min_step=0.5 * self.ds, min_area=(self.MIN_PX * self.ds) ** 2))
        except ShapeError as e:
            self.session.sigMessage.emit(f"No annotation drawn: {e}.")

    # -- selecting, moving, vertex editing ----------------------------------------------------------------
    def _press_select(self, p: tuple[float, float], mods) -> bool:
        s = self.session
        sel = s.selected_annotations()
        if len(sel) == 1 and not sel[0].locked:
            ref = editing.nearest_vertex(sel[0].geometry, p, self.HANDLE_PX * self.ds)
            if ref is not None and sel[0].geometry.geom_type != "Point":
                self._drag, self._vertex, self._moved = "vertex", (sel[0].id, ref), False
                return True
        hit = editing.hit_test(s.aset, p, self.HIT_PX * self.ds)
        if hit is None:
            if not mods & Qt.KeyboardModifier.ControlModifier:
                s.clear_selection()
            return False        # the view pans
        if mods & Qt.KeyboardModifier.ControlModifier:
            s.toggle(hit.id)
            return True
        if hit.id not in s.selected:
            s.select([hit.id])
        self._drag, self._start, self._moved = "move", p, False
        return True

    def _drag_move(self, p: tuple[float, float]) -> None:
        dx, dy = p[0] - self._start[0], p[1] - self._start[1]
        self._moved = self._moved or math.hypot(dx, dy) > 0.5 * self.ds
        if not self._moved:
            return
        layer = self.session.layer
        layer.overrides = {a.id: editing.translate(a.geometry, dx, dy)
                           for a in self.session.selected_annotations() if not a.locked}
        layer.sigChanged.emit()

    def _drag_vertex(self, p: tuple[float, float]) -> None:
        ann_id, ref = self._vertex
        ann = self.session.aset.get(ann_id)
        if ann is None:
            return
        try:
            geom = editing.move_vertex(ann.geometry, ref, p)
        except ShapeError:
            return
        self._moved = True
        layer = self.session.layer
        layer.overrides = {ann_id: geom}
        layer.sigChanged.emit()
