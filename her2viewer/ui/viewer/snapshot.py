"""Snapshots: a level-0 rectangle of an open slide rendered offscreen at a chosen downsample, with the tab's
overlay layers, legends and scale bar burned in, saved as PNG or TIFF."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage

from ..common.qapp import wait_until
from .slide_tab import SlideTab
from .slide_view import SlideView

#: the largest snapshot side, in pixels (a bigger one is refused with a message)
MAX_SNAPSHOT_SIDE = 12000
SNAPSHOT_FILTER = "PNG image (*.png);;TIFF image (*.tif *.tiff)"


def snapshot_size(l0_rect: tuple[float, float, float, float], downsample: float) -> tuple[int, int]:
    """The pixel size of a snapshot of `l0_rect` at `downsample`; ValueError beyond MAX_SNAPSHOT_SIDE."""
    w = max(1, math.ceil(l0_rect[2] / downsample))
    h = max(1, math.ceil(l0_rect[3] / downsample))
    if max(w, h) > MAX_SNAPSHOT_SIDE:
        raise ValueError(f"a {w} x {h} px snapshot is larger than {MAX_SNAPSHOT_SIDE} px a side; choose a lower "
                         "magnification or a smaller area")
    return w, h


def render_snapshot(tab: SlideTab, l0_rect: tuple[float, float, float, float], downsample: float,
                    timeout_s: float = 180.0) -> QImage:
    """The rectangle at `downsample` (level-0 px per output px) with the tab's layers, legends and scale bar;
    TimeoutError when the tiles do not arrive in time."""
    w, h = snapshot_size(l0_rect, downsample)
    view = SlideView(tab.source, tab.tile_layer, layers=tab.layers)   # shares the tiles and the overlays
    try:
        view.smooth_zoom = False
        view.set_display(tab.display)
        view.setAttribute(Qt.WidgetAttribute.WA_DontShowOnScreen, True)
        view.resize(w, h)
        view.show()
        wait_until(lambda: (view.width(), view.height()) == (w, h), 5.0)
        view.fit_rect(*l0_rect)
        if not wait_until(view.is_complete, timeout_s):
            raise TimeoutError(f"the tiles of {tab.path} did not arrive within {timeout_s:.0f} s")
        view.repaint()
        return view.grab().toImage()
    finally:
        view.loader.close()
        view.hide()
        view.deleteLater()


def save_image(image: QImage, out: str | Path) -> Path:
    """Save as PNG, or TIFF for a .tif / .tiff name; OSError naming the file when it cannot be written."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() in (".tif", ".tiff"):
        import tifffile

        img = image.convertToFormat(QImage.Format.Format_RGB888)
        w, h, bpl = img.width(), img.height(), img.bytesPerLine()
        rgb = np.frombuffer(img.constBits(), np.uint8, count=bpl * h).reshape(h, bpl)[:, : 3 * w]
        tifffile.imwrite(out, rgb.reshape(h, w, 3).copy(), photometric="rgb", compression="zlib")
    elif not image.save(str(out)):
        raise OSError(f"cannot write {out}")
    return out
