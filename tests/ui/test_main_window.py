"""The main window: opening (tabs, recent files), errors that leave it usable, properties, overlays."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PySide6.QtCore import QSettings

from her2viewer.slide.writer import write_pyramidal_tiff

from .conftest import textured_image


def tma_image(rows: int = 2, cols: int = 3, pitch: int = 700, radius: int = 260) -> np.ndarray:
    """White glass with a grid of round, stained 'cores'."""
    h, w = rows * pitch + 200, cols * pitch + 200
    img = np.full((h, w, 3), 245, np.uint8)
    tex = textured_image(w, h, seed=3)
    tissue = (0.45 * tex + 0.55 * np.array([150, 100, 70])).astype(np.uint8)
    mask = np.zeros((h, w), np.uint8)
    for r in range(rows):
        for c in range(cols):
            cv2.circle(mask, (100 + pitch // 2 + c * pitch, 100 + pitch // 2 + r * pitch), radius, 1, -1)
    img[mask > 0] = tissue[mask > 0]
    return img


@pytest.fixture
def window(qtbot, tmp_path):
    from her2viewer.ui.main_window import MainWindow

    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    win = MainWindow(settings)
    qtbot.addWidget(win)
    win.resize(1100, 700)
    win.show()
    yield win
    win.close()


@pytest.fixture
def slide_file(tmp_path):
    return write_pyramidal_tiff(tmp_path / "slide.tif", textured_image(2400, 1600), mpp=0.5, tile_size=256)


def open_and_wait(qtbot, win, path):
    n = win.tabs.count()
    win.open_paths([str(path)])
    qtbot.waitUntil(lambda: win.tabs.count() == n + 1, timeout=10_000)
    return win.current_tab()


def test_corrupt_file_shows_an_error_and_the_window_stays_usable(qtbot, window, tmp_path, slide_file):
    bad = tmp_path / "broken.svs"
    bad.write_bytes(b"II*\x00" + b"\x00garbage" * 50)
    with qtbot.waitSignal(window.sigError, timeout=10_000) as sig:
        window.open_paths([str(bad)])
    message = sig.args[0]
    assert "broken.svs" in message and message.startswith("Cannot open")
    assert window.error_boxes and window.error_boxes[-1].text() == message
    assert window.error_boxes[-1].isVisible()
    assert window.tabs.count() == 0
    window.error_boxes[-1].accept()
    tab = open_and_wait(qtbot, window, slide_file)     # still usable afterwards
    assert tab.source.dimensions == (2400, 1600)
    missing = tmp_path / "nope.tif"
    with qtbot.waitSignal(window.sigError, timeout=10_000) as sig:
        window.open_paths([str(missing)])
    assert "nope.tif" in sig.args[0]
    assert window.tabs.count() == 1


def test_tabs_recent_files_and_status(qtbot, window, tmp_path, slide_file):
    other = write_pyramidal_tiff(tmp_path / "other.tif", textured_image(1000, 800, seed=5), tile_size=256)
    a = open_and_wait(qtbot, window, slide_file)
    b = open_and_wait(qtbot, window, other)
    assert window.tabs.count() == 2 and window.current_tab() is b
    assert window.recent_files()[:2] == [str(other.resolve()), str(slide_file.resolve())]
    assert not window.mag_actions[0].isEnabled()          # `other` has no mpp: no magnification presets
    window.tabs.setCurrentIndex(0)
    assert window.overview.view is a.view and window.layers_panel.stack is a.layers
    assert window.mag_actions[0].isEnabled()
    a.view.set_magnification(10)
    assert window.zoom_label.text() == "10x  |  level 1 (downsample 2)"   # 20x scan shown at 10x
    a.view.sigCursorMoved.emit((100.0, 50.0))
    assert window.cursor_label.text() == "x 100  y 50 px   |   x 50.0  y 25.0 \u00b5m"
    window.close_tab(1)
    assert window.tabs.count() == 1 and b.source._closed


def test_properties_dialog(qtbot, window, slide_file):
    open_and_wait(qtbot, window, slide_file)
    dlg = window.show_properties()
    qtbot.addWidget(dlg)
    summary = dlg.tabs.widget(0)
    rows = {summary.item(i, 0).text(): summary.item(i, 1).text() for i in range(summary.rowCount())}
    assert rows["Size"] == "2,400 x 1,600 px" and rows["Pixel size"].startswith("0.5")
    assert "Label and macro" in dlg.tabs.tabText(2)


def test_display_panel_changes_the_current_slide(qtbot, window, slide_file):
    tab = open_and_wait(qtbot, window, slide_file)
    window.display_panel.stain.setCurrentIndex(window.display_panel.stain.findData("dab"))
    assert tab.display.stain == "dab" and tab.view.loader.display.stain == "dab"
    window.display_panel.gamma.setValue(50)
    qtbot.waitUntil(lambda: tab.display.gamma == pytest.approx(2**0.5), timeout=3000)


def test_tissue_and_tma_overlays_are_layers(qtbot, window, tmp_path):
    path = tmp_path / "tma.tif"
    write_pyramidal_tiff(path, tma_image(), mpp=0.5, tile_size=256)
    tab = open_and_wait(qtbot, window, path)
    window.start_overlay("tissue")
    window.start_overlay("tma")
    qtbot.waitUntil(lambda: window.overlays.running == 0, timeout=30_000)
    names = [la.name for la in tab.layers.layers]
    assert names == ["Tissue mask", "Tissue outline", "TMA cores", "Annotations"]  # annotations stay on top
    cores = tab.layers.find("TMA cores")
    labels = sorted(s.label for s in cores.shapes)
    assert labels == ["A1", "A2", "A3", "B1", "B2", "B3"]
    assert window.layers_panel.list.count() == 4
    item = window.layers_panel.list.item(1)     # the top row is the annotations
    item.setCheckState(item.checkState().Unchecked)
    assert not cores.visible


def test_drop_opens_files(qtbot, window, slide_file):
    from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
    from PySide6.QtGui import QDragEnterEvent, QDropEvent

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(slide_file))])
    enter = QDragEnterEvent(window.rect().center(), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    window.dragEnterEvent(enter)
    assert enter.isAccepted()
    drop = QDropEvent(QPointF(window.rect().center()), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    window.dropEvent(drop)
    qtbot.waitUntil(lambda: window.tabs.count() == 1, timeout=10_000)
    assert window.current_tab().path == str(slide_file)


@pytest.mark.shared
@pytest.mark.parametrize("name", ["CMU-1-Small-Region.svs", "tcga-cr-7395-01a-01-ts1.svs"])
def test_real_slides_render_like_read_region(qtbot, window, shared_data, name):
    from .conftest import grab_rgb, wait_complete

    tab = open_and_wait(qtbot, window, shared_data / "wsi" / name)
    view = tab.view
    w, h = view.width(), view.height()
    view.fit_rect(700, 900, w, h)                      # 1:1 on level 0
    wait_complete(qtbot, view, timeout=30_000)
    shown = grab_rgb(view).astype(int)
    expected = tab.source.read_region(0, 700, 900, w, h).astype(int)
    diff = np.abs(shown - expected)
    diff[-60:, :260] = 0
    assert diff.mean() < 1.0
    dlg = window.show_properties()
    qtbot.addWidget(dlg)
    n_images = len(tab.source.associated_images)
    assert f"({n_images})" in dlg.tabs.tabText(2)
    if tab.source.mpp is None:
        assert "no scale" in dlg.tabs.widget(0).item(3, 1).text()


def test_command_line_hooks_run_only_on_the_slides_named_there(qtbot, window, tmp_path, slide_file):
    """The demo's --score / --overlays apply to the demo slide, not to every slide opened after it."""
    from her2viewer.ui.app import when_opened

    other = write_pyramidal_tiff(tmp_path / "other.tif", textured_image(800, 600, seed=4), mpp=0.5, tile_size=256)
    called = []
    when_opened(window, [str(slide_file)], lambda tab: called.append(tab.path))
    open_and_wait(qtbot, window, other)
    assert called == []
    open_and_wait(qtbot, window, slide_file)
    assert [str(p) for p in called] == [str(slide_file)]
    open_and_wait(qtbot, window, slide_file)                  # opened again by the user: no second run
    assert len(called) == 1


