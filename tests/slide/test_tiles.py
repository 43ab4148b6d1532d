"""TileLayer: grid and edge tiles, pixels equal to region reads, view queries, peek, threads."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from her2viewer.slide import ArraySlide, TileCache, TileLayer, open_slide


@pytest.fixture
def layer(generic_tiff):
    with open_slide(generic_tiff) as src:
        yield TileLayer(src, tile_size=512, cache=TileCache(64 * 2**20))


def test_grid_and_edge_tiles(layer):
    assert layer.source.level_dimensions[0] == (2001, 1500)
    assert layer.grid(0) == (4, 3)
    assert layer.tile_rect(0, 3, 2) == (1536, 1024, 465, 476)
    assert layer.get_tile(0, 3, 2).shape == (476, 465, 3)
    assert layer.get_tile(0, 0, 0).shape == (512, 512, 3)
    with pytest.raises(IndexError):
        layer.tile_rect(0, 4, 0)


def test_tiles_equal_region_reads(layer):
    src = layer.source
    for level in range(src.level_count):
        cols, rows = layer.grid(level)
        for col, row in ((0, 0), (cols - 1, rows - 1)):
            lvl_x, lvl_y, w, h = layer.tile_rect(level, col, row)
            ds = src.level_downsamples[level]
            expected = src.read_region(level, int(np.ceil(lvl_x * ds)), int(np.ceil(lvl_y * ds)), w, h)
            assert np.array_equal(layer.get_tile(level, col, row), expected)


def test_peek_never_decodes(layer):
    assert layer.peek_tile(0, 1, 1) is None
    assert layer.cache.stats()["misses"] == 0
    tile = layer.get_tile(0, 1, 1)
    assert layer.peek_tile(0, 1, 1) is tile


def test_keys_separate_sources(generic_tiff):
    cache = TileCache(64 * 2**20)
    with open_slide(generic_tiff) as a:
        b = ArraySlide(np.zeros((600, 600, 3), np.uint8))
        ta, tb = TileLayer(a, 256, cache), TileLayer(b, 256, cache)
        assert ta.get_tile(0, 0, 0).mean() > 20 and tb.get_tile(0, 0, 0).mean() == 0
        assert len(cache) == 2


def test_tiles_for_view(layer):
    ds1 = layer.source.level_downsamples[1]
    assert sorted(layer.tiles_for_view(0, 0, 0, 512, 512)) == [(0, 0)]
    assert sorted(layer.tiles_for_view(0, 500, 500, 100, 100)) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert sorted(layer.tiles_for_view(0, 600, 600, 10, 10, margin=1)) == [(c, r) for c in range(3) for r in range(3)]
    assert layer.tiles_for_view(0, 5000, 5000, 100, 100) == []
    assert len(layer.tiles_for_view(0, -1e6, -1e6, 2e6, 2e6)) == 12
    assert sorted(layer.tiles_for_view(1, 0, 0, 2001, 1500)) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert layer.tiles_for_view(1, 1200 * ds1, 0, 10, 10) == []  # beyond level 1's 1000 px
    first = layer.tiles_for_view(0, 0, 0, 2001, 1500)[0]
    assert first in {(1, 1), (2, 1)}  # centre first


def test_cached_tiles_are_compact(layer):
    tile = layer.get_tile(0, 3, 0)  # an edge tile cropped from a padded decoded tile
    assert tile.flags.c_contiguous and layer.cache.nbytes == tile.nbytes


def test_concurrent_get_tile_decodes_each_tile_once(layer):
    jobs = [(0, c, r) for c in range(4) for r in range(3)] * 6
    with ThreadPoolExecutor(8) as pool:
        tiles = list(pool.map(lambda j: layer.get_tile(*j), jobs))
    assert layer.cache.stats()["misses"] == 12
    for job, tile in zip(jobs, tiles, strict=True):
        assert tile is layer.peek_tile(*job)


def test_small_cache_bound_with_tiles(generic_tiff):
    with open_slide(generic_tiff) as src:
        lay = TileLayer(src, 256, TileCache(3 * 256 * 256 * 3))
        for col in range(7):
            lay.get_tile(0, col, 0)
            assert lay.cache.nbytes <= lay.cache.max_bytes
        assert len(lay.cache) == 3
