"""Run the cell analysis over a region tile by tile: resampled to the working resolution, restricted to
tissue, in parallel threads with a bounded number of tiles in flight, with progress and cancellation.

Tiles overlap by `overlap_um`; a cell belongs to the tile whose core (the tile without the overlap)
holds its centre, so no cell is counted twice and none is cut by a tile edge.
"""

from __future__ import annotations

import logging
import math
import os
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

import cv2
import numpy as np

from ...progress import Task
from ...slide.base import SlideSource
from ...slide.region import Region, RegionMask
from ...stain import StainMatrix, credible_stains, deconvolve, not_stain
from .cells import TileCells, analyse_tile, hema_threshold
from .params import DEFAULT_MPP, NucleusParams, RulesParams

log = logging.getLogger(__name__)


@dataclass
class RegionCells:
    """All cells of a region: level-0 centres plus the per-cell measurements."""

    l0_x: np.ndarray
    l0_y: np.ndarray
    cells: TileCells
    stains: StainMatrix
    hema_threshold: float
    mpp: float
    mpp_assumed: bool
    px_um: float
    n_tiles: int
    n_tiles_skipped: int


@dataclass(frozen=True)
class _Grid:
    """Tiles of a region at the working resolution; `f` = level-0 px per working px."""

    l0_x: float
    l0_y: float
    f: float
    width: int
    height: int
    tile: int
    margin: int

    def cores(self) -> list[tuple[int, int, int, int]]:
        """Tile cores (work_x, work_y, w, h) covering the region."""
        out = []
        for ty in range(0, self.height, self.tile):
            for tx in range(0, self.width, self.tile):
                out.append((tx, ty, min(self.tile, self.width - tx), min(self.tile, self.height - ty)))
        return out

    def l0_box(self, x: int, y: int, w: int, h: int) -> tuple[float, float, float, float]:
        """Level-0 (x, y, w, h) of a box in working pixels."""
        return (self.l0_x + x * self.f, self.l0_y + y * self.f, w * self.f, h * self.f)


def _read_work(source: SlideSource, grid: _Grid, x: int, y: int, w: int, h: int) -> np.ndarray:
    """RGB of a working-resolution box, read from the best pyramid level and resized."""
    level = source.best_level_for_downsample(grid.f) if grid.f > 1.0 else 0
    ds = source.level_downsamples[level]
    l0_x, l0_y, l0_w, l0_h = grid.l0_box(x, y, w, h)
    lvl_w, lvl_h = max(1, int(round(l0_w / ds))), max(1, int(round(l0_h / ds)))
    rgb = source.read_region(level, int(round(l0_x)), int(round(l0_y)), lvl_w, lvl_h)
    if rgb.shape[:2] != (h, w):
        enlarge = h > rgb.shape[0] or w > rgb.shape[1]
        rgb = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_CUBIC if enlarge else cv2.INTER_AREA)
    return np.ascontiguousarray(rgb[..., :3])


def _on_mask(mask: RegionMask, l0_x: np.ndarray, l0_y: np.ndarray) -> np.ndarray:
    """Which level-0 points lie on mask pixels."""
    c = np.floor((l0_x - mask.l0_origin[0]) / mask.downsample).astype(int)
    r = np.floor((l0_y - mask.l0_origin[1]) / mask.downsample).astype(int)
    h, w = mask.mask.shape
    ok = (r >= 0) & (r < h) & (c >= 0) & (c < w)
    out = np.zeros(l0_x.shape, bool)
    out[ok] = mask.mask[r[ok], c[ok]]
    return out


