"""Tiles for the slide view, decoded and display-adjusted on worker threads, handed over as QImages.

The view asks for the tiles it needs in priority order with `request(...)`; each call replaces the queue,
so requests for places the view has left are dropped before they are decoded. Workers decode through the
slide's `TileLayer` (and its byte-bounded `TileCache`), apply the `DisplaySettings`, convert to a QImage
once, and hand it to the main thread with a queued signal; the main thread keeps a small byte-bounded
QImage cache keyed like the tile cache plus the display settings.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections import OrderedDict, deque
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import cv2
import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage

from her2viewer.slide.base import SlideSource

from ..common.inbox import Inbox
from .display import DisplaySettings, apply_display

log = logging.getLogger(__name__)

TileKey = tuple  # (uid, level, col, row, display_key)
THUMBNAIL_SIZE = 1024
#: nice value added to tile workers so that the UI thread wins the CPU when the machine is busy
WORKER_NICE = 5


def rgb_to_qimage(rgb: np.ndarray) -> QImage:
    """An RGB32 QImage (the fastest format to paint) holding a copy of an RGB uint8 array.

    The QImage owns its memory (no Python buffer is lent to Qt), so it may be made on any thread and
    outlive the array.
    """
    h, w = rgb.shape[:2]
    img = QImage(w, h, QImage.Format.Format_RGB32)
    dst = np.frombuffer(img.bits(), np.uint8).reshape(h, img.bytesPerLine())[:, : 4 * w].reshape(h, w, 4)
    cv2.cvtColor(np.ascontiguousarray(rgb, dtype=np.uint8), cv2.COLOR_RGB2BGRA, dst=dst)
    return img


def lower_thread_priority(nice: int = WORKER_NICE) -> None:
    """Make the calling worker thread yield the CPU to the UI thread under load (Linux; no-op elsewhere)."""
    if not hasattr(os, "setpriority") or not sys.platform.startswith("linux"):
        return
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)   # per-thread on Linux
    except OSError as exc:
        log.debug("cannot lower the tile worker's priority: %s", exc)


class QImageCache:
    """A byte-bounded LRU of QImages, used from the main thread only."""

    def __init__(self, max_bytes: int = 160 * 2**20) -> None:
        self.max_bytes = int(max_bytes)
        self.nbytes = 0
        self._items: OrderedDict[Any, QImage] = OrderedDict()

    def get(self, key: Any) -> QImage | None:
        """The image for `key` (marking it recently used), or None."""
        img = self._items.get(key)
        if img is not None:
            self._items.move_to_end(key)
        return img

    def __contains__(self, key: Any) -> bool:
        return key in self._items

    def put(self, key: Any, img: QImage) -> None:
        """Store an image, evicting the least recently used ones beyond the byte budget."""
        old = self._items.pop(key, None)
        if old is not None:
            self.nbytes -= old.sizeInBytes()
        self._items[key] = img
        self.nbytes += img.sizeInBytes()
        while self.nbytes > self.max_bytes and len(self._items) > 1:
            _, dropped = self._items.popitem(last=False)
            self.nbytes -= dropped.sizeInBytes()

    def drop(self, uid: str) -> None:
        """Forget the images of one slide (keys whose first element is its `uid`)."""
        for key in [k for k in self._items if k[0] == uid]:
            self.nbytes -= self._items.pop(key).sizeInBytes()

    def clear(self) -> None:
        """Forget every image."""
        self._items.clear()
        self.nbytes = 0

    def __len__(self) -> int:
        return len(self._items)


_default_qimage_cache: QImageCache | None = None


def default_qimage_cache() -> QImageCache:
    """The process-wide QImage cache shared by all open slides."""
    global _default_qimage_cache
    if _default_qimage_cache is None:
        _default_qimage_cache = QImageCache()
    return _default_qimage_cache


class TileLoader(QObject):
    """Loads a slide's tiles and thumbnail off the main thread; see the module docstring."""

    sigTileReady = Signal(int, int, int)     # level, col, row of a tile now in the QImage cache
    sigThumbnailReady = Signal()

    def __init__(self, source: SlideSource, tile_layer: Any, *, cache: QImageCache | None = None,
                 workers: int | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.source = source
        self.tiles = tile_layer
        self.cache = cache if cache is not None else default_qimage_cache()
        self.display = DisplaySettings()
        self.thumbnail: QImage | None = None
        self.thumbnail_display_key: tuple | None = None
        self.failed: set[TileKey] = set()
        self._n_workers = workers or max(2, min(4, os.cpu_count() or 2))
        self._pool = ThreadPoolExecutor(self._n_workers, thread_name_prefix="tiles",
                                        initializer=lower_thread_priority)
        self._lock = threading.Lock()
        self._queue: deque[tuple[TileKey, DisplaySettings]] = deque()
        self._in_flight: set[TileKey] = set()
        self._drainers = 0
        self._generation = 0
        self._closed = False
        self._thumb_raw: np.ndarray | None = None
        self._inbox = Inbox(self._on_delivered, self)
        self._load_thumbnail()

    # -- keys ---------------------------------------------------------------------------------------
    def key(self, level: int, col: int, row: int, display: DisplaySettings | None = None) -> TileKey:
        """The cache key of a tile under the given (default: current) display settings."""
        return (self.source.uid, level, col, row, (display or self.display).key())

    def image(self, level: int, col: int, row: int) -> QImage | None:
        """The tile as displayed now, if it is cached; never decodes."""
        return self.cache.get(self.key(level, col, row))

    def is_loaded(self, level: int, col: int, row: int) -> bool:
        """True when the tile is cached (or failed to load, so nothing more will come)."""
        k = self.key(level, col, row)
        return k in self.cache or k in self.failed

    @property
    def pending(self) -> int:
        """Tiles queued or being decoded."""
        with self._lock:
            return len(self._queue) + len(self._in_flight)

    # -- requests -----------------------------------------------------------------------------------
    def request(self, tiles: list[tuple[int, int, int]]) -> None:
        """Replace the queue with these (level, col, row) tiles, most wanted first; cached ones are skipped."""
        if self._closed:
            return
        display = self.display
        jobs = []
        for level, col, row in tiles:
            k = self.key(level, col, row, display)
            if k in self.cache or k in self.failed:
                continue
            jobs.append((k, display))
        with self._lock:
            self._generation += 1
            self._queue = deque(j for j in jobs if j[0] not in self._in_flight)
            self._start_drainers()

    def set_display(self, display: DisplaySettings) -> None:
        """Show tiles with new display settings (tiles already cached under them are reused)."""
        if display.key() == self.display.key():
            return
        self.display = display
        self.failed.clear()
        if self._thumb_raw is not None:
            raw = self._thumb_raw
            self._submit(lambda: self._deliver_thumbnail(raw, display))

    def _start_drainers(self) -> None:
        while self._drainers < self._n_workers and self._drainers < len(self._queue):
            self._drainers += 1
            self._pool.submit(self._drain)

    def _submit(self, fn) -> None:
        if not self._closed:
            self._pool.submit(fn)

    # -- worker side --------------------------------------------------------------------------------
    def _drain(self) -> None:
        """Worker loop: decode queued tiles until the queue is empty."""
        while True:
            with self._lock:
                if self._closed or not self._queue:
                    self._drainers -= 1
                    return
                key, display = self._queue.popleft()
                self._in_flight.add(key)
                generation = self._generation
            img = None
            try:
                _, level, col, row, _ = key
                rgb = self.tiles.get_tile(level, col, row)
                img = rgb_to_qimage(apply_display(rgb, display))
            except Exception as exc:  # a bad tile must not kill the worker; the view paints a fallback
                log.warning("cannot load tile %s of %s: %s", key[1:4], self.source.path, exc)
            if not self._closed:
                self._inbox.post((key, img, generation))

    def _load_thumbnail(self) -> None:
        display = self.display

        def work() -> None:
            try:
                raw = self.source.thumbnail(THUMBNAIL_SIZE)
            except Exception as exc:
                log.warning("cannot read the thumbnail of %s: %s", self.source.path, exc)
                raw = np.full((8, 8, 3), 255, np.uint8)
            self._thumb_raw = raw
            self._deliver_thumbnail(raw, display)

        self._submit(work)

    def _deliver_thumbnail(self, raw: np.ndarray, display: DisplaySettings) -> None:
        img = rgb_to_qimage(apply_display(raw, display))
        if not self._closed:
            self._inbox.post((("thumbnail", display.key()), img, -1))

    # -- main-thread side ---------------------------------------------------------------------------
    def _on_delivered(self, item: tuple[Any, QImage | None, int]) -> None:
        key, img, _generation = item
        if self._closed:
            return
        if key[0] == "thumbnail":
            if key[1] == self.display.key() or self.thumbnail is None:
                self.thumbnail = img
                self.thumbnail_display_key = key[1]
                self.sigThumbnailReady.emit()
            return
        with self._lock:
            self._in_flight.discard(key)
        if img is None:
            self.failed.add(key)
        else:
            self.cache.put(key, img)
        self.sigTileReady.emit(key[1], key[2], key[3])

    def close(self) -> None:
        """Stop the workers (queued tiles are dropped; running ones finish and are ignored)."""
        if self._closed:
            return
        self._closed = True
        with self._lock:
            self._queue.clear()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.cache.drop(self.source.uid)
