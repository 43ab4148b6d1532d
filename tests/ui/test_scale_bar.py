"""The scale bar's length matches the slide's mpp; a slide without mpp says so."""

from __future__ import annotations

import pytest

from her2viewer.ui.viewer.scale_bar import NO_SCALE, format_length, nice_length, scale_bar_for


@pytest.mark.parametrize("mpp, downsample", [(0.25, 1.0), (0.5, 3.3), (0.2527, 17.0), (1.0, 0.25), (0.5, 250.0)])
def test_bar_length_matches_mpp(mpp, downsample):
    bar = scale_bar_for(mpp, downsample, max_px=160)
    # screen px x (level-0 px per screen px) x (um per level-0 px) = the length the label claims
    assert bar.length_px * downsample * mpp == pytest.approx(bar.length_um)
    assert 160 / 2.5 - 1e-9 <= bar.length_px <= 160 + 1e-9
    assert bar.label == format_length(bar.length_um)


def test_round_lengths_and_units():
    assert nice_length(740) == 500
    assert nice_length(199) == 100
    assert nice_length(2.1) == 2
    assert format_length(500) == "500 \u00b5m"
    assert format_length(2000) == "2 mm"


def test_no_scale_without_mpp():
    bar = scale_bar_for(None, 4.0)
    assert bar.length_um is None and bar.label == NO_SCALE


def test_drawn_bar_has_the_computed_length(qtbot):
    import numpy as np
    from PySide6.QtGui import QColor, QImage, QPainter

    from her2viewer.ui.viewer.scale_bar import paint_scale_bar

    bar = scale_bar_for(0.5, 2.0)
    img = QImage(400, 100, QImage.Format.Format_RGB32)
    img.fill(QColor(0, 0, 255))
    p = QPainter(img)
    paint_scale_bar(p, bar, 10, 90)
    p.end()
    rgb = img.convertToFormat(QImage.Format.Format_RGB888)
    arr = np.frombuffer(rgb.constBits(), np.uint8).reshape(100, rgb.bytesPerLine())[:, :1200].reshape(100, 400, 3)
    dark = np.flatnonzero((arr[80] < 60).all(axis=1))      # the bar's row
    assert abs((dark.max() - dark.min() + 1) - bar.length_px) <= 1.5
