"""TMA dearraying: find the round cores of a tissue microarray and give them grid labels (A1, A2, ..., B1).

Cores are the round, similar-sized pieces of the tissue mask (watershed already splits touching cores);
broken cores are re-assembled from nearby fragments. The centres are de-rotated by the grid's angle and
clustered into rows (A, B, ...) and columns (1, 2, ...); a column or row with no core at all still takes a
number when the spacing shows it is missing. Positions are refined on a finer level.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage as ndi

from ..slide.base import SlideSource
from .mask import DEFAULT_DOWNSAMPLE, TissueMask, hysteresis, tissue_mask, tissueness

log = logging.getLogger(__name__)

#: a blob is round when its area fills this much of its enclosing circle and it is not elongated
MIN_CIRCLE_FILL = 0.5
MIN_ASPECT = 0.6
#: cores are within this factor of the typical diameter
SIZE_RANGE = (0.5, 1.6)
#: fragments join a core (or each other) while the union's box stays within this many diameters
MAX_CORE_EXTENT = 1.3
#: pieces whose tissue has a convex hull this round (hull area / enclosing circle) may be one core
ONE_BODY_MIN_ROUNDNESS = 0.85
#: ... when glass gaps between them are at most this fraction of the enclosing circle's diameter
ONE_BODY_MAX_GAP = 0.04
#: refinement works at this many pixels across a core
REFINE_PX = 128
#: cores narrower than this many mask pixels are re-measured on a finer level
REFINE_BELOW_MASK_PX = 100


@dataclass(frozen=True)
class Core:
    """One TMA core: grid label, 0-based row and column, and where it is in level-0 pixels."""

    id: str
    row: int
    col: int
    l0_bbox: tuple[int, int, int, int]
    l0_center: tuple[float, float]
    l0_radius: float


@dataclass
class _Blob:
    """A candidate core at mask resolution (level-0 units)."""

    x0: float
    y0: float
    x1: float
    y1: float
    cx: float
    cy: float
    area: float
    round: bool

    @property
    def eq_diameter(self) -> float:
        return 2.0 * math.sqrt(self.area / math.pi)

    def merged(self, other: _Blob) -> _Blob:
        a = self.area + other.area
        return _Blob(min(self.x0, other.x0), min(self.y0, other.y0), max(self.x1, other.x1),
                     max(self.y1, other.y1), (self.cx * self.area + other.cx * other.area) / a,
                     (self.cy * self.area + other.cy * other.area) / a, a, self.round or other.round)


def row_label(row: int) -> str:
    """Row letters: 0 -> A, 25 -> Z, 26 -> AA."""
    s, i = "", row + 1
    while i:
        i, rem = divmod(i - 1, 26)
        s = chr(65 + rem) + s
    return s


def core_id(row: int, col: int) -> str:
    """Grid label of a 0-based row and column, e.g. (1, 2) -> "B3"."""
    return f"{row_label(row)}{col + 1}"


# -- finding cores ----------------------------------------------------------------------------------------

def _blobs(tm: TissueMask) -> list[_Blob]:
    """Every labelled tissue piece as a blob with its roundness."""
    ds = tm.downsample
    out = []
    for i, sl in enumerate(ndi.find_objects(tm.labels)):
        if sl is None:
            continue
        piece = (tm.labels[sl] == i + 1).astype(np.uint8)
        area = float(piece.sum())
        rr, cc = np.nonzero(piece)
        h, w = piece.shape
        contours, _ = cv2.findContours(piece, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        pts = np.concatenate(contours).reshape(-1, 2).astype(np.float32)
        (_, _), radius = cv2.minEnclosingCircle(pts)
        # roundness of the convex hull: bays and cracks of a pale or broken core do not make it irregular
        hull_area = max(area, cv2.contourArea(cv2.convexHull(pts)) + 0.5 * len(cv2.convexHull(pts)))
        fill = hull_area / (math.pi * (radius + 0.5) ** 2)
        round_ = fill >= MIN_CIRCLE_FILL and min(w, h) / max(w, h) >= MIN_ASPECT and area >= 12
        r0, c0 = sl[0].start, sl[1].start
        out.append(_Blob(c0 * ds, r0 * ds, (c0 + w) * ds, (r0 + h) * ds, (c0 + cc.mean() + 0.5) * ds,
                         (r0 + rr.mean() + 0.5) * ds, area * ds * ds, round_))
    return out


def _typical_diameter(blobs: list[_Blob]) -> float | None:
    """Median diameter of the round blobs that are not specks (level-0 px)."""
    d = np.array([b.eq_diameter for b in blobs if b.round])
    if d.size == 0:
        return None
    d = d[d >= 0.5 * d.max()]
    return float(np.median(d))


def _extent(b: _Blob) -> float:
    return max(b.x1 - b.x0, b.y1 - b.y0)


def _assemble(blobs: list[_Blob], diameter: float) -> list[_Blob]:
    """Cores: round blobs of the typical size, plus fragments that together make a core-sized piece.

    A fragment next to a core joins it when the union stays core-sized (one grid cell); other fragments are
    grouped greedily the same way and kept when the group is big enough to be a core.
    """
    lo, hi = SIZE_RANGE
    core_area = math.pi * diameter**2 / 4
    max_extent = MAX_CORE_EXTENT * diameter
    is_core = [b.round and lo * diameter <= b.eq_diameter <= hi * diameter for b in blobs]
    cores = [b for b, ok in zip(blobs, is_core, strict=True) if ok]
    rest = [b for b, ok in zip(blobs, is_core, strict=True)
            if not ok and b.area >= 0.02 * core_area and b.eq_diameter <= hi * diameter]
    rest.sort(key=lambda b: -b.area)
    left = []
    for frag in rest:
        best, best_d = None, math.inf
        for k, c in enumerate(cores):
            d = math.hypot(frag.cx - c.cx, frag.cy - c.cy)
            if d < best_d and _extent(c.merged(frag)) <= max_extent:
                best, best_d = k, d
        if best is not None:
            cores[best] = cores[best].merged(frag)
        else:
            left.append(frag)
    used = [False] * len(left)
    for i, seed in enumerate(left):
        if used[i]:
            continue
        group = seed
        used[i] = True
        for j in range(i + 1, len(left)):
            if used[j]:
                continue
            cand = group.merged(left[j])
            if _extent(cand) <= max_extent:
                group, used[j] = cand, True
        if group.area >= 0.25 * core_area and _extent(group) >= lo * diameter:
            cores.append(group)
    return _merge_within_cell(cores, max_extent)


def _merge_within_cell(cores: list[_Blob], max_extent: float) -> list[_Blob]:
    """Merge pieces of one core (halves of a cracked or pale core): closest pairs whose union is core-sized."""
    cores = list(cores)
    while len(cores) > 1:
        xy = np.array([[c.cx, c.cy] for c in cores])
        dist = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
        np.fill_diagonal(dist, np.inf)
        best = None
        for i, j in zip(*np.nonzero(dist < max_extent), strict=True):
            if i < j and _extent(cores[i].merged(cores[j])) <= max_extent:
                if best is None or dist[i, j] < dist[best]:
                    best = (i, j)
        if best is None:
            break
        i, j = best
        cores[i] = cores[i].merged(cores[j])
        del cores[j]
    return cores


# -- grid labels -----------------------------------------------------------------------------------------

def _grid_angle(centres: np.ndarray, diameter: float) -> float:
    """The grid's rotation (radians, within +-45 degrees) from nearest-neighbour directions."""
    if len(centres) < 3:
        return 0.0
    d = centres[:, None, :] - centres[None, :, :]
    dist = np.hypot(d[..., 0], d[..., 1])
    np.fill_diagonal(dist, np.inf)
    nn = np.argmin(dist, axis=1)
    vec = centres[nn] - centres
    ok = dist[np.arange(len(centres)), nn] < 3.0 * diameter
    if not ok.any():
        return 0.0
    ang = np.arctan2(vec[ok, 1], vec[ok, 0])
    # fold to (-45, 45] degrees; average on the 4-fold circle to survive the wrap-around
    return float(np.angle(np.mean(np.exp(4j * ang))) / 4.0)


