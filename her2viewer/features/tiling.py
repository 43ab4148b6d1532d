"""Tissue tiles of a region at a chosen magnification: a grid of `tile_px` x `tile_px` tiles at `mpp`
micrometres per pixel (default 256 px at 0.5 um/px), kept where at least `min_tissue` of the tile is tissue.

Each tile is read from the best pyramid level and resized, so the same spec gives the same field of view on
any scanner. Tile (r, c) covers level-0 [x0 + c*s, x0 + (c+1)*s) x [y0 + r*s, ...) with s = `l0_tile_size`
and (x0, y0) the region's top-left: the same grid the attention heatmap is drawn on.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from ..slide.base import SlideSource
from ..slide.read import read_l0_box, source_mpp
from ..slide.region import Region, RegionMask

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TileSpec:
    """Tile geometry: size in output px, resolution (um/px), tissue fraction to keep, optional tile cap."""

    tile_px: int = 256
    mpp: float = 0.5
    min_tissue: float = 0.5
    max_tiles: int = 0  # 0: all tiles; else a seeded, spatially spread subset of this many

    def to_dict(self) -> dict[str, Any]:
        """The spec as a JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TileSpec:
        """Build from a dict (a model card's input_spec); unknown keys are ignored."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass
class TileGrid:
    """The kept tiles of a region: level-0 top-left corners, grid rows/cols, and the grid geometry."""

    l0_xy: np.ndarray          # (n, 2) int64 level-0 top-left (x, y)
    grid_rc: np.ndarray        # (n, 2) int32 (row, col) on the region grid
    l0_origin: tuple[float, float]
    l0_tile_size: float
    shape: tuple[int, int]     # (rows, cols)
    tile_px: int

    def __len__(self) -> int:
        return int(len(self.l0_xy))

    def to_grid(self, values: np.ndarray, fill: float = np.nan) -> np.ndarray:
        """Per-tile values (n,) painted on the (rows, cols) grid; `fill` where no tile was kept."""
        grid = np.full(self.shape, fill, np.float32)
        grid[self.grid_rc[:, 0], self.grid_rc[:, 1]] = np.asarray(values, np.float32)
        return grid


def _region_mask(source: SlideSource, region: Region) -> RegionMask | None:
    """The region's tissue mask, or the slide's tissue mask when the region has none (None: no tissue)."""
    if region.mask is not None:
        return region.mask
    from ..tissue.mask import tissue_mask

    tm = tissue_mask(source)
    return None if tm.empty else tm.as_region_mask()


def tile_grid(source: SlideSource, region: Region, spec: TileSpec) -> TileGrid:
    """The tissue tiles of `region` (every tile of the box when no tissue is found; never empty)."""
    l0_tile = spec.tile_px * spec.mpp / source_mpp(source)
    x0, y0, w, h = region.l0_bbox
    cols, rows = max(1, math.ceil(w / l0_tile)), max(1, math.ceil(h / l0_tile))
    rr, cc = np.mgrid[0:rows, 0:cols]
    rr, cc = rr.ravel(), cc.ravel()
    mask = _region_mask(source, region)
    if mask is None:
        keep = np.ones(rr.size, bool)
    else:
        frac = np.array([mask.fraction_in(x0 + c * l0_tile, y0 + r * l0_tile, l0_tile, l0_tile)
                         for r, c in zip(rr, cc, strict=True)])
        keep = frac >= spec.min_tissue
        if not keep.any():
            keep = frac >= frac.max() if frac.max() > 0 else np.ones(rr.size, bool)
            log.warning("no tile of region %s has %.0f%% tissue; keeping %d tile(s)", region.id,
                        100 * spec.min_tissue, int(keep.sum()))
    idx = np.flatnonzero(keep)
    if spec.max_tiles and idx.size > spec.max_tiles:
        idx = np.sort(np.random.default_rng(0).choice(idx, spec.max_tiles, replace=False))
    rr, cc = rr[idx], cc[idx]
    l0_xy = np.stack([np.floor(x0 + cc * l0_tile), np.floor(y0 + rr * l0_tile)], axis=1).astype(np.int64)
    return TileGrid(l0_xy, np.stack([rr, cc], axis=1).astype(np.int32), (float(x0), float(y0)), float(l0_tile),
                    (rows, cols), int(spec.tile_px))


def iter_tile_batches(source: SlideSource, grid: TileGrid, batch_size: int) -> Iterator[tuple[int, np.ndarray]]:
    """(start index, uint8 array (B, tile_px, tile_px, 3)) batches of the grid's tiles, in order."""
    s, px = grid.l0_tile_size, grid.tile_px
    for start in range(0, len(grid), batch_size):
        xy = grid.l0_xy[start:start + batch_size]
        yield start, np.stack([read_l0_box(source, float(x), float(y), s, s, px, px) for x, y in xy])
