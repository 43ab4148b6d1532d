"""The slide view: zoom picks the level read, rendering matches read_region, no holes, navigation."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication

from her2viewer.slide.cache import TileCache
from her2viewer.slide.tiles import TileLayer

from .conftest import grab_rgb, wait_complete


class RecordingTiles(TileLayer):
    """A TileLayer that records which levels were decoded and can be held back with an Event."""

    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.levels_read: list[int] = []
        self.reads: list[tuple[int, int, int]] = []
        self.gate = threading.Event()
        self.gate.set()

    def get_tile(self, level, col, row):
        self.gate.wait(10)
        self.levels_read.append(level)
        self.reads.append((level, col, row))
        return super().get_tile(level, col, row)


def test_zoom_changes_the_level_read(make_view, array_slide, qtbot):
    tiles = RecordingTiles(array_slide, tile_size=256, cache=TileCache(64 * 2**20))
    view = make_view(array_slide, tile_layer=tiles)

    def check(expected_level):
        assert view.level == expected_level
        wait_complete(qtbot, view)
        # the view's level is the finest read; coarser reads are only quick previews
        assert min(tiles.levels_read) == expected_level
        read = {(lv, c, r) for lv, c, r in tiles.reads}
        assert {(expected_level, c, r) for c, r in view.visible_tiles()} <= read
        tiles.levels_read.clear()
        tiles.reads.clear()

    check(view.level)
    assert view.level > 0
    view.set_downsample(1.0)
    check(0)
    view.set_downsample(2.5)
    check(1)


@pytest.mark.parametrize("level", [0, 1])
def test_rendered_view_matches_read_region(make_view, array_slide, qtbot, level):
    view = make_view(array_slide, size=(500, 300))
    ds = array_slide.level_downsamples[level]
    l0_x, l0_y = 700, 400                        # not on a tile boundary
    view.fit_rect(l0_x, l0_y, 500 * ds, 300 * ds)
    assert view.level == level and view.downsample == pytest.approx(ds)
    wait_complete(qtbot, view)
    shown = grab_rgb(view).astype(int)
    expected = array_slide.read_region(level, l0_x, l0_y, 500, 300).astype(int)
    diff = np.abs(shown - expected)
    diff[-60:, :260] = 0                         # the scale bar's corner
    assert np.percentile(diff, 99) <= 2 and diff.mean() < 1.0


def test_missing_tiles_are_painted_from_lower_resolution(make_view, array_slide, qtbot):
    tiles = RecordingTiles(array_slide, tile_size=256, cache=TileCache(64 * 2**20))
    view = make_view(array_slide, size=(400, 300), tile_layer=tiles)
    wait_complete(qtbot, view)
    tiles.gate.clear()                           # hold the workers: nothing new arrives
    try:
        view.fit_rect(1000, 800, 400, 300)       # 1:1, level 0, no level-0 tile cached
        assert not view.is_complete()
        shown = grab_rgb(view)
    finally:
        tiles.gate.set()
    hole = (shown == (48, 48, 48)).all(axis=2)   # the background colour would show through a hole
    assert hole.sum() == 0
    expected = array_slide.read_region(0, 1000, 800, 400, 300)
    # blurrier than the real thing, but the same picture
    assert np.abs(shown.astype(int) - expected.astype(int))[:200].mean() < 40


def test_stale_requests_are_dropped(make_view, array_slide, qtbot):
    tiles = RecordingTiles(array_slide, tile_size=256, cache=TileCache(64 * 2**20))
    view = make_view(array_slide, size=(400, 300), tile_layer=tiles)
    wait_complete(qtbot, view)
    tiles.gate.clear()
    tiles.levels_read.clear()
    try:
        for x in range(0, 2600, 200):            # sweep across at 1:1 while decoding is held
            view.fit_rect(x, 0, 400, 300)
            QApplication.processEvents()
    finally:
        tiles.gate.set()
    wait_complete(qtbot, view)
    visible_at_end = len(view.visible_tiles(0, margin_tiles=1))
    # only what was in flight when we moved plus the final view and its ring: not the whole sweep
    assert len(tiles.levels_read) <= visible_at_end + 2 * view.loader._n_workers


def test_wheel_zoom_is_anchored_at_the_cursor(make_view, array_slide, qtbot):
    view = make_view(array_slide)
    pos = QPointF(500, 120)
    before = view.viewport.screen_to_l0(pos.x(), pos.y())
    ds = view.downsample
    ev = QWheelEvent(pos, view.mapToGlobal(pos), QPoint(0, 0), QPoint(0, 120), Qt.MouseButton.NoButton,
                     Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(view, ev)
    assert view.downsample == pytest.approx(ds / 2**0.5)
    assert view.viewport.screen_to_l0(pos.x(), pos.y()) == pytest.approx(before)
    ds = view.downsample
    fine = QWheelEvent(pos, view.mapToGlobal(pos), QPoint(0, 2), QPoint(0, 16), Qt.MouseButton.NoButton,
                       Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.ScrollUpdate, False)
    QApplication.sendEvent(view, fine)
    assert 0.98 * ds < view.downsample < ds        # touchpad: a fine step


def test_smooth_wheel_zoom_animates_to_the_target(make_view, array_slide, qtbot):
    view = make_view(array_slide)
    view.smooth_zoom = True
    ds = view.downsample
    pos = QPointF(320, 240)
    for _ in range(2):
        ev = QWheelEvent(pos, view.mapToGlobal(pos), QPoint(0, 0), QPoint(0, 120), Qt.MouseButton.NoButton,
                         Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
        QApplication.sendEvent(view, ev)
    qtbot.waitUntil(lambda: not view._zoom_timer.isActive(), timeout=3000)
    assert view.downsample == pytest.approx(ds / 2.0, rel=1e-3)


def test_drag_pans_and_keys_navigate(make_view, array_slide, qtbot):
    view = make_view(array_slide)
    view.set_downsample(1.0)
    cx, cy = view.viewport.l0_cx, view.viewport.l0_cy
    qtbot.mousePress(view, Qt.MouseButton.LeftButton, pos=QPoint(300, 200))
    qtbot.mouseMove(view, QPoint(250, 180))
    qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, pos=QPoint(250, 180))
    assert (view.viewport.l0_cx, view.viewport.l0_cy) == pytest.approx((cx + 50, cy + 20))
    qtbot.keyClick(view, Qt.Key.Key_Right)
    assert view.viewport.l0_cx == pytest.approx(cx + 50 + 640 / 8)
    qtbot.keyClick(view, Qt.Key.Key_Plus)
    assert view.downsample == pytest.approx(2**-0.5)
    qtbot.keyClick(view, Qt.Key.Key_0)
    assert view.downsample == pytest.approx(view.viewport.fit_downsample())
    qtbot.keyClick(view, Qt.Key.Key_1)
    assert view.downsample == 1.0
    assert view.set_magnification(5.0) and view.magnification == pytest.approx(5.0)


def test_shift_drag_zooms_to_the_rectangle(make_view, array_slide, qtbot):
    view = make_view(array_slide)
    a, b = QPoint(100, 100), QPoint(260, 220)
    l0_a, l0_b = view.viewport.screen_to_l0(a.x(), a.y()), view.viewport.screen_to_l0(b.x(), b.y())
    qtbot.mousePress(view, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ShiftModifier, a)
    qtbot.mouseMove(view, b)
    qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ShiftModifier, b)
    r = view.l0_rect()
    assert r.left() <= l0_a[0] + 1 and r.top() <= l0_a[1] + 1
    assert r.right() >= l0_b[0] - 1 and r.bottom() >= l0_b[1] - 1
    assert r.width() == pytest.approx(l0_b[0] - l0_a[0], rel=0.02)     # same aspect as the view
    assert r.height() == pytest.approx(l0_b[1] - l0_a[1], rel=0.02)


def test_pan_and_overview_stay_in_sync(make_view, array_slide, qtbot):
    from her2viewer.ui.viewer.overview import OverviewWidget

    view = make_view(array_slide)
    overview = OverviewWidget()
    qtbot.addWidget(overview)
    overview.resize(300, 200)
    overview.show()
    overview.set_view(view)
    view.set_downsample(1.0)
    view.pan_by(-200, -100)

    def check():
        s = overview.slide_rect()
        k = s.width() / array_slide.dimensions[0]
        r, v = view.l0_rect(), overview.viewport_rect()
        assert v.left() == pytest.approx(s.left() + r.left() * k)
        assert v.top() == pytest.approx(s.top() + r.top() * k)
        assert v.width() == pytest.approx(r.width() * k)

    check()
    s = overview.slide_rect()
    click = QPoint(round(s.left() + s.width() * 0.75), round(s.top() + s.height() * 0.25))
    qtbot.mouseClick(overview, Qt.MouseButton.LeftButton, pos=click)
    l0 = overview.to_l0(QPointF(click))
    assert (view.viewport.l0_cx, view.viewport.l0_cy) == pytest.approx(l0)
    assert l0[0] == pytest.approx(0.75 * 3000, abs=15) and l0[1] == pytest.approx(0.25 * 2000, abs=15)
    check()
    qtbot.mousePress(overview, Qt.MouseButton.LeftButton, pos=click)
    qtbot.mouseMove(overview, click + QPoint(-30, 20))
    qtbot.mouseRelease(overview, Qt.MouseButton.LeftButton, pos=click + QPoint(-30, 20))
    assert (view.viewport.l0_cx, view.viewport.l0_cy) == pytest.approx(overview.to_l0(QPointF(click + QPoint(-30, 20))))
    check()


def test_display_settings_rerender_tiles(make_view, array_slide, qtbot):
    from her2viewer.ui.viewer.display import DisplaySettings

    view = make_view(array_slide, size=(300, 200))
    view.fit_rect(0, 0, 300, 200)
    wait_complete(qtbot, view)
    before = grab_rgb(view)[:100].astype(int)
    view.set_display(DisplaySettings(brightness=0.3))
    qtbot.waitUntil(lambda: view.is_complete() and view.loader.thumbnail_display_key == view.loader.display.key(),
                    timeout=10_000)
    after = grab_rgb(view)[:100].astype(int)
    assert (after - before).mean() > 40