def _cluster_1d(values: np.ndarray, gap: float) -> tuple[np.ndarray, np.ndarray]:
    """Cluster sorted-by-value points where consecutive values differ by more than `gap`.

    Returns (cluster index of each value, cluster means in ascending order)."""
    order = np.argsort(values)
    idx = np.empty(len(values), dtype=int)
    k = 0
    for pos, i in enumerate(order):
        if pos and values[i] - values[order[pos - 1]] > gap:
            k += 1
        idx[i] = k
    means = np.array([values[idx == j].mean() for j in range(k + 1)])
    return idx, means


def _line_numbers(means: np.ndarray) -> np.ndarray:
    """Grid numbers of cluster means: consecutive, except where a whole line is clearly missing."""
    n = len(means)
    if n < 3:
        return np.arange(n)
    steps = np.diff(means)
    base = np.median(steps[steps <= 1.5 * steps.min()])
    ratios = steps / base
    if np.all(np.abs(ratios - np.round(ratios)) < 0.25) and np.all(np.round(ratios) >= 1):
        return np.concatenate([[0], np.cumsum(np.round(ratios).astype(int))])
    return np.arange(n)


def _assign_grid(blobs: list[_Blob], diameter: float) -> list[tuple[int, int, _Blob]]:
    """(row, col, blob) for each core; cores falling in the same grid cell are merged."""
    centres = np.array([[b.cx, b.cy] for b in blobs])
    theta = _grid_angle(centres, diameter)
    c, s = math.cos(-theta), math.sin(-theta)
    rel = centres - centres.mean(axis=0)
    rot = np.stack([rel[:, 0] * c - rel[:, 1] * s, rel[:, 0] * s + rel[:, 1] * c], axis=1)
    row_idx, row_means = _cluster_1d(rot[:, 1], 0.5 * diameter)
    col_idx, col_means = _cluster_1d(rot[:, 0], 0.5 * diameter)
    row_no, col_no = _line_numbers(row_means), _line_numbers(col_means)
    cells: dict[tuple[int, int], _Blob] = {}
    for b, r, k in zip(blobs, row_idx, col_idx, strict=True):
        key = (int(row_no[r]), int(col_no[k]))
        cells[key] = cells[key].merged(b) if key in cells else b
    log.debug("grid angle %.2f deg, %d rows, %d columns", math.degrees(theta), len(row_means), len(col_means))
    return [(r, k, b) for (r, k), b in sorted(cells.items())]


