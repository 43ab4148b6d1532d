"""Cells of one image tile: nuclei from haematoxylin (threshold + watershed split), a cell and a membrane
ring around each, and the DAB optical density and completeness of every ring.

Everything here works in the tile's own pixels (`tile_x`, `tile_y`) at `px_um` micrometres per pixel;
the caller maps centres back to level-0.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage as ndi
from skimage.filters import threshold_otsu
from skimage.segmentation import find_boundaries, watershed

from ...stain import StainMatrix, not_stain, rgb_to_od
from .params import CellParams, NucleusParams


@dataclass
class TileCells:
    """Per-cell measurements of one tile (arrays of equal length; centres in tile pixels)."""

    tile_x: np.ndarray
    tile_y: np.ndarray
    area_um2: np.ndarray
    axis_ratio: np.ndarray
    hema_od: np.ndarray
    membrane_od: np.ndarray
    completeness: np.ndarray
    tumour: np.ndarray

    def __len__(self) -> int:
        return int(len(self.tile_x))

    def take(self, keep: np.ndarray) -> TileCells:
        """The cells selected by a boolean mask or index array."""
        return TileCells(*(getattr(self, f)[keep] for f in self.__dataclass_fields__))

    @classmethod
    def empty(cls) -> TileCells:
        z = np.zeros(0, np.float32)
        return cls(z, z, z, z, z, z, z, np.zeros(0, bool))


def fast_deconvolve(rgb: np.ndarray, stains: StainMatrix) -> tuple[np.ndarray, np.ndarray]:
    """Haematoxylin and DAB OD of an RGB uint8 image: `stain.deconvolve` via a 256-entry OD table and cv2."""
    lut = rgb_to_od(np.arange(256, dtype=np.uint8)[:, None]).ravel()
    od = lut[np.ascontiguousarray(rgb[..., :3])]
    inv = np.linalg.inv(stains.vectors).astype(np.float32)  # conc = od @ inv
    conc = cv2.transform(od, np.ascontiguousarray(inv[:, :2].T))
    conc[not_stain(rgb)] = 0.0  # black borders and pen hold no stain
    return np.ascontiguousarray(conc[..., 0]), np.ascontiguousarray(conc[..., 1])


def _smooth(img: np.ndarray, sigma_px: float) -> np.ndarray:
    """Gaussian blur (float32), nothing when sigma is tiny."""
    if sigma_px < 0.3:
        return img
    return cv2.GaussianBlur(img, (0, 0), sigma_px, borderType=cv2.BORDER_REFLECT)


def local_mean(img: np.ndarray, sigma_px: float) -> np.ndarray:
    """A wide Gaussian mean of a float32 image; for a large sigma computed on a 4x coarser copy (a local
    background varies slowly, and the full-size blur is the slowest step of a tile)."""
    f = int(sigma_px // 4)
    if f < 2:
        return cv2.GaussianBlur(img, (0, 0), sigma_px, borderType=cv2.BORDER_REFLECT)
    h, w = img.shape[:2]
    small = cv2.resize(img, (max(1, w // f), max(1, h // f)), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), sigma_px / f, borderType=cv2.BORDER_REFLECT)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """A boolean mask with its holes filled (what cannot be reached from the border by background)."""
    m = (np.asarray(mask) > 0).astype(np.uint8)
    h, w = m.shape
    pad = np.zeros((h + 2, w + 2), np.uint8)
    pad[1:-1, 1:-1] = m
    flood = np.zeros((h + 4, w + 4), np.uint8)
    cv2.floodFill(pad, flood, (0, 0), 2)
    return pad[1:-1, 1:-1] != 2


def hema_threshold(hema: np.ndarray, p: NucleusParams, px_um: float) -> float:
    """Otsu threshold of log smoothed haematoxylin OD over the stained pixels, at least `min_hema_od`.

    In log space pale vesicular tumour nuclei separate from the background as well as dark lymphocytes
    do, so a few lymphocytes cannot drag the threshold above the tumour nuclei.
    """
    h = _smooth(hema.astype(np.float32), p.smooth_um / px_um).ravel()
    h = h[h > p.min_hema_od * 0.25]
    if h.size < 100:
        return p.min_hema_od
    return max(float(np.exp(threshold_otsu(np.log(h)))), p.min_hema_od)


def segment_nuclei(hema: np.ndarray, threshold: float, p: NucleusParams, px_um: float) -> np.ndarray:
    """Label image of nuclei: smoothed haematoxylin above threshold, touching nuclei split by watershed."""
    h = _smooth(hema.astype(np.float32), p.smooth_um / px_um)
    if p.threshold == "local":
        # Above the region's threshold and above the neighbourhood's mean: nuclei stand out from a
        # haematoxylin-tinted cytoplasm even where the cytoplasm alone would pass a global threshold.
        local = local_mean(h, p.local_block_um / 4.0 / px_um)
        fg = (h > threshold) & (h > local * p.local_factor)
    else:
        fg = h > threshold
    fg = fill_holes(cv2.morphologyEx(fg.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)))
    if not fg.any():
        return np.zeros(hema.shape, np.int32)
    dist = cv2.distanceTransform(fg.astype(np.uint8), cv2.DIST_L2, 5)
    dist = _smooth(dist, 1.0)
    min_d = max(2, int(round(p.split_min_distance_um / px_um)))
    # Markers: local maxima of the distance map within min_d (a plateau is one marker), plus one marker
    # for each blob too small to hold such a maximum.
    k = 2 * min_d + 1
    peak = (dist >= cv2.dilate(dist, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))) & fg & (dist > 0.5)
    markers, n_peaks = ndi.label(peak, structure=np.ones((3, 3), bool))
    blobs, n_blobs = ndi.label(fg)
    has_peak = np.zeros(n_blobs + 1, bool)
    has_peak[blobs[peak]] = True
    missing = np.flatnonzero(~has_peak[1:]) + 1
    if missing.size:
        com = ndi.center_of_mass(fg, blobs, missing)
        rr = np.clip(np.round([c[0] for c in com]).astype(int), 0, hema.shape[0] - 1)
        cc = np.clip(np.round([c[1] for c in com]).astype(int), 0, hema.shape[1] - 1)
        ok = fg[rr, cc]
        markers[rr[ok], cc[ok]] = np.arange(n_peaks + 1, n_peaks + 1 + ok.sum(), dtype=np.int32)
    return watershed(-dist, markers, mask=fg).astype(np.int32)


def expand_labels_fast(labels: np.ndarray, distance_px: float) -> np.ndarray:
    """Grow labels into the background up to `distance_px`, each pixel to its nearest label (like
    skimage's `expand_labels`, through OpenCV's labelled distance transform)."""
    fg = labels > 0
    if not fg.any():
        return labels
    dist, nearest = cv2.distanceTransformWithLabels((~fg).view(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_5,
                                                    labelType=cv2.DIST_LABEL_PIXEL)
    lut = np.zeros(int(fg.sum()) + 1, np.int32)
    lut[1:] = labels[fg]  # OpenCV numbers the zero pixels in raster order from 1
    out = lut[nearest]
    out[dist > distance_px] = 0
    return out


def _moments(labels: np.ndarray, n: int, weights: np.ndarray) -> tuple[np.ndarray, ...]:
    """Area, centroid, axis ratio and mean of `weights` per label 1..n (vectorised)."""
    rr, cc = np.nonzero(labels)
    lab = labels[rr, cc]
    area = np.bincount(lab, minlength=n + 1)[1:].astype(np.float64)
    a = np.maximum(area, 1)
    cy = np.bincount(lab, rr, n + 1)[1:] / a
    cx = np.bincount(lab, cc, n + 1)[1:] / a
    dy, dx = rr - cy[lab - 1], cc - cx[lab - 1]
    myy = np.bincount(lab, dy * dy, n + 1)[1:] / a + 1 / 12
    mxx = np.bincount(lab, dx * dx, n + 1)[1:] / a + 1 / 12
    mxy = np.bincount(lab, dx * dy, n + 1)[1:] / a
    root = np.sqrt(((mxx - myy) / 2) ** 2 + mxy**2)
    l1, l2 = (mxx + myy) / 2 + root, np.maximum((mxx + myy) / 2 - root, 0)
    ratio = np.sqrt(l2 / np.maximum(l1, 1e-9))
    mean_w = np.bincount(lab, weights[rr, cc], n + 1)[1:] / a
    return area, cx, cy, ratio, mean_w


def ring_measurements(cells: np.ndarray, nuclei: np.ndarray, cx: np.ndarray, cy: np.ndarray, dab: np.ndarray,
                      n: int, p: CellParams, faint: float, px_um: float) -> tuple[np.ndarray, np.ndarray]:
    """Membrane DAB OD (median, or mean, over stained sectors) and completeness (stained sector fraction).

    The ring is the outer `ring_um` band of each expanded cell, outside its nucleus. It is cut into
    `sectors` angular sectors around the nucleus centre. A sector's value is the `sector_percentile` of
    its pixels' DAB OD (`sector_stat="percentile"`), or the highest of its radial 1-pixel ring means
    (`"radial"`: the membrane wherever it runs through the band, averaged along its length). A sector is
    stained when its value is >= `faint` and >= `relative_stained` x the cell's brightest sector. The
    membrane OD is the median (`intensity_stat`) of the stained sectors: what most of the stained ring
    shows, as a pathologist reads the intensity, so a faint cell with one intense neighbour stays faint.
    """
    boundary = find_boundaries(cells, mode="inner")
    near = cv2.distanceTransform((~boundary).astype(np.uint8), cv2.DIST_L2, 3) < p.ring_um / px_um
    ring = near & (cells > 0) & (nuclei == 0)
    rr, cc = np.nonzero(ring)
    lab = cells[rr, cc].astype(np.int64) - 1
    val = _smooth(dab.astype(np.float32), p.dab_smooth_um / px_um)[rr, cc]
    s = p.sectors
    dy, dx = rr - cy[lab], cc - cx[lab]
    sector = np.minimum(((np.arctan2(dy, dx) + np.pi) / (2 * np.pi) * s).astype(np.int64), s - 1)
    rad = np.hypot(dy, dx).astype(np.int64)
    if p.sector_stat == "percentile":
        group = lab * s + sector
        order = np.lexsort((val, group))
        count = np.bincount(group, minlength=n * s)
        start = np.concatenate([[0], np.cumsum(count)[:-1]])
        present = count >= 3
        idx = start + np.floor((count - 1).clip(0) * p.sector_percentile / 100.0).astype(np.int64)
        sector_val = np.zeros(n * s, np.float32)
        sector_val[present] = val[order][idx[present]]
        sector_val, present = sector_val.reshape(n, s), present.reshape(n, s)
    else:
        nr = int(rad.max()) + 1 if rad.size else 1
        key = (lab * s + sector) * nr + rad
        count = np.bincount(key, minlength=n * s * nr).reshape(n, s, nr)
        total = np.bincount(key, val, minlength=n * s * nr).reshape(n, s, nr)
        ok = count >= 2
        radial = np.where(ok, total / np.maximum(count, 1), -np.inf)
        present = ok.any(2)
        sector_val = np.where(present, radial.max(2), 0.0).astype(np.float32)
    if p.background == "ring" and n:
        # the cell's diffuse DAB: a low percentile of its whole ring (membrane is a thin line above it)
        order_c = np.lexsort((val, lab))
        count_c = np.bincount(lab, minlength=n)
        start_c = np.concatenate([[0], np.cumsum(count_c)[:-1]])
        idx_c = start_c + np.floor((count_c - 1).clip(0) * p.background_percentile / 100.0).astype(np.int64)
        bg = np.zeros(n, np.float32)
        has = count_c > 0
        bg[has] = val[order_c][idx_c[has]]
        sector_val = np.where(present, np.maximum(sector_val - np.maximum(bg, 0.0)[:, None], 0.0), 0.0)
    stained = present & (sector_val >= faint)
    n_stained = stained.sum(1)
    if p.relative_stained > 0:
        # a sector is stained relative to the cell's own membrane: blur and a neighbour's intense line spill
        # a little DAB into the unstained sectors of an intensely but incompletely stained cell
        peak = np.where(stained, sector_val, -np.inf).max(1, initial=-np.inf)
        stained &= sector_val >= (p.relative_stained * np.where(n_stained > 0, peak, 0.0))[:, None]
        n_stained = stained.sum(1)
    n_present = present.sum(1)
    completeness = n_stained / np.maximum(n_present, 1)
    if p.intensity_stat == "median":
        # only rows with a stained sector (an all-NaN row warns, and catch_warnings is not thread-safe)
        has = n_stained > 0
        mean_stained = np.zeros(n, np.float64)
        if has.any():
            mean_stained[has] = np.nanmedian(np.where(stained[has], sector_val[has], np.nan), axis=1)
    else:
        mean_stained = (sector_val * stained).sum(1) / np.maximum(n_stained, 1)
    mean_all = (sector_val * present).sum(1) / np.maximum(n_present, 1)
    membrane = np.where(n_stained > 0, mean_stained, mean_all)
    return membrane.astype(np.float32), completeness.astype(np.float32)


def analyse_tile(rgb: np.ndarray, stains: StainMatrix, threshold: float, px_um: float,
                 nucleus: NucleusParams, cell: CellParams, faint: float) -> TileCells:
    """Detect the cells of an RGB tile and measure their membranes."""
    hema, dab = fast_deconvolve(rgb, stains)
    labels = segment_nuclei(hema, threshold, nucleus, px_um)
    n = int(labels.max())
    if n == 0:
        return TileCells.empty()
    area, cx, cy, ratio, hmean = _moments(labels, n, hema)
    area_um2 = area * px_um * px_um
    keep = (area_um2 >= nucleus.min_area_um2) & (area_um2 <= nucleus.max_area_um2)
    if not keep.any():
        return TileCells.empty()
    # Relabel the kept nuclei 1..m so that cells and arrays agree.
    lut = np.zeros(n + 1, np.int32)
    lut[1:][keep] = np.arange(1, int(keep.sum()) + 1, dtype=np.int32)
    labels = lut[labels]
    area_um2, cx, cy, ratio, hmean = area_um2[keep], cx[keep], cy[keep], ratio[keep], hmean[keep]
    m = int(keep.sum())
    cells = expand_labels_fast(labels, cell.expand_um / px_um)
    membrane, completeness = ring_measurements(cells, labels, cx, cy, dab, m, cell, faint, px_um)
    tumour = tumour_rule(area_um2, ratio, hmean, nucleus)
    return TileCells(cx.astype(np.float32), cy.astype(np.float32), area_um2.astype(np.float32),
                     ratio.astype(np.float32), hmean.astype(np.float32), membrane, completeness, tumour)


def tumour_rule(area_um2: np.ndarray, axis_ratio: np.ndarray, hema_od: np.ndarray,
                p: NucleusParams) -> np.ndarray:
    """Tumour cells: big enough, not elongated (stroma), not small-and-dark (lymphocytes)."""
    if area_um2.size == 0:
        return np.zeros(0, bool)
    ref = float(np.median(hema_od))
    lymph = (area_um2 < p.lymphocyte_max_area_um2) & (hema_od >= p.lymphocyte_darkness * ref)
    return (area_um2 >= p.tumour_min_area_um2) & (axis_ratio >= p.tumour_min_axis_ratio) & ~lymph
