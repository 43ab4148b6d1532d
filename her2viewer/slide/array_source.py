"""A numpy array as a slide: tests and synthetic data need no files."""

from __future__ import annotations

import cv2
import numpy as np

from .base import SlideBase


class ArraySlide(SlideBase):
    """An in-memory RGB image exposed as a pyramid (levels built on first use, downsample 2 each)."""

    vendor = "array"

    def __init__(self, image: np.ndarray, mpp: float | None = None, name: str = "array",
                 min_level_size: int = 512) -> None:
        super().__init__()
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=2)
        if image.ndim != 3 or image.shape[2] not in (3, 4) or image.size == 0:
            raise ValueError(f"expected an HxWx3 image, got shape {image.shape}")
        if image.shape[2] == 4:
            alpha = image[..., 3:4].astype(np.float32) / 255.0
            image = (image[..., :3] * alpha + 255 * (1 - alpha)).astype(np.uint8)
        self.path = name
        self._levels: list[np.ndarray | None] = [np.ascontiguousarray(image, dtype=np.uint8)]
        H, W = image.shape[:2]
        dims = [(W, H)]
        while max(dims[-1]) > min_level_size:
            w, h = dims[-1]
            dims.append((max(1, w // 2), max(1, h // 2)))
            self._levels.append(None)
        self._level_dims = tuple(dims)
        self._downsamples = tuple((W / d[0] + H / d[1]) / 2.0 for d in dims)
        self._mpp = mpp
        self._props = {"her2viewer.source": "array"}

    def _level_image(self, level: int) -> np.ndarray:
        with self._lock:
            img = self._levels[level]
            if img is None:
                prev = self._level_image(level - 1)
                img = cv2.resize(prev, self._level_dims[level], interpolation=cv2.INTER_AREA)
                self._levels[level] = img
            return img

    def _read_level(self, level: int, lvl_x: int, lvl_y: int, w: int, h: int) -> np.ndarray:
        return self._level_image(level)[lvl_y : lvl_y + h, lvl_x : lvl_x + w].copy()