# -- refinement ----------------------------------------------------------------------------------------

def _refine_level(source: SlideSource, diameter: float, mask_ds: float) -> int | None:
    """The level to re-measure cores on, or None when no level is usefully finer than the mask."""
    if diameter / mask_ds >= REFINE_BELOW_MASK_PX:
        return None
    level = source.best_level_for_downsample(2.0 * max(1.0, diameter / REFINE_PX))
    return level if source.level_downsamples[level] * 1.4 <= mask_ds else None


def _refine(source: SlideSource, level: int, blob: _Blob, threshold: float, low: float) -> _Blob:
    """Re-measure a core on a finer level: tissue inside the coarse box (plus a margin)."""
    size = max(blob.x1 - blob.x0, blob.y1 - blob.y0)
    ds = source.level_downsamples[level]
    margin = 0.15 * size
    lvl_x0 = math.floor((blob.x0 - margin) / ds)
    lvl_y0 = math.floor((blob.y0 - margin) / ds)
    l0_x, l0_y = lvl_x0 * ds, lvl_y0 * ds
    lvl_w = max(1, math.ceil((blob.x1 + margin) / ds) - lvl_x0)
    lvl_h = max(1, math.ceil((blob.y1 + margin) / ds) - lvl_y0)
    rgb = source.read_region(level, int(math.ceil(l0_x)), int(math.ceil(l0_y)), lvl_w, lvl_h)
    m = hysteresis(tissueness(rgb, blur_sigma=0.6), min(low, threshold), threshold).astype(np.uint8)
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
    m = cv2.morphologyEx(cv2.morphologyEx(m, cv2.MORPH_CLOSE, k, iterations=2), cv2.MORPH_OPEN, k)
    lab, n = ndi.label(m)
    if n == 0:
        return blob
    # keep pieces whose centre lies in the coarse box
    rows, cols = np.indices(lab.shape)
    count = np.maximum(np.bincount(lab.ravel(), minlength=n + 1)[1:], 1)
    cy = np.bincount(lab.ravel(), rows.ravel(), minlength=n + 1)[1:] / count
    cx = np.bincount(lab.ravel(), cols.ravel(), minlength=n + 1)[1:] / count
    gx, gy = l0_x + (cx + 0.5) * ds, l0_y + (cy + 0.5) * ds
    inside = (gx >= blob.x0) & (gx <= blob.x1) & (gy >= blob.y0) & (gy <= blob.y1)
    keep = np.isin(lab, np.nonzero(inside)[0] + 1)
    if not keep.any():
        return blob
    rr, cc = np.nonzero(keep)
    area = float(rr.size) * ds * ds
    if not 0.6 <= area / blob.area <= 1.6:
        return blob
    return _Blob(l0_x + cc.min() * ds, l0_y + rr.min() * ds, l0_x + (cc.max() + 1) * ds,
                 l0_y + (rr.max() + 1) * ds, l0_x + (cc.mean() + 0.5) * ds, l0_y + (rr.mean() + 0.5) * ds,
                 area, blob.round)


