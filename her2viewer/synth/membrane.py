"""Shared-border membranes: which class of DAB each membrane pixel carries, and what each cell visibly shows.

Neighbouring tumour cells share one membrane line on their common border. Each cell has a *drawn* staining
(intensity class, stained arc: `coverage` of its perimeter from `arc_start`, DAB level `od`); a membrane
pixel on the border of cells i and j carries the stronger of i's and j's drawn stain at that place (either
cell staining its arc there puts brown on the shared line). So an unstained cell beside a stained one
visibly has a (partial) stained membrane, and that is what the truth says.

*Observable* per-cell values come from the pixel classes on the cell's own half of the membrane band (which,
with shared rendering, equals the band straddling its border): the border is cut into `SECTORS` angular
sectors around the cell centre; a sector has class k when at least `SECTOR_MIN_FRACTION` of its band
pixels carry class >= k. Observable coverage = stained sectors / sectors present; observable intensity =
the highest class held by at least half of the stained sectors (the upper median class of the stained
sectors); complete = coverage >= `COMPLETE_MIN_COVERAGE`. The label is the ASCO/CAP rule on these.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from . import params as P

SECTORS = 16
SECTOR_MIN_FRACTION = 1 / 3
COMPLETE_MIN_COVERAGE = 0.9


@dataclass
class MembraneGeometry:
    """Membrane band pixels with their owning cell, the neighbour across the border (-1: none) and angles."""

    ys: np.ndarray
    xs: np.ndarray
    own: np.ndarray
    nbr: np.ndarray
    theta_own: np.ndarray
    theta_nbr: np.ndarray
    key: np.ndarray      # own * SECTORS + sector of the pixel around its own cell
    n_cells: int


def membrane_mask(tumour: np.ndarray, owner: np.ndarray, seed_dist: np.ndarray, tissue: np.ndarray,
                  cell_px: float, width_px: float) -> tuple[np.ndarray, int]:
    """Pixels within about width/2 of a border between two cells or a cell and anything else; and the width."""
    o = np.where(tumour, owner, -1)
    b = np.zeros(o.shape, bool)
    b[:, :-1] |= o[:, :-1] != o[:, 1:]
    b[:-1, :] |= o[:-1, :] != o[1:, :]
    k = max(2, int(round(width_px)))
    b = cv2.dilate(b.view(np.uint8), np.ones((k, k), np.uint8)).view(bool)
    return b & (seed_dist < 0.62 * cell_px + k) & (owner >= 0) & tissue, k


def membrane_geometry(lay, width_px: float) -> MembraneGeometry:
    """The membrane band of a layout with, per pixel, its cell, the cell across the border and both angles."""
    mask, k = membrane_mask(lay.tumour, lay.owner, lay.seed_dist, lay.tissue, lay.cell_px, width_px)
    ys, xs = np.nonzero(mask)
    o = np.where(lay.tumour, lay.owner, -1).astype(np.float32)
    win = np.ones((k + 2, k + 2), np.uint8)
    hi = cv2.dilate(o, win)[ys, xs].astype(np.int32)
    lo = cv2.erode(o, win)[ys, xs].astype(np.int32)
    own = lay.owner[ys, xs].astype(np.int32)
    nbr = np.where((hi != own) & (hi >= 0), hi, np.where((lo != own) & (lo >= 0), lo, -1)).astype(np.int32)
    fy, fx = ys.astype(np.float32), xs.astype(np.float32)
    theta_own = np.arctan2(fy - lay.cy[own], fx - lay.cx[own]).astype(np.float32)
    j = np.maximum(nbr, 0)
    theta_nbr = np.arctan2(fy - lay.cy[j], fx - lay.cx[j]).astype(np.float32)
    sector = np.minimum(((theta_own + np.pi) / (2 * np.pi) * SECTORS).astype(np.int64), SECTORS - 1)
    return MembraneGeometry(ys, xs, own, nbr, theta_own, theta_nbr, own.astype(np.int64) * SECTORS + sector,
                            len(lay.cx))


def _on_arc(theta: np.ndarray, cell: np.ndarray, arc_start: np.ndarray, coverage: np.ndarray) -> np.ndarray:
    return np.mod(theta - arc_start[cell], 2 * np.pi) < 2 * np.pi * coverage[cell]


def pixel_classes(g: MembraneGeometry, intensity: np.ndarray, coverage: np.ndarray, arc_start: np.ndarray,
                  od: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Class (0..3) and DAB level of every band pixel: the stronger of its cell's and the neighbour's stain."""
    c_own = np.where(_on_arc(g.theta_own, g.own, arc_start, coverage), intensity[g.own], 0).astype(np.int8)
    j = np.maximum(g.nbr, 0)
    c_nbr = np.where((g.nbr >= 0) & _on_arc(g.theta_nbr, j, arc_start, coverage), intensity[j], 0).astype(np.int8)
    take_nbr = (c_nbr > c_own) | ((c_nbr == c_own) & (c_nbr > 0) & (od[j] > od[g.own]))
    cls = np.where(take_nbr, c_nbr, c_own)
    level = np.where(take_nbr, od[j], od[g.own]).astype(np.float32)
    level[cls == 0] = 0.0
    return cls, level


