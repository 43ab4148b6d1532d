"""Case-list thumbnails made in the background and kept in the project folder (never beside the slide)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal
from PySide6.QtGui import QImage

log = logging.getLogger(__name__)

THUMB_PX = 96


def make_thumbnail(slide_path: str, cache_file: Path, size: int = THUMB_PX) -> QImage | None:
    """The slide's thumbnail (longer side `size`), read from `cache_file` or made and saved there; None if the
    slide cannot be read."""
    if cache_file.is_file():
        img = QImage(str(cache_file))
        if not img.isNull():
            return img
    from her2viewer.slide import open_slide

    try:
        with open_slide(slide_path) as source:
            rgb = np.ascontiguousarray(source.thumbnail(size)[..., :3])
    except Exception as e:  # noqa: BLE001 - a bad slide only loses its thumbnail (its row shows the error)
        log.debug("no thumbnail for %s: %s", slide_path, e)
        return None
    h, w = rgb.shape[:2]
    img = QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        img.save(str(cache_file), "PNG")
    except OSError as e:
        log.debug("cannot keep the thumbnail %s: %s", cache_file, e)
    return img


class _Job(QRunnable):
    def __init__(self, loader: ThumbnailLoader, slide_id: str, path: str, cache_file: Path) -> None:
        super().__init__()
        self.loader, self.slide_id, self.path, self.cache_file = loader, slide_id, path, cache_file

    def run(self) -> None:
        img = make_thumbnail(self.path, self.cache_file)
        if img is not None and not self.loader.closed:
            self.loader.sigReady.emit(self.slide_id, img)


class ThumbnailLoader(QObject):
    """Makes thumbnails on one background thread; `sigReady(slide_id, QImage)` delivers each."""

    sigReady = Signal(str, QImage)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(1)
        self.requested: set[str] = set()
        self.closed = False

    def request(self, slide_id: str, path: str, folder: Path) -> None:
        """Make the thumbnail of a slide (once per slide id), kept in `folder`."""
        if slide_id in self.requested or self.closed:
            return
        self.requested.add(slide_id)
        self.pool.start(_Job(self, slide_id, path, folder / f"{slide_id}.png"))

    def close(self) -> None:
        """Drop queued work and wait for the running thumbnail."""
        self.closed = True
        self.pool.clear()
        self.pool.waitForDone(5000)