# -- public API -------------------------------------------------------------------------------------------

def _downsample_for(source: SlideSource, expected_diameter_um: float | None) -> float:
    """Mask downsample: ~64 px across a core when its size is known, else the tissue-mask default."""
    if expected_diameter_um and source.mpp:
        return float(min(DEFAULT_DOWNSAMPLE, max(1.0, expected_diameter_um / source.mpp / 64.0)))
    return DEFAULT_DOWNSAMPLE


def find_cores(source: SlideSource, *, expected_diameter_um: float | None = None,
               tissue: TissueMask | None = None, refine: bool = True) -> tuple[list[Core], TissueMask, int]:
    """Dearray and also return the tissue mask used and the number of round blobs among the cores."""
    tm = tissue or tissue_mask(source, target_downsample=_downsample_for(source, expected_diameter_um))
    blobs = _blobs(tm)
    if not blobs:
        return [], tm, 0
    diameter = None
    if expected_diameter_um and source.mpp:
        diameter = expected_diameter_um / source.mpp
        cores = _assemble(blobs, diameter)
    else:
        diameter = _typical_diameter(blobs)
        cores = _assemble(blobs, diameter) if diameter else []
        for _ in range(3):
            # fragments shrink the first estimate: measure again on the assembled cores
            assembled = float(np.median([_extent(c) for c in cores])) if cores else 0.0
            if not diameter or assembled <= 1.1 * diameter:
                break
            diameter = assembled
            cores = _assemble(blobs, diameter)
    if not cores:
        # no round cores: the whole tissue is one core (a core photograph, cropped or broken)
        union = blobs[0]
        for b in blobs[1:]:
            union = union.merged(b)
        cores, n_round = [union], 0
        diameter = max(union.x1 - union.x0, union.y1 - union.y0)
    else:
        n_round = sum(b.round for b in cores)
    level = _refine_level(source, diameter, tm.downsample) if refine else None
    if level is not None:
        cores = [_refine(source, level, b, tm.threshold, tm.low_threshold or tm.threshold) for b in cores]
    l0_w, l0_h = source.dimensions
    out = []
    for r, k, b in _assign_grid(cores, diameter):
        x0, y0 = max(0, int(round(b.x0))), max(0, int(round(b.y0)))
        x1, y1 = min(l0_w, int(round(b.x1))), min(l0_h, int(round(b.y1)))
        out.append(Core(core_id(r, k), r, k, (x0, y0, x1 - x0, y1 - y0), (float(b.cx), float(b.cy)),
                        float(0.25 * ((b.x1 - b.x0) + (b.y1 - b.y0)))))
    return out, tm, n_round


def dearray(source: SlideSource, *, expected_diameter_um: float | None = None,
            tissue: TissueMask | None = None, refine: bool = True) -> list[Core]:
    """Find the TMA cores of a slide with grid labels (row letter, column number); one core for a core image."""
    return find_cores(source, expected_diameter_um=expected_diameter_um, tissue=tissue, refine=refine)[0]