def _estimate(source: SlideSource, grid: _Grid, cores: list[tuple[int, int, int, int]],
              params: RulesParams, px_um: float) -> tuple[StainMatrix, float]:
    """Stain vectors and the haematoxylin threshold from a few tissue windows of the region."""
    win = int(round(min(512.0, 256.0 / px_um)))
    picks = cores if len(cores) <= 6 else [cores[i] for i in np.linspace(0, len(cores) - 1, 6).astype(int)]
    samples = []
    for x, y, w, h in picks:
        cx, cy = x + w // 2, y + h // 2
        ww, hh = min(win, w), min(win, h)
        samples.append(_read_work(source, grid, cx - ww // 2, cy - hh // 2, ww, hh).reshape(-1, 3))
    rgb = np.concatenate(samples)[:, None, :]
    stains = credible_stains(rgb, params.stains)
    side = int(math.isqrt(rgb.shape[0]))
    square = rgb[: side * side].reshape(side, side, 3)
    hema = deconvolve(square, stains)[..., 0]
    hema[not_stain(square)] = 0.0  # black borders and pen hold no stain
    return stains, hema_threshold(hema, params.nucleus, px_um)


def analyse_region(source: SlideSource, region: Region, params: RulesParams, task: Task) -> RegionCells:
    """Detect and measure every cell of the region (tissue only), tile by tile in parallel."""
    mpp_assumed = not source.mpp or getattr(source, "mpp_source", None) == "assumed"
    mpp = float(source.mpp or DEFAULT_MPP)
    f = max(1.0, params.work_mpp / mpp) if mpp < params.work_mpp * 0.8 else 1.0
    if mpp > params.max_work_mpp > 0:
        f = params.max_work_mpp / mpp  # < 1: working pixels finer than level 0 (the image is enlarged)
    px_um = mpp * f
    x0, y0, w0, h0 = region.l0_bbox
    grid = _Grid(x0, y0, f, max(1, int(math.ceil(w0 / f))), max(1, int(math.ceil(h0 / f))),
                 max(64, int(round(params.tile_um / px_um))), max(4, int(round(params.overlap_um / px_um))))
    cores = grid.cores()
    if region.mask is not None:
        tissue = [c for c in cores if region.mask.fraction_in(*grid.l0_box(*c)) > 0.0]
    else:
        tissue = cores
    skipped = len(cores) - len(tissue)
    task.report(0.0, "estimating stain vectors")
    if not tissue:
        return RegionCells(np.zeros(0), np.zeros(0), TileCells.empty(), StainMatrix.default(),
                           params.nucleus.min_hema_od, mpp, mpp_assumed, px_um, 0, skipped)
    stains, thr = _estimate(source, grid, tissue, params, px_um)
    log.debug("region %s: %d tiles (%d skipped), threshold %.3f", region.id, len(tissue), skipped, thr)

    def work(core: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray, TileCells]:
        task.check()
        x, y, w, h = core
        m = grid.margin
        rgb = _read_work(source, grid, x - m, y - m, w + 2 * m, h + 2 * m)
        tc = analyse_tile(rgb, stains, thr, px_um, params.nucleus, params.cell, params.sector_floor)
        in_core = (tc.tile_x >= m) & (tc.tile_x < m + w) & (tc.tile_y >= m) & (tc.tile_y < m + h)
        tc = tc.take(in_core)
        l0_x = x0 + (x - m + tc.tile_x + 0.5) * f
        l0_y = y0 + (y - m + tc.tile_y + 0.5) * f
        if region.mask is not None and len(tc):
            keep = _on_mask(region.mask, l0_x, l0_y)
            tc, l0_x, l0_y = tc.take(keep), l0_x[keep], l0_y[keep]
        return l0_x, l0_y, tc

    results = _run_bounded(work, tissue, params, task)
    parts = [r for r in results if len(r[2])]
    if parts:
        l0_x = np.concatenate([p[0] for p in parts])
        l0_y = np.concatenate([p[1] for p in parts])
        cells = TileCells(*(np.concatenate([getattr(p[2], k) for p in parts])
                            for k in TileCells.__dataclass_fields__))
    else:
        l0_x, l0_y, cells = np.zeros(0), np.zeros(0), TileCells.empty()
    cells.tumour = cells.tumour & cohesive(l0_x, l0_y, cells.tumour, mpp, params.nucleus)
    return RegionCells(l0_x, l0_y, cells, stains, thr, mpp, mpp_assumed, px_um, len(tissue), skipped)


def cohesive(l0_x: np.ndarray, l0_y: np.ndarray, candidate: np.ndarray, mpp: float,
             p: NucleusParams) -> np.ndarray:
    """Candidates with at least `cohesion_min` other candidates within `cohesion_um` (all True when off)."""
    if p.cohesion_min <= 0 or not candidate.any():
        return np.ones(len(l0_x), bool)
    from scipy.spatial import cKDTree

    idx = np.flatnonzero(candidate)
    pts = np.stack([l0_x[idx], l0_y[idx]], 1) * mpp
    counts = cKDTree(pts).query_ball_point(pts, p.cohesion_um, return_length=True) - 1
    out = np.zeros(len(l0_x), bool)
    out[idx] = counts >= p.cohesion_min
    return out


def _run_bounded(work, items: list, params: RulesParams, task: Task) -> list:
    """Map `work` over items in a thread pool with at most 2 x workers in flight; results in item order."""
    workers = params.workers or min(4, os.cpu_count() or 1)
    out: list = [None] * len(items)
    if workers <= 1:
        for i, it in enumerate(items):
            out[i] = work(it)
            task.report((i + 1) / len(items), f"cells: tile {i + 1} of {len(items)}")
        return out
    pending: dict[Future, int] = {}
    done_n = 0
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="rules") as pool:
        try:
            nxt = 0
            while nxt < len(items) or pending:
                while nxt < len(items) and len(pending) < 2 * workers:
                    pending[pool.submit(work, items[nxt])] = nxt
                    nxt += 1
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    out[pending.pop(fut)] = fut.result()
                    done_n += 1
                task.report(done_n / len(items), f"cells: tile {done_n} of {len(items)}")
        except BaseException:
            for fut in pending:
                fut.cancel()
            raise
    return out
