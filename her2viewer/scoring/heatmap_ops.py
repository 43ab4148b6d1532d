"""Heatmap maths for display, without Qt: NaN-aware smoothing, the most attended cells, where to look.

A `Heatmap` grid has NaN off tissue. Smoothing is a normalised convolution (Gaussian of the tissue values
divided by the Gaussian of the tissue indicator), so off-tissue cells stay NaN, tissue next to glass or the
grid's edge is not pulled towards zero, and a constant field stays constant. The top-cell list ranks the
unsmoothed values: smoothing is for the eye, the ranking is the model's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .result import Heatmap

#: the heatmap the attention panel shows first when a result has several
PREFERRED_HEATMAP = "mil_attention"
#: smoothing choices offered in the viewer, Gaussian sigma in grid cells (0 = off)
SMOOTHING_SIGMAS = (0.0, 0.5, 1.0, 2.0)
#: sub-cells per cell side of a smoothed grid, and the most cells a smoothed grid may have
SMOOTH_UPSAMPLE = 4
SMOOTH_MAX_CELLS = 4_000_000
#: a tile shown from the list fills about 1 / TILE_CONTEXT of the view's shorter side
TILE_CONTEXT = 5.0


def smooth_heatmap(values: np.ndarray, sigma: float, upsample: int = 1) -> np.ndarray:
    """Gaussian-smooth a grid (sigma in cells) over its finite cells only; NaN cells stay NaN. With
    `upsample` > 1 each cell is first split into upsample x upsample sub-cells (sigma scaled to match), so
    the result shades smoothly inside a cell instead of stepping from cell to cell."""
    vals = np.asarray(values, np.float32)
    f = max(int(upsample), 1)
    if f > 1:
        vals = np.repeat(np.repeat(vals, f, axis=0), f, axis=1)
    if sigma <= 0 or vals.size == 0:
        return vals.copy()
    # imported here so that the viewer starts without scipy
    from scipy.ndimage import gaussian_filter

    on = np.isfinite(vals)
    weight = gaussian_filter(on.astype(np.float64), sigma * f, mode="constant", cval=0.0)
    total = gaussian_filter(np.where(on, vals, 0.0).astype(np.float64), sigma * f, mode="constant", cval=0.0)
    out = np.full(vals.shape, np.nan, np.float32)
    ok = on & (weight > 1e-12)
    out[ok] = (total[ok] / weight[ok]).astype(np.float32)
    return out


def smoothing_upsample(shape: tuple[int, ...], max_cells: int = SMOOTH_MAX_CELLS) -> int:
    """How many sub-cells per cell side a smoothed grid of `shape` gets (1..SMOOTH_UPSAMPLE, capped so
    the smoothed grid stays under `max_cells`)."""
    n = max(int(np.prod(shape)), 1)
    return int(max(1, min(SMOOTH_UPSAMPLE, np.floor(np.sqrt(max_cells / n)))))


def percentile_ranks(values: np.ndarray) -> np.ndarray:
    """Each finite cell's percentile rank among the finite cells, 0..1 (ties share their mean rank); NaN
    stays NaN. Shows where a model looks most even when its raw values are nearly flat."""
    vals = np.asarray(values, np.float64)
    out = np.full(vals.shape, np.nan, np.float32)
    on = np.isfinite(vals)
    finite = np.sort(vals[on])
    if finite.size == 0:
        return out
    if finite.size == 1:
        out[on] = 1.0
        return out
    lo = np.searchsorted(finite, vals[on], side="left")
    hi = np.searchsorted(finite, vals[on], side="right") - 1
    out[on] = ((lo + hi) / 2.0 / max(finite.size - 1, 1)).astype(np.float32)
    return out


def pick_heatmap(heatmaps: list[Heatmap]) -> Heatmap | None:
    """The heatmap to show: "mil_attention" when there is one, else the first usable (2-D, non-empty) one."""
    usable = [h for h in heatmaps if np.ndim(h.values) == 2 and np.size(h.values) > 0]
    return next((h for h in usable if h.name == PREFERRED_HEATMAP), usable[0] if usable else None)


@dataclass(frozen=True)
class TopTile:
    """One highly ranked grid cell: rank 1 is the highest value; bbox is level-0 (x, y, w, h)."""

    rank: int
    value: float
    l0_bbox: tuple[float, float, float, float]
    share: float | None = None   # the raw attention (its share of the bag) when the result carries it

    @property
    def l0_center(self) -> tuple[float, float]:
        """The cell's centre in level-0 pixels."""
        x, y, w, h = self.l0_bbox
        return x + w / 2.0, y + h / 2.0


def top_tiles(heatmap: Heatmap, n: int = 10, params: dict[str, Any] | None = None) -> list[TopTile]:
    """The `n` cells with the highest finite values, highest first (ties in row-major order); `share` is
    filled from `params["top_tiles"]` (the MIL scorer's raw attention) where a tile's box matches a cell."""
    vals = np.asarray(heatmap.values, np.float64)
    if vals.ndim != 2 or n <= 0:
        return []
    flat = vals.ravel()
    finite = np.flatnonzero(np.isfinite(flat))
    order = finite[np.argsort(-flat[finite], kind="stable")][:n]
    shares = _shares_by_corner((params or {}).get("top_tiles"))
    cols = vals.shape[1]
    x0, y0 = heatmap.l0_origin
    s = float(heatmap.l0_cell_size)
    out = []
    for rank, i in enumerate(order, start=1):
        r, c = divmod(int(i), cols)
        x, y = x0 + c * s, y0 + r * s
        out.append(TopTile(rank, float(flat[i]), (x, y, s, s), shares.get((math.floor(x), math.floor(y)))))
    return out


def _shares_by_corner(entries: Any) -> dict[tuple[int, int], float]:
    """{(level-0 x, y) of a tile's top-left: raw attention} from the scorer's `top_tiles` entries."""
    out: dict[tuple[int, int], float] = {}
    for e in entries or []:
        try:
            x, y = (math.floor(float(v)) for v in e["bbox"][:2])
            out[(x, y)] = float(e["attention"])
        except (KeyError, TypeError, ValueError, IndexError):
            continue
    return out


def tile_view_rect(l0_bbox: tuple[float, float, float, float],
                   context: float = TILE_CONTEXT) -> tuple[float, float, float, float]:
    """A level-0 rectangle centred on a tile and `context` tiles across: fitting the view to it shows the
    tile clearly with its surroundings."""
    x, y, w, h = l0_bbox
    side = max(w, h) * max(context, 1.0)
    cx, cy = x + w / 2.0, y + h / 2.0
    return cx - side / 2.0, cy - side / 2.0, side, side