def is_tma(source: SlideSource, *, tissue: TissueMask | None = None) -> bool:
    """True when the slide holds at least two round, similar cores that make up most of its tissue."""
    cores, tm, n_round = find_cores(source, tissue=tissue, refine=False)
    return tma_verdict(cores, tm, n_round, source.dimensions)


def tma_verdict(cores: list[Core], tm: TissueMask, n_round: int, l0_dims: tuple[int, int]) -> bool:
    """The `is_tma` rule on an already computed dearraying."""
    if len(cores) < 2 or n_round < 2:
        return False
    diam = np.array([2 * c.l0_radius for c in cores])
    if np.median(diam) > 0.5 * min(l0_dims):
        return False
    if diam.std() / diam.mean() > 0.35:
        return False
    core_area = sum(math.pi * c.l0_radius**2 for c in cores)
    if core_area < 0.5 * sum(tm.areas_l0px):
        return False
    if not cores_stand_apart(cores, l0_dims):
        return False
    # fragments of one core photograph: together one round body with no glass gaps between them
    return not one_round_body(cores, tm)


#: centre distance / sum of radii below which two "cores" overlap (TMA cores stand apart on glass)
MIN_CORE_SEPARATION = 0.85
#: a core sticking out of the image by more than this fraction of its radius is cut by the border
MAX_CUT_FRACTION = 0.2


def cores_stand_apart(cores: list[Core], l0_dims: tuple[int, int]) -> bool:
    """True when no two cores overlap and most lie within the image: lobules of fat or tissue islands of a
    single field found as round blobs overlap and run off the image's edges."""
    W, H = l0_dims
    cut = 0
    for i, a in enumerate(cores):
        (x, y), r = a.l0_center, a.l0_radius
        m = MAX_CUT_FRACTION * r
        if x - r < -m or y - r < -m or x + r > W + m or y + r > H + m:
            cut += 1
        for b in cores[i + 1:]:
            d = math.hypot(x - b.l0_center[0], y - b.l0_center[1])
            if d < MIN_CORE_SEPARATION * (r + b.l0_radius):
                return False
    return cut <= len(cores) / 3


def one_round_body(cores: list[Core], tm: TissueMask) -> bool:
    """True when the cores' tissue is one round outline whose pieces touch or nearly touch (one broken core).

    TMA cores stand apart on glass in a grid, whose outline is not round (a 2 x 2 grid's convex hull fills
    at most ~0.83 of its enclosing circle); pieces of one core fill a round hull and are split only by
    cracks or watershed cuts.
    """
    ds = tm.downsample
    sel = np.zeros(tm.mask.shape, np.uint8)
    for c in cores:
        x, y, w, h = c.l0_bbox
        r0, c0 = int(y // ds), int(x // ds)
        r1, c1 = int(math.ceil((y + h) / ds)), int(math.ceil((x + w) / ds))
        sel[r0:r1, c0:c1] = 1
    sel &= tm.mask.astype(np.uint8)
    rr, cc = np.nonzero(sel)
    if rr.size < 12:
        return False
    pts = np.stack([cc, rr], axis=1).astype(np.float32)
    hull = cv2.convexHull(pts)
    (_, _), radius = cv2.minEnclosingCircle(hull)
    hull_area = cv2.contourArea(hull) + 0.5 * cv2.arcLength(hull, True) + 1.0
    roundness = hull_area / (math.pi * (radius + 0.5) ** 2)
    gap = max(1, int(round(ONE_BODY_MAX_GAP * radius)))  # dilating every piece by it bridges gaps of 2 * gap
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * gap + 1, 2 * gap + 1))
    n, lab = cv2.connectedComponents(cv2.dilate(sel, k), connectivity=8)
    sizes = np.bincount(lab[sel > 0], minlength=n)
    largest = float(sizes[1:].max()) / rr.size if n > 1 else 0.0
    log.debug("core union: roundness %.2f, largest linked piece %.2f of the tissue (gap %d px)",
              roundness, largest, gap)
    return roundness >= ONE_BODY_MIN_ROUNDNESS and largest >= 0.95
