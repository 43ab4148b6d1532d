"""Tissue mask of a slide: Otsu on a low-resolution level, morphology, watershed split into pieces.

Mask pixel (r, c) covers level-0 [c * downsample, (c + 1) * downsample) x [r * downsample, ...), the same
convention as `her2viewer.slide.region.RegionMask`.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import cv2
import numpy as np
from scipy import ndimage as ndi
from shapely.geometry import Polygon

from ..slide.base import SlideSource
from ..slide.region import RegionMask
from ..stain import DARK_MAX, not_stain

log = logging.getLogger(__name__)

#: tissue-ness threshold limits relative to the glass level (255 - min(RGB) units)
THRESHOLD_MIN_ABOVE_GLASS = 6.0
THRESHOLD_MAX_ABOVE_GLASS = 12.0
#: hysteresis: pixels at least this far above glass (or 4 glass-noise sigmas) join tissue they touch
HYSTERESIS_MIN_ABOVE_GLASS = 3.0
#: level-0 pixels per mask pixel used by default for tissue masks and TMA dearraying (one place)
DEFAULT_DOWNSAMPLE = 32.0
#: mpp assumed for area limits when the slide does not say (20x scan)
FALLBACK_MPP = 0.5


@dataclass
class TissueMask:
    """Tissue at low resolution: boolean mask, labelled pieces, their level-0 polygons and boxes."""

    mask: np.ndarray
    labels: np.ndarray
    downsample: float
    polygons: list[Polygon] = field(default_factory=list)
    regions: list[tuple[int, int, int, int]] = field(default_factory=list)
    areas_l0px: list[float] = field(default_factory=list)
    mpp: float | None = None
    threshold: float = 0.0
    low_threshold: float = 0.0
    l0_dimensions: tuple[int, int] = (0, 0)

    @property
    def empty(self) -> bool:
        """True when no tissue was found."""
        return not self.regions

    def areas_um2(self) -> list[float] | None:
        """Area of each region in square micrometres, or None when the slide has no mpp."""
        if not self.mpp:
            return None
        return [a * self.mpp * self.mpp for a in self.areas_l0px]

    def tissue_fraction(self) -> float:
        """Fraction of the mask's pixels that are tissue."""
        return float(np.count_nonzero(self.mask)) / max(1, self.mask.size)

    def as_region_mask(self) -> RegionMask:
        """The mask as a `RegionMask` anchored at level-0 (0, 0)."""
        return RegionMask(mask=self.mask, l0_origin=(0.0, 0.0), downsample=float(self.downsample))


# -- pixels ---------------------------------------------------------------------------------------------

def read_low_res(source: SlideSource, downsample: float) -> np.ndarray:
    """The whole slide as RGB at `downsample` (mask pixel grid: ceil(W / ds) x ceil(H / ds))."""
    l0_w, l0_h = source.dimensions
    out_w, out_h = max(1, math.ceil(l0_w / downsample)), max(1, math.ceil(l0_h / downsample))
    from her2viewer.slide.scaled import read_scaled

    # chunk by chunk: a single-level slide is never read whole (the box covers whole output pixels)
    return read_scaled(source, (0, 0, out_w * downsample, out_h * downsample), (out_w, out_h))


def tissueness(rgb: np.ndarray, blur_sigma: float = 1.0) -> np.ndarray:
    """Float32 map that is high on stained tissue (any stain) and low on glass, black borders and pen."""
    rgb = np.asarray(rgb, dtype=np.uint8)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    t = 255.0 - cv2.min(cv2.min(r, g), b).astype(np.float32)
    t[not_stain(rgb)] = 0.0  # the input checks' rule: dark brown 3+ DAB stays tissue, ink does not
    if blur_sigma > 0:
        t = cv2.GaussianBlur(t, (0, 0), blur_sigma)
    return t


