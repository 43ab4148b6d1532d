"""The annotation tool bar: a checkable action with a drawn icon per tool (also in the Annotate menu) and the
brush radius box, with `[` / `]` to shrink and grow the brush; the radius is remembered in the settings."""

from __future__ import annotations

from PySide6.QtCore import QSettings, Signal
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QMenu, QSpinBox, QToolBar, QWidget

from ..common.icons import icon
from .brush import BRUSH_DEFAULT_PX, BRUSH_MAX_PX, BRUSH_MIN_PX, brush_step, clamp_brush
from .tools import TOOL_LABELS, TOOL_SHORTCUTS, TOOLS

BRUSH_SETTING = "annotations/brush_px"


class AnnotationToolBar(QToolBar):
    """Tool buttons and the brush size; says which tool was chosen and when the brush radius changed."""

    sigToolChosen = Signal(str)
    sigBrushSizeChanged = Signal(int)

    def __init__(self, window: QWidget, menu: QMenu, settings: QSettings | None = None) -> None:
        super().__init__("Annotation tools", window)
        self.setObjectName("toolbar_annotations")
        self.settings = settings
        group = QActionGroup(self)
        self.tool_actions: dict[str, QAction] = {}
        for name in TOOLS:
            act = self._action(window, name, TOOL_LABELS[name], TOOL_SHORTCUTS[name], checkable=True)
            act.triggered.connect(lambda _=False, n=name: self.sigToolChosen.emit(n))
            group.addAction(act)
            menu.addAction(act)
            self.addAction(act)
            self.tool_actions[name] = act
        self.tool_actions["pan"].setChecked(True)
        self.addSeparator()
        menu.addSeparator()
        self.brush_box = QSpinBox()
        self.brush_box.setObjectName("brush_size")
        self.brush_box.setRange(BRUSH_MIN_PX, BRUSH_MAX_PX)
        self.brush_box.setSuffix(" px")
        self.brush_box.setKeyboardTracking(False)
        self.brush_box.setToolTip(f"Brush radius in screen pixels ({BRUSH_MIN_PX}\u2013{BRUSH_MAX_PX}); "
                                  "[ and ] make it smaller and larger")
        self.brush_box.setValue(self._saved_brush())
        self.brush_box.valueChanged.connect(self._on_brush_size)
        self.shrink_action = self._action(window, "brush_smaller", "Smaller Brush", "[")
        self.grow_action = self._action(window, "brush_larger", "Larger Brush", "]")
        self.shrink_action.triggered.connect(lambda: self.step_brush(-1))
        self.grow_action.triggered.connect(lambda: self.step_brush(1))
        self.addAction(self.shrink_action)
        self.addWidget(self.brush_box)
        self.addAction(self.grow_action)
        menu.addActions([self.shrink_action, self.grow_action])

    @staticmethod
    def _action(window: QWidget, icon_name: str, label: str, shortcut: str, checkable: bool = False) -> QAction:
        act = QAction(icon(icon_name), label, window, checkable=checkable)
        act.setShortcut(QKeySequence(shortcut))
        act.setToolTip(f"{label} ({shortcut})")
        return act

    # -- brush -------------------------------------------------------------------------------------------
    @property
    def brush_px(self) -> int:
        """The brush radius in screen pixels."""
        return self.brush_box.value()

    def set_brush_px(self, px: float) -> None:
        """Set the brush radius (kept within its limits)."""
        self.brush_box.setValue(clamp_brush(px))

    def step_brush(self, steps: int) -> None:
        """Make the brush `steps` notches larger (negative: smaller)."""
        self.set_brush_px(brush_step(self.brush_px, steps))

    def _saved_brush(self) -> int:
        if self.settings is None:
            return BRUSH_DEFAULT_PX
        try:
            return clamp_brush(float(self.settings.value(BRUSH_SETTING, BRUSH_DEFAULT_PX)))
        except (TypeError, ValueError):
            return BRUSH_DEFAULT_PX

    def _on_brush_size(self, px: int) -> None:
        if self.settings is not None:
            self.settings.setValue(BRUSH_SETTING, px)
        self.sigBrushSizeChanged.emit(px)

    # -- tools -------------------------------------------------------------------------------------------
    def check_tool(self, name: str) -> None:
        """Show `name` as the chosen tool (without emitting sigToolChosen)."""
        act = self.tool_actions.get(name)
        if act is not None and not act.isChecked():
            act.setChecked(True)