@dataclass
class Observable:
    """What each cell visibly shows on its whole border."""

    intensity: np.ndarray   # int8 0..3
    complete: np.ndarray    # bool
    coverage: np.ndarray    # float32, stained sector fraction
    dab_od: np.ndarray      # float32, mean DAB level drawn on its stained band pixels (0 when unstained)


def observable(g: MembraneGeometry, cls: np.ndarray, level: np.ndarray) -> Observable:
    """Observable intensity, completeness and coverage of every cell from the band pixel classes."""
    n, s = g.n_cells, SECTORS
    total = np.bincount(g.key, minlength=n * s)
    present = (total > 0).reshape(n, s)
    n_present = np.maximum(present.sum(1), 1)
    held = []
    for k in (1, 2, 3):
        cnt = np.bincount(g.key[cls >= k], minlength=n * s)
        held.append(((cnt > 0) & (cnt >= SECTOR_MIN_FRACTION * total)).reshape(n, s).sum(1))
    s1 = held[0]
    inten = np.zeros(n, np.int8)
    for k in (1, 2, 3):
        inten[(s1 > 0) & (2 * held[k - 1] >= s1)] = k
    cov = (s1 / n_present).astype(np.float32)
    stained = cls > 0
    lsum = np.bincount(g.own[stained], level[stained], minlength=n)
    lcnt = np.bincount(g.own[stained], minlength=n)
    od = np.where((inten > 0) & (lcnt > 0), lsum / np.maximum(lcnt, 1), 0.0).astype(np.float32)
    return Observable(inten, (cov >= COMPLETE_MIN_COVERAGE) & (inten > 0), cov, od)


def paint_shared_membranes(g: MembraneGeometry, cls: np.ndarray, level: np.ndarray, dab: np.ndarray,
                           hema: np.ndarray | None, cls_map: np.ndarray | None, unstained_value: int,
                           rng: np.random.Generator) -> None:
    """Write the band's DAB (level with a per-pixel grain, clipped into the class band) and its truth map."""
    if hema is not None:
        hema[g.ys, g.xs] += np.float32(P.HEMA_CELL_BORDER)
    if cls_map is not None:
        cls_map[g.ys, g.xs] = np.where(cls > 0, cls, unstained_value).astype(np.uint8)
    sel = cls > 0
    c = cls[sel]
    lo = np.array([P.DAB_BANDS[k][0] for k in range(4)], np.float32)[c]
    hi = np.array([P.DAB_BANDS[k][1] for k in range(4)], np.float32)[c]
    grain = 1.0 + 0.18 * rng.standard_normal(int(sel.sum())).astype(np.float32)
    dab[g.ys[sel], g.xs[sel]] = np.clip(level[sel] * grain, lo, hi)