def otsu_threshold(values: np.ndarray) -> float:
    """Otsu's threshold of a float array in 0..255 (0 when the array is constant)."""
    hist, _ = np.histogram(values, bins=256, range=(0.0, 256.0))
    hist = hist.astype(np.float64)
    total = hist.sum()
    if total == 0:
        return 0.0
    bins = np.arange(256, dtype=np.float64)
    w0 = np.cumsum(hist)
    m0 = np.cumsum(hist * bins)
    w1 = total - w0
    mu_total = m0[-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (mu_total * w0 / total - m0) ** 2 / (w0 * w1 / total)
    between[~np.isfinite(between)] = -1
    return float(np.argmax(between)) + 1.0


def tissue_thresholds(t: np.ndarray, valid: np.ndarray | None = None) -> tuple[float, float]:
    """(low, high) tissue-ness thresholds: high is Otsu kept in a band just above the glass level, low sits a
    few glass-noise sigmas above glass and catches pale stroma connected to confident tissue (hysteresis)."""
    values = t[valid] if valid is not None and valid.any() else t.ravel()
    glass = float(np.percentile(values, 1.0))
    otsu = otsu_threshold(values)
    lo, hi = glass + THRESHOLD_MIN_ABOVE_GLASS, glass + THRESHOLD_MAX_ABOVE_GLASS
    high = float(min(max(otsu, lo), hi))
    near = values[values <= glass + 0.5 * (high - glass)]
    sigma = 1.4826 * float(np.median(np.abs(near - np.median(near)))) if near.size else 0.0
    low = min(high, glass + max(HYSTERESIS_MIN_ABOVE_GLASS, 4.0 * sigma))
    return float(low), high


def tissue_threshold(t: np.ndarray, valid: np.ndarray | None = None) -> float:
    """The confident-tissue (high) threshold of `tissue_thresholds`."""
    return tissue_thresholds(t, valid)[1]


def hysteresis(t: np.ndarray, low: float, high: float) -> np.ndarray:
    """Pixels above `high`, plus pale areas above `low` that touch them.

    The pale areas are eroded by one pixel first, so the blurred rim around confident tissue (between the
    thresholds everywhere along an edge) does not grow the tissue outline."""
    strong = t > high
    weak = cv2.erode((t > low).astype(np.uint8), np.ones((3, 3), np.uint8)) | strong.astype(np.uint8)
    n, lab = cv2.connectedComponents(weak, connectivity=8)
    if n <= 1:
        return strong
    keep = np.zeros(n, bool)
    keep[np.unique(lab[strong])] = True
    keep[0] = False
    return keep[lab]


# -- morphology and splitting ---------------------------------------------------------------------------

def label_holes(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """Label the background regions enclosed by the mask (4-connected, not touching the border): (labels, n)."""
    n, lab, stats, _ = cv2.connectedComponentsWithStats((~mask).astype(np.uint8), connectivity=4)
    h, w = mask.shape
    x, y, bw, bh = stats[:, 0], stats[:, 1], stats[:, 2], stats[:, 3]
    enclosed = (x > 0) & (y > 0) & (x + bw < w) & (y + bh < h)
    enclosed[0] = False
    lut = np.zeros(n, dtype=np.int32)
    lut[enclosed] = np.arange(1, int(enclosed.sum()) + 1)
    return lut[lab], int(enclosed.sum())


def clean_mask(mask: np.ndarray, min_area_px: float, max_hole_px: float) -> np.ndarray:
    """Close small gaps, open away noise, fill holes up to `max_hole_px`, drop pieces below `min_area_px`."""
    if not mask.any():
        return mask
    k3 = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
    m = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_CLOSE, k3, iterations=2)
    m = cv2.morphologyEx(m, cv2.MORPH_OPEN, k3) > 0
    holes, n_holes = label_holes(m)
    if n_holes:
        sizes = np.bincount(holes.ravel())
        small = sizes <= max_hole_px
        small[0] = False
        m = m | small[holes]
    lab, n = ndi.label(m)
    if n:
        sizes = np.bincount(lab.ravel())
        keep = sizes >= min_area_px
        keep[0] = False
        m = keep[lab]
    return m


def fill_enclosed_holes(labels: np.ndarray, max_hole_px: float) -> np.ndarray:
    """Fill each hole (up to `max_hole_px`) that lies inside one label; holes between pieces stay glass."""
    tissue = labels > 0
    holes, n = label_holes(tissue)
    if n == 0:
        return labels
    sizes = np.bincount(holes.ravel(), minlength=n + 1)
    ring = ndi.grey_dilation(holes, size=(3, 3))
    sel = (ring > 0) & tissue
    keys = np.unique(ring[sel].astype(np.int64) * (int(labels.max()) + 1) + labels[sel])
    hole_ids = keys // (int(labels.max()) + 1)
    owner = keys % (int(labels.max()) + 1)
    counts = np.bincount(hole_ids, minlength=n + 1)
    lut = np.zeros(n + 1, dtype=labels.dtype)
    single = (counts[hole_ids] == 1) & (sizes[hole_ids] <= max_hole_px)
    lut[hole_ids[single]] = owner[single]
    out = labels.copy()
    fill = lut[holes]
    out[fill > 0] = fill[fill > 0]
    return out


def _neighbour_saddles(labels: np.ndarray, dist: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each pair of 4-adjacent labels: (a, b, highest distance value on their shared border)."""
    pairs_a, pairs_b, vals = [], [], []
    for a, b, da, db in (
        (labels[:, :-1], labels[:, 1:], dist[:, :-1], dist[:, 1:]),
        (labels[:-1, :], labels[1:, :], dist[:-1, :], dist[1:, :]),
    ):
        sel = (a != b) & (a > 0) & (b > 0)
        pairs_a.append(np.minimum(a[sel], b[sel]))
        pairs_b.append(np.maximum(a[sel], b[sel]))
        vals.append(np.minimum(da[sel], db[sel]))
    a = np.concatenate(pairs_a)
    b = np.concatenate(pairs_b)
    v = np.concatenate(vals)
    if a.size == 0:
        return a, b, v
    key = a.astype(np.int64) * (int(labels.max()) + 1) + b
    uniq, inv = np.unique(key, return_inverse=True)
    best = np.full(uniq.size, -np.inf)
    np.maximum.at(best, inv, v)
    n1 = int(labels.max()) + 1
    return (uniq // n1).astype(np.int64), (uniq % n1).astype(np.int64), best


def _is_disc_like(piece: np.ndarray) -> bool:
    """True for a compact, convex piece (one core, one blob) that watershed would not split."""
    contours, _ = cv2.findContours(piece.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if len(contours) != 1 or len(contours[0]) < 5:
        return len(contours) == 1
    area = float(np.count_nonzero(piece))
    hull = cv2.contourArea(cv2.convexHull(contours[0])) + 1e-6
    (_, _), radius = cv2.minEnclosingCircle(contours[0].astype(np.float32))
    return area / hull >= 0.9 and area / (np.pi * (radius + 0.5) ** 2) >= 0.75


def _split_piece(mask: np.ndarray, neck_ratio: float, min_area_px: float) -> np.ndarray:
    """Watershed labels 1..n of one connected piece, basins merged unless a narrow neck separates them."""
    from skimage.feature import peak_local_max
    from skimage.segmentation import watershed

    dist = cv2.distanceTransform(np.pad(mask, 1).astype(np.uint8), cv2.DIST_L2, 5)[1:-1, 1:-1]
    peaks = peak_local_max(dist, min_distance=3, labels=mask.astype(np.int32), exclude_border=False)
    if len(peaks) < 2:
        return mask.astype(np.int32)
    markers = np.zeros(mask.shape, dtype=np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    ws = watershed(-dist, markers, mask=mask).astype(np.int32)
    n = int(ws.max())
    peak = np.zeros(n + 1)
    np.maximum.at(peak, ws.ravel(), dist.ravel())
    area = np.bincount(ws.ravel(), minlength=n + 1).astype(np.float64)
    a, b, saddle = _neighbour_saddles(ws, dist)
    parent = np.arange(n + 1)

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for k in np.argsort(-saddle):
        ra, rb = find(int(a[k])), find(int(b[k]))
        if ra == rb:
            continue
        if saddle[k] >= neck_ratio * min(peak[ra], peak[rb]) or min(area[ra], area[rb]) < min_area_px:
            parent[rb] = ra
            peak[ra] = max(peak[ra], peak[rb])
            area[ra] += area[rb]
    roots = np.array([find(i) for i in range(n + 1)])
    _, relabel = np.unique(roots, return_inverse=True)
    return relabel.astype(np.int32)[ws]


def split_touching(mask: np.ndarray, *, neck_ratio: float = 0.7, min_area_px: float = 16.0) -> np.ndarray:
    """Label the mask, splitting touching pieces by watershed on the distance transform.

    Two watershed basins stay one piece unless the neck between them is narrower than `neck_ratio` times
    the smaller piece's inner radius, so irregular tissue is not shattered; basins below `min_area_px`
    join their neighbour. Compact convex pieces (single cores) skip the watershed.
    """
    cc, n_cc = ndi.label(mask)
    out = np.zeros(mask.shape, dtype=np.int32)
    next_label = 1
    for i, sl in enumerate(ndi.find_objects(cc)):
        if sl is None:
            continue
        piece = cc[sl] == i + 1
        sub = piece.astype(np.int32) if _is_disc_like(piece) else _split_piece(piece, neck_ratio, min_area_px)
        n = int(sub.max())
        view = out[sl]
        view[piece] = sub[piece] + (next_label - 1)
        next_label += n
    return out


# -- geometry ---------------------------------------------------------------------------------------------

def label_polygon(labels: np.ndarray, label: int, bbox: tuple[int, int, int, int],
                  downsample: float) -> Polygon:
    """The level-0 outline (with holes) of the largest part of `label`, simplified to about a mask pixel."""
    c0, r0, w, h = bbox
    crop = np.pad((labels[r0:r0 + h, c0:c0 + w] == label).astype(np.uint8), 1)
    contours, hierarchy = cv2.findContours(crop, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return Polygon()

    def to_l0(cnt: np.ndarray) -> np.ndarray:
        pts = cnt.reshape(-1, 2).astype(np.float64) - 1.0
        return (pts + [c0 + 0.5, r0 + 0.5]) * downsample

    hier = hierarchy[0]
    outers = [i for i in range(len(contours)) if hier[i][3] < 0]
    best = max(outers, key=lambda i: cv2.contourArea(contours[i]))
    shell = to_l0(contours[best])
    if len(shell) < 3:
        x, y = shell.mean(axis=0)
        return Polygon.from_bounds(x - downsample / 2, y - downsample / 2, x + downsample / 2,
                                   y + downsample / 2)
    holes = [to_l0(contours[i]) for i in range(len(contours)) if hier[i][3] == best and len(contours[i]) >= 3]
    poly = Polygon(shell, holes).buffer(0)
    poly = poly.simplify(downsample * 0.5, preserve_topology=True)
    if poly.geom_type == "MultiPolygon":
        poly = max(poly.geoms, key=lambda g: g.area)
    return poly


def _relabel_by_area(labels: np.ndarray) -> np.ndarray:
    """Renumber labels 1..n, largest piece first, so label k is region k - 1."""
    areas = np.bincount(labels.ravel())
    areas[0] = 0
    present = np.nonzero(areas)[0]
    order = present[np.argsort(-areas[present], kind="stable")]
    lut = np.zeros(areas.size, dtype=np.int32)
    lut[order] = np.arange(1, order.size + 1, dtype=np.int32)
    return lut[labels]


def choose_downsample(source: SlideSource, target_downsample: float, min_mask_side: int) -> float:
    """`target_downsample`, lowered so the mask's longer side has at least `min_mask_side` pixels."""
    longest = max(source.dimensions)
    return float(max(1.0, min(target_downsample, longest / float(min_mask_side))))


def tissue_mask(source: SlideSource, *, target_downsample: float = DEFAULT_DOWNSAMPLE, min_mask_side: int = 512,
                min_area_um2: float = 5000.0, max_hole_um2: float = 200_000.0, split: bool = True,
                neck_ratio: float = 0.7) -> TissueMask:
    """Find the tissue of a slide at low resolution and split it into pieces (level-0 polygons and boxes)."""
    ds = choose_downsample(source, target_downsample, min_mask_side)
    rgb = read_low_res(source, ds)
    t = tissueness(rgb, blur_sigma=0.6)
    brightest = cv2.max(cv2.max(rgb[..., 0], rgb[..., 1]), rgb[..., 2])
    darkest = cv2.min(cv2.min(rgb[..., 0], rgb[..., 1]), rgb[..., 2])
    # statistics leave out black borders and pure-white padding (areas the scanner never imaged)
    scanned = (brightest >= DARK_MAX) & (darkest < 253)
    scanned = cv2.erode(scanned.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    low, thr = tissue_thresholds(t, scanned)
    mpp = source.mpp
    px_um2 = (ds * (mpp or FALLBACK_MPP)) ** 2
    min_area_px = max(4.0, min_area_um2 / px_um2)
    max_hole_px = max(4.0, max_hole_um2 / px_um2)
    # only specks of glass are filled before splitting: larger holes may be the gaps between touching cores
    mask = clean_mask(hysteresis(t, low, thr), min_area_px, min(max_hole_px, min_area_px / 4))
    if split:
        labels = split_touching(mask, neck_ratio=neck_ratio, min_area_px=min_area_px)
    else:
        labels = ndi.label(mask)[0].astype(np.int32)
    labels = _relabel_by_area(fill_enclosed_holes(labels, max_hole_px))
    mask = labels > 0
    result = TissueMask(mask=mask, labels=labels, downsample=ds, mpp=mpp, threshold=thr, low_threshold=low,
                        l0_dimensions=tuple(source.dimensions))
    l0_w, l0_h = source.dimensions
    areas = np.bincount(labels.ravel())
    for i, sl in enumerate(ndi.find_objects(labels)):
        r0, r1, c0, c1 = sl[0].start, sl[0].stop, sl[1].start, sl[1].stop
        x0, y0 = int(c0 * ds), int(r0 * ds)
        x1, y1 = min(l0_w, int(math.ceil(c1 * ds))), min(l0_h, int(math.ceil(r1 * ds)))
        result.regions.append((x0, y0, x1 - x0, y1 - y0))
        result.areas_l0px.append(float(areas[i + 1]) * ds * ds)
        result.polygons.append(label_polygon(labels, i + 1, (c0, r0, c1 - c0, r1 - r0), ds))
    log.debug("tissue mask of %s: ds %.2f, threshold %.1f (low %.1f), %d regions, %.1f%% tissue",
              getattr(source, "path", "?"), ds, thr, low, len(result.regions), 100 * result.tissue_fraction())
    return result
