"""The view transform maths: anchors stay put when zooming, fit shows everything, levels follow zoom."""

from __future__ import annotations

import pytest

from her2viewer.ui.viewer.viewport import (
    Viewport,
    base_magnification,
    level_for_downsample,
    wheel_zoom_factor,
)


def test_zoom_keeps_the_point_under_the_cursor():
    vp = Viewport(100_000, 80_000, 1600, 1000)
    vp.fit()
    before = vp.screen_to_l0(1200, 300)
    vp.zoom_at(3.0, 1200, 300)
    assert vp.screen_to_l0(1200, 300) == pytest.approx(before, abs=1e-6)
    assert vp.downsample == pytest.approx(vp.fit_downsample() / 3.0)


def test_fit_shows_the_whole_slide_and_clamps():
    vp = Viewport(4000, 1000, 800, 600)
    vp.fit()
    x, y, w, h = vp.l0_rect()
    assert x <= 0 and y <= 0 and x + w >= 4000 and y + h >= 1000
    vp.zoom_at(0.001, 400, 300)          # zoom out far: limited to twice the fit
    assert vp.downsample == pytest.approx(2 * vp.fit_downsample())
    vp.pan(-1e9, -1e9)                   # pan far away: the centre stays on the slide
    assert (vp.l0_cx, vp.l0_cy) == (4000, 1000)


def test_screen_and_l0_round_trip():
    vp = Viewport(5000, 5000, 640, 480, l0_cx=1234.5, l0_cy=777.0, downsample=3.7)
    assert vp.l0_to_screen(*vp.screen_to_l0(17, 401)) == pytest.approx((17, 401))


def test_level_follows_downsample():
    ds = (1.0, 4.0, 16.0, 64.0)
    assert level_for_downsample(ds, 0.5) == 0
    assert level_for_downsample(ds, 3.99) == 0
    assert level_for_downsample(ds, 4.0) == 1
    assert level_for_downsample(ds, 30.0) == 2
    assert level_for_downsample(ds, 1000.0) == 3


def test_magnification_and_wheel_steps():
    assert base_magnification(0.25, None) == pytest.approx(40.0)
    assert base_magnification(0.5, 20.0) == 20.0
    assert base_magnification(None, None) is None
    assert wheel_zoom_factor(120) == pytest.approx(2**0.5)
    assert wheel_zoom_factor(-120) == pytest.approx(2**-0.5)
    fine = wheel_zoom_factor(0, pixel_dy=3)            # touchpad: a small, smooth step
    assert 1.0 < fine < 1.01
