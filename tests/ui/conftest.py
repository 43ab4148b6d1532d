"""Fixtures for the viewer tests: small synthetic slides and views with their own (isolated) caches."""

from __future__ import annotations

import os

import cv2
import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def textured_image(w: int, h: int, seed: int = 0) -> np.ndarray:
    """A smooth random RGB image (so downsampled levels are well defined) with sharp-ish structure."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (h // 16 + 1, w // 16 + 1, 3), dtype=np.uint8)
    img = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    img[::97, :] = (20, 20, 160)       # thin lines make misplacement visible
    img[:, ::89] = (160, 60, 20)
    return np.ascontiguousarray(img)


@pytest.fixture
def array_slide():
    """A 3000 x 2000 px ArraySlide at 0.5 um/px."""
    from her2viewer.slide import ArraySlide

    return ArraySlide(textured_image(3000, 2000), mpp=0.5, name="test-array")


@pytest.fixture
def make_view(qtbot):
    """Factory: a shown SlideView of `source` at `size` with isolated tile and QImage caches."""
    from her2viewer.slide.cache import TileCache
    from her2viewer.slide.tiles import TileLayer
    from her2viewer.ui.viewer.slide_view import SlideView
    from her2viewer.ui.viewer.tile_loader import QImageCache, TileLoader

    views = []

    def make(source, size=(640, 480), tile_size=256, tile_layer=None):
        tiles = tile_layer or TileLayer(source, tile_size=tile_size, cache=TileCache(64 * 2**20))
        loader = TileLoader(source, tiles, cache=QImageCache(64 * 2**20), workers=2)
        view = SlideView(source, tiles, loader=loader)
        view.smooth_zoom = False
        qtbot.addWidget(view)
        view.resize(*size)
        view.show()
        qtbot.waitExposed(view)
        views.append(view)
        return view

    yield make
    for v in views:
        v.loader.close()


def wait_complete(qtbot, view, timeout=10_000):
    """Wait until every visible tile is in and painted."""
    qtbot.waitUntil(lambda: view.is_complete() and view.loader.pending == 0, timeout=timeout)
    view.repaint()


def grab_rgb(widget) -> np.ndarray:
    """The widget's pixels as an RGB uint8 array."""
    from PySide6.QtGui import QImage

    img = widget.grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
    w, h = img.width(), img.height()
    arr = np.frombuffer(img.constBits(), np.uint8).reshape(h, img.bytesPerLine())[:, : 3 * w]
    return arr.reshape(h, w, 3).copy()