def test_help_menu_lists_shortcuts_and_about_names_the_models(qtbot, window):
    from her2viewer import __version__
    from her2viewer.ui.common.help import about_html, shortcut_rows

    rows = shortcut_rows(window)
    keys = {r[2] for r in rows}
    actions = {r[1] for r in rows}
    assert {"F1", "Alt+Right", "Ctrl+Shift+B"} <= keys
    assert "Next Case" in actions and "Keyboard Shortcuts" in actions
    assert len(keys) == len(rows)                       # no shortcut listed twice
    text = about_html()
    assert __version__ in text and "pss_default" in text and "synthetic" in text and "Research use only" in text
    menus = [a.text().replace("&", "") for a in window.menuBar().actions()]
    assert menus[-1] == "Help"


def test_each_dock_tab_group_has_one_tab_bar(qtbot, window, tmp_path):
    """Qt 6.11 left a stale second tab bar (drawn over the docks) when docks were tabified before the first show."""
    from PySide6.QtWidgets import QApplication, QTabBar

    def groups() -> list[tuple[str, ...]]:
        for _ in range(5):
            QApplication.processEvents()
        return sorted(tuple(b.tabText(i) for i in range(b.count())) for b in window.findChildren(QTabBar)
                      if b.isVisible() and b.count() and b.parent() is window
                      and b.geometry().right() > 0 and b.geometry().bottom() > 0)   # hidden groups sit off-window

    start = groups()
    assert ("Display", "Heatmap") in start and ("Scoring", "Review") in start
    assert len(start) == len(set(start))
    window.resize(1300, 800)
    assert groups() == start                          # none left behind where the window was smaller
    window.project.open_project(tmp_path / "proj", create=True)
    after = groups()
    assert ("Score", "Project") in after and len(after) == len(set(after))
