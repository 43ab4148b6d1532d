"""Tile features for attention MIL: tissue tiles at a chosen magnification (`tiling`), a headless timm
backbone (`extractor`) and an on-disk cache (`cache`); `extract_bag` ties them together."""

from __future__ import annotations

import logging
import time

import numpy as np

from ..progress import Task
from ..slide.base import SlideSource
from ..slide.region import Region
from .cache import CachedBag, FeatureCache, cache_key
from .extractor import FeatureExtractor, get_extractor
from .tiling import TileGrid, TileSpec, iter_tile_batches, tile_grid

__all__ = ["CachedBag", "FeatureCache", "FeatureExtractor", "TileGrid", "TileSpec", "extract_bag",
           "get_extractor", "tile_grid"]

log = logging.getLogger(__name__)


def extract_bag(source: SlideSource, region: Region, extractor: FeatureExtractor, spec: TileSpec, *,
                cache: FeatureCache | None = None, task: Task | None = None) -> CachedBag:
    """Features (n, dim) and the tile grid of a region's tissue; from `cache` when it has them."""
    task = task or Task()
    key = cache_key(source, region, extractor.identity(), spec) if cache is not None else ""
    if cache is not None:
        hit = cache.load(key)
        if hit is not None:
            log.info("features of %s from the cache (%d tiles)", region.id, len(hit.grid))
            task.report(1.0, f"{len(hit.grid)} cached tile features")
            return hit
    task.report(0.0, f"tiling {region.id}")
    grid = tile_grid(source, region, spec)
    t0 = time.perf_counter()
    feats = np.zeros((len(grid), extractor.dim), np.float32)
    for start, tiles in iter_tile_batches(source, grid, extractor.batch_size):
        feats[start:start + len(tiles)] = extractor(tiles)
        done = start + len(tiles)
        task.report(done / len(grid), f"features {done}/{len(grid)} tiles of {region.id}")
    dt = time.perf_counter() - t0
    log.info("extracted %d tile features of %s in %.1f s (%.1f tiles/s)", len(grid), region.id, dt,
             len(grid) / max(dt, 1e-9))
    bag = CachedBag(feats, grid)
    if cache is not None:
        try:
            cache.save(key, bag)
        except OSError as e:
            log.warning("could not write the feature cache %s: %s", cache.path_for(key), e)
    return bag
