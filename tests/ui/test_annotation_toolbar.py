"""The annotation tool bar: drawn icons on every action, the brush radius box and `[` / `]`, remembered in the
settings, and the brush tool drawing at that radius with a cursor of its size."""

from __future__ import annotations

import math

import pytest
from PySide6.QtCore import QPoint, QSettings, Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QWidgetAction

from her2viewer.slide.writer import write_pyramidal_tiff

from .conftest import textured_image


def open_window(qtbot, tmp_path):
    from her2viewer.ui.main_window import MainWindow

    win = MainWindow(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    win.annotations.project_dir = tmp_path / "proj"
    qtbot.addWidget(win)
    win.resize(1100, 700)
    win.show()
    return win


@pytest.fixture
def window(qtbot, tmp_path):
    win = open_window(qtbot, tmp_path)
    yield win
    win.close()


@pytest.fixture
def tab(qtbot, window, tmp_path):
    path = write_pyramidal_tiff(tmp_path / "slide.tif", textured_image(2400, 1600), mpp=0.5, tile_size=256)
    window.open_paths([str(path)])
    qtbot.waitUntil(lambda: window.tabs.count() == 1, timeout=10_000)
    return window.current_tab()


def opaque_pixels(icon) -> int:
    img = icon.pixmap(24, 24).toImage().convertToFormat(QImage.Format.Format_ARGB32)
    return sum(img.pixelColor(x, y).alpha() > 0 for x in range(img.width()) for y in range(img.height()))


def test_every_toolbar_action_has_a_drawn_icon_and_a_tooltip_with_its_shortcut(window):
    bar = window.annotations.toolbar
    buttons = [a for a in bar.actions() if not a.isSeparator() and not isinstance(a, QWidgetAction)]
    assert len(buttons) == 10                      # 8 tools, smaller and larger brush
    for act in buttons:
        assert not act.icon().isNull(), act.text()
        assert opaque_pixels(act.icon()) > 10, act.text()
        shortcut = act.shortcut().toString()
        assert shortcut and act.toolTip() == f"{act.text()} ({shortcut})"
    assert bar.toolButtonStyle() == Qt.ToolButtonStyle.ToolButtonIconOnly


def test_icon_names_are_checked():
    from her2viewer.ui.common.icons import render

    with pytest.raises(KeyError, match="no icon called 'nope'"):
        render("nope", 16)


def test_brush_box_and_brackets_set_the_brush_radius(qtbot, window, tab, tmp_path):
    m = window.annotations
    tools = m.tools_for(tab)
    box = m.toolbar.brush_box
    assert (box.value(), box.minimum(), box.maximum()) == (12, 2, 200) and tools.brush_px == 12
    assert "[" in box.toolTip() and "]" in box.toolTip()
    box.setValue(30)
    assert tools.brush_px == 30
    assert (m.toolbar.shrink_action.shortcut().toString(), m.toolbar.grow_action.shortcut().toString()) == ("[", "]")
    window.activateWindow()
    tab.view.setFocus()
    qtbot.waitUntil(lambda: window.isActiveWindow())
    qtbot.keyClick(tab.view, Qt.Key.Key_BracketRight)
    assert box.value() == 38 and tools.brush_px == 38
    qtbot.keyClick(tab.view, Qt.Key.Key_BracketLeft)
    qtbot.keyClick(tab.view, Qt.Key.Key_BracketLeft)
    assert box.value() == 24 and tools.brush_px == 24
    m.toolbar.set_brush_px(500)
    assert tools.brush_px == 200
    m.toolbar.set_brush_px(24)

    m.set_tool("brush")
    assert tab.view.cursor().pixmap().width() == 2 * 24 + 5          # the cursor outlines the brush
    tab.view.set_downsample(1.0)
    cx, cy = tab.view.width() // 2, tab.view.height() // 2
    qtbot.mousePress(tab.view, Qt.MouseButton.LeftButton, pos=QPoint(cx - 50, cy))
    qtbot.mouseMove(tab.view, QPoint(cx, cy))
    qtbot.mouseRelease(tab.view, Qt.MouseButton.LeftButton, pos=QPoint(cx + 50, cy))
    (stroke,) = list(m.current().aset)
    x0, y0, x1, y1 = stroke.geometry.bounds
    assert (y1 - y0) == pytest.approx(2 * 24, rel=0.02)              # the stroke is as wide as the brush
    assert (x1 - x0) == pytest.approx(100 + 2 * 24, rel=0.02)
    box.setValue(40)
    assert math.isclose(tools.brush_px, 40) and tab.view.cursor().pixmap().width() == 2 * 40 + 5

    window.close()
    again = open_window(qtbot, tmp_path)                             # the radius is remembered
    assert again.annotations.toolbar.brush_px == 40
    again.close()
