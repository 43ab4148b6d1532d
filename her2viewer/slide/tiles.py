"""Fixed-size tiles over each pyramid level, decoded through the shared byte-bounded cache."""

from __future__ import annotations

import math

import numpy as np

from .base import SlideSource
from .cache import TileCache, default_cache


def _compact(arr: np.ndarray) -> np.ndarray:
    """`arr` as C-contiguous memory of its own size (so the cache's byte count is the real footprint)."""
    base = arr.base
    while isinstance(base, np.ndarray) and base.base is not None:
        base = base.base
    if arr.flags.c_contiguous and (base is None or getattr(base, "nbytes", arr.nbytes) <= arr.nbytes):
        return arr
    return np.array(arr, order="C", copy=True)


class TileLayer:
    """Tiles of `tile_size` px (edge tiles smaller) on every level of `source`, cached by `source.uid`."""

    def __init__(self, source: SlideSource, tile_size: int = 512, cache: TileCache | None = None) -> None:
        if tile_size <= 0:
            raise ValueError(f"tile_size must be positive, got {tile_size}")
        self.source = source
        self.tile_size = int(tile_size)
        self.cache = cache if cache is not None else default_cache()
        self._uid = source.uid
        self._read_level = getattr(source, "read_level", None)

    def grid(self, level: int) -> tuple[int, int]:
        """(cols, rows) of tiles covering `level`."""
        w, h = self.source.level_dimensions[level]
        return -(-w // self.tile_size), -(-h // self.tile_size)

    def tile_rect(self, level: int, col: int, row: int) -> tuple[int, int, int, int]:
        """(lvl_x, lvl_y, w, h) of a tile in that level's pixels; raises IndexError outside the grid."""
        cols, rows = self.grid(level)
        if not (0 <= col < cols and 0 <= row < rows):
            raise IndexError(f"tile ({col}, {row}) outside the {cols}x{rows} grid of level {level}")
        w, h = self.source.level_dimensions[level]
        lvl_x, lvl_y = col * self.tile_size, row * self.tile_size
        return lvl_x, lvl_y, min(self.tile_size, w - lvl_x), min(self.tile_size, h - lvl_y)

    def key(self, level: int, col: int, row: int) -> tuple:
        """The cache key of a tile."""
        return (self._uid, self.tile_size, level, col, row)

    def get_tile(self, level: int, col: int, row: int) -> np.ndarray:
        """The tile's RGB pixels (read-only array), decoded on a cache miss."""
        return self.cache.get_or_load(self.key(level, col, row), lambda: self._load(level, col, row))

    def peek_tile(self, level: int, col: int, row: int) -> np.ndarray | None:
        """The tile if it is cached, else None; never decodes."""
        return self.cache.peek(self.key(level, col, row))

    def tiles_for_view(self, level: int, l0_x: float, l0_y: float, l0_w: float, l0_h: float,
                       margin: int = 0) -> list[tuple[int, int]]:
        """(col, row) of the tiles of `level` that a level-0 view rectangle touches, plus `margin` tiles."""
        ds = self.source.level_downsamples[level]
        cols, rows = self.grid(level)
        ts = self.tile_size
        c0 = max(0, math.floor(l0_x / ds / ts) - margin)
        r0 = max(0, math.floor(l0_y / ds / ts) - margin)
        c1 = min(cols - 1, math.ceil((l0_x + l0_w) / ds / ts) - 1 + margin)
        r1 = min(rows - 1, math.ceil((l0_y + l0_h) / ds / ts) - 1 + margin)
        if l0_w <= 0 or l0_h <= 0 or c1 < c0 or r1 < r0:
            return []
        cx, cy = (c0 + c1) / 2.0, (r0 + r1) / 2.0
        tiles = [(c, r) for r in range(r0, r1 + 1) for c in range(c0, c1 + 1)]
        tiles.sort(key=lambda t: (t[0] - cx) ** 2 + (t[1] - cy) ** 2)  # centre first
        return tiles

    def _load(self, level: int, col: int, row: int) -> np.ndarray:
        lvl_x, lvl_y, w, h = self.tile_rect(level, col, row)
        if self._read_level is not None:
            arr = self._read_level(level, lvl_x, lvl_y, w, h)
        else:
            ds = self.source.level_downsamples[level]
            arr = self.source.read_region(level, math.ceil(lvl_x * ds - 1e-6), math.ceil(lvl_y * ds - 1e-6), w, h)
        return _compact(arr)
