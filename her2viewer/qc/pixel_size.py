"""The slide's pixel size with its provenance, and its estimate from the size of the nuclei.

Precedence: a size the user set (`user`), else the file's metadata (`file`), else an estimate from the
image (`estimated`), else `ASSUMED_MPP` (`assumed`, always shown as such). `resolve_pixel_size` decides once
per slide and sets it on the source (`SlideBase.set_pixel_size`), so every scorer, the tissue finder, the
patch export, the scale bar and the report use the same value.

Estimate: nuclei are the haematoxylin-dense blobs of the tissue (Otsu on the haematoxylin OD of tissue
pixels), smoothed so that a nucleus's chromatin is one blob, and kept only where the blob is convex
(solidity >= 0.9). Their size is measured by granulometry: the disk radius at which a morphological opening keeps
half of the nucleus area (`r50`). Touching nuclei still have the width of one nucleus, so clumps do not
inflate it. The crops are resampled until the nuclei measure `TARGET_R` px, so every step acts at the
same physical scale and the estimate follows the scan's magnification. mpp = `NUCLEUS_R50_UM` / r50. The constant is the
nuclei's r50 in micrometres measured on images of known pixel size (`benchmarks/bench_qc.py`).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import cv2
import numpy as np

from ..slide.base import SlideSource
from ..stain import StainMatrix, deconvolve, not_stain, rgb_to_od

log = logging.getLogger(__name__)

ASSUMED_MPP = 0.5
MPP_RANGE = (0.1, 2.0)
#: pixel sizes of the scans HER2 is scored on (40x to 10x); an estimate outside is less certain
USUAL_MPP = (0.2, 1.2)
#: the nuclei's granulometric half-width (um): half the opening radius is lost at this radius
NUCLEUS_R50_UM = 2.6
#: relative uncertainty of that constant between tissues and labs (nucleus sizes vary)
CALIBRATION_REL_SD = 0.15
CROP_PX = 768
MAX_CROPS = 6
TISSUE_OD = 0.2
MIN_NUCLEUS_PX = 400  # nucleus-mask pixels (at the measuring scale) below which nothing is estimated
TARGET_R = 6.0   # px: the scale at which the nuclei are measured
FACTOR_RANGE = (1 / 16, 8.0)
MAX_ITER = 6
MAX_RESAMPLED_PX = 1536  # side of a crop at the measuring scale, at most
#: blur (px at the measuring scale) that joins a nucleus's chromatin into one blob
SMOOTH_SIGMA = 1.5
MIN_SOLIDITY = 0.9
#: nuclei (in nucleus-sized areas at the measuring scale) an estimate needs
MIN_NUCLEI = 25


@dataclass(frozen=True)
class PixelSize:
    """A pixel size (um per level-0 pixel) and where it came from; `rel_uncertainty` for estimates."""

    mpp: float
    source: str  # "user" | "file" | "estimated" | "assumed"
    rel_uncertainty: float | None = None
    detail: str = ""

    def describe(self) -> str:
        """E.g. '0.46 um/px (estimated +-18%)'."""
        text = f"{self.mpp:.3g} \u00b5m/px ({self.source}"
        if self.rel_uncertainty is not None:
            text += f" \u00b1{100 * self.rel_uncertainty:.0f}%"
        return text + ")"


@dataclass(frozen=True)
class MppEstimate:
    """An estimated pixel size with its relative uncertainty and what it rests on."""

    mpp: float
    rel_uncertainty: float
    r50_px: float
    n_crops: int

    @property
    def clamped(self) -> bool:
        return not MPP_RANGE[0] < self.mpp < MPP_RANGE[1]


def _tissue_crops(source: SlideSource, crop: int, max_crops: int) -> list[tuple[int, int]]:
    """Top-left corners (level 0) of up to `max_crops` crops of `crop` px centred on tissue."""
    W, H = source.dimensions
    if W <= crop * 1.5 and H <= crop * 1.5:
        return [(0, 0)]
    thumb = source.thumbnail(256)
    od = rgb_to_od(thumb).sum(-1)
    tissue = (od > TISSUE_OD) & ~not_stain(thumb)
    sx, sy = W / thumb.shape[1], H / thumb.shape[0]
    half_c, half_r = crop / 2 / sx, crop / 2 / sy
    # crops wholly inside the image, ranked by how much tissue they hold (integral image)
    ii = cv2.integral(tissue.astype(np.uint8))
    rr, cc = np.nonzero(tissue)
    if len(rr) == 0:
        return []
    rng = np.random.default_rng(0)
    pick = rng.choice(len(rr), min(len(rr), 400), replace=False)
    cands = []
    for r, c in zip(rr[pick], cc[pick], strict=True):
        r0, r1 = int(max(0, r - half_r)), int(min(tissue.shape[0], r + half_r + 1))
        c0, c1 = int(max(0, c - half_c)), int(min(tissue.shape[1], c + half_c + 1))
        frac = (ii[r1, c1] - ii[r0, c1] - ii[r1, c0] + ii[r0, c0]) / max(1, (r1 - r0) * (c1 - c0))
        x = int(np.clip((c + 0.5) * sx - crop / 2, 0, max(0, W - crop)))
        y = int(np.clip((r + 0.5) * sy - crop / 2, 0, max(0, H - crop)))
        cands.append((frac, x, y))
    cands.sort(reverse=True)
    chosen: list[tuple[int, int]] = []
    for _, x, y in cands:
        if all(abs(x - a) >= crop or abs(y - b) >= crop for a, b in chosen):
            chosen.append((x, y))
        if len(chosen) >= max_crops:
            break
    return chosen


def nucleus_mask(rgb: np.ndarray, stains: StainMatrix | None = None) -> np.ndarray | None:
    """Boolean mask of the nucleus-like blobs of the tissue's haematoxylin (above Otsu's threshold), or None
    with too little tissue."""
    from skimage.filters import threshold_otsu

    dark = not_stain(rgb)
    hema = deconvolve(rgb, stains)[..., 0]
    hema[dark] = 0.0  # a black border's or pen's OD would spill into the tissue beside it through the blur
    hema = cv2.GaussianBlur(hema, (0, 0), SMOOTH_SIGMA)
    tissue = (rgb_to_od(rgb).sum(-1) > TISSUE_OD) & ~dark
    values = hema[tissue]
    if values.size < 2000 or float(values.max() - values.min()) < 0.05:
        return None
    return _convex_blobs((hema > threshold_otsu(values)) & tissue)


def _convex_blobs(mask: np.ndarray) -> np.ndarray:
    """The blobs that are nucleus-like in shape (solidity >= MIN_SOLIDITY), holes filled: lymphocyte
    aggregates, stroma strands and merged cytoplasm are not."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    keep = []
    for c in contours:
        hull = cv2.contourArea(cv2.convexHull(c))
        # a blob of a few pixels has no measurable shape: keep it (the opening removes it anyway)
        if hull < 4.0 or cv2.contourArea(c) / hull >= MIN_SOLIDITY:
            keep.append(c)
    out = np.zeros(mask.shape, np.uint8)
    cv2.drawContours(out, keep, -1, 1, thickness=cv2.FILLED)
    return out.astype(bool)


def pattern_spectrum(mask: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """Area kept by a morphological opening with a disk of each radius (pixels)."""
    return pattern_spectra([mask], radii)[0]


def pattern_spectra(masks: list[np.ndarray], radii: np.ndarray) -> list[np.ndarray]:
    """`pattern_spectrum` of each mask, radius by radius, stopping once every mask has lost more than half
    its area (so has their pool): larger radii cannot change any r50 (their entries stay 0)."""
    ms = [m.astype(np.uint8) for m in masks]
    out = [np.zeros(len(radii), np.float64) for _ in ms]
    for i, r in enumerate(radii):
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * int(r) + 1, 2 * int(r) + 1))
        for m, spec in zip(ms, out, strict=True):
            spec[i] = float(np.count_nonzero(cv2.morphologyEx(m, cv2.MORPH_OPEN, k)))
        if all(spec[i] < 0.5 * spec[0] or spec[0] == 0 for spec in out):
            break
    return out


def r50_from_spectrum(radii: np.ndarray, areas: np.ndarray) -> float | None:
    """The radius at which the opening keeps half the area kept at radius 1 (None when undefined)."""
    if areas[0] <= 0:
        return None
    frac = areas / areas[0]
    below = np.nonzero(frac < 0.5)[0]
    if len(below) == 0 or below[0] == 0:
        return None
    i = int(below[0])
    return float(np.interp(0.5, [frac[i], frac[i - 1]], [radii[i], radii[i - 1]]))


def _resample(rgb: np.ndarray, factor: float) -> np.ndarray:
    if factor == 1.0:
        return rgb
    interp = cv2.INTER_AREA if factor < 1 else cv2.INTER_CUBIC
    return cv2.resize(rgb, None, fx=factor, fy=factor, interpolation=interp)


RADII = np.arange(1, 17)


def _pooled_r50(crops: list[np.ndarray], factor: float, stains: StainMatrix | None
                ) -> tuple[float | None, list[float], float]:
    """(pooled r50 at the resampled scale or None, r50 per crop in original px, nucleus-mask area)."""
    masks = [m for m in (nucleus_mask(_resample(_fit(rgb, factor), factor), stains) for rgb in crops)
             if m is not None and m.any()]
    specs = pattern_spectra(masks, RADII)
    per_crop = [r / factor for r in (r50_from_spectrum(RADII, sp) for sp in specs) if r is not None]
    pooled = np.sum(specs, axis=0) if specs else np.zeros(len(RADII))
    return r50_from_spectrum(RADII, pooled), per_crop, float(pooled[0])


def _fit(rgb: np.ndarray, factor: float) -> np.ndarray:
    """The centre of a crop small enough that it measures at most MAX_RESAMPLED_PX a side after resampling."""
    side = int(MAX_RESAMPLED_PX / max(factor, 1e-6))
    h, w = rgb.shape[:2]
    if h <= side and w <= side:
        return rgb
    y, x = max(0, (h - side) // 2), max(0, (w - side) // 2)
    return rgb[y:y + side, x:x + side]


def measure_r50(crops: list[np.ndarray], stains: StainMatrix | None = None) -> tuple[float, list[float]] | None:
    """Nuclear r50 in px of the crops (pooled) and per crop. The crops are resampled until the nuclei
    measure `TARGET_R` px, so that smoothing and thresholds act at the same physical scale whatever the
    scan's magnification: the fixed point is what is reported, in the crops' own pixels."""
    factor = 1.0
    for _ in range(MAX_ITER):
        r, per_crop, area = _pooled_r50(crops, factor, stains)
        if area < MIN_NUCLEUS_PX * min(1.0, factor * factor):
            return None
        if r is None:  # even the largest disk keeps half the area: look at it coarser
            if factor <= FACTOR_RANGE[0]:
                return None
            factor = max(FACTOR_RANGE[0], factor / 2)
            continue
        new = float(np.clip(factor * TARGET_R / r, *FACTOR_RANGE))
        if abs(new / factor - 1) < 0.04 or new == factor:
            if area < MIN_NUCLEI * math.pi * TARGET_R ** 2:
                return None     # too few nuclei at the scale they were measured at: no estimate
            return r / factor, per_crop
        factor = new
    return None if r is None else (r / factor, per_crop)


def estimate_mpp(source: SlideSource, stains: StainMatrix | None = None) -> MppEstimate | None:
    """The pixel size estimated from the size of the nuclei, or None when there are too few to tell."""
    corners = _tissue_crops(source, CROP_PX, MAX_CROPS)
    if not corners:
        return None
    W, H = source.dimensions
    crops = [source.read_region(0, x, y, min(CROP_PX, W - x), min(CROP_PX, H - y)) for x, y in corners]
    got = measure_r50(crops, stains)
    if got is None:
        return None
    r50, per_crop = got
    mpp = NUCLEUS_R50_UM / r50
    spread = 0.0
    if len(per_crop) >= 2:
        logs = np.log(per_crop)
        spread = float(np.std(logs, ddof=1) / math.sqrt(len(logs)))
    rel = float(math.sqrt(CALIBRATION_REL_SD ** 2 + spread ** 2))
    if mpp > USUAL_MPP[1] or mpp < USUAL_MPP[0]:
        # measured on real IHC: estimates this far out are mostly pale nuclei read by their darkest specks
        # (or few nuclei at all), not coarse scans; say so by a wider uncertainty
        rel *= 2.0
    est = MppEstimate(float(np.clip(mpp, *MPP_RANGE)), rel, r50, len(crops))
    log.debug("%s: nuclear r50 %.2f px over %d crop(s) -> %.3f um/px", getattr(source, "path", "slide"),
              r50, len(crops), est.mpp)
    return est


def resolve_pixel_size(source: SlideSource, user_mpp: float | None = None,
                       stains: StainMatrix | None = None) -> PixelSize:
    """The pixel size every consumer of this slide uses (user > file > estimated > assumed), set on the
    source; an earlier resolution (e.g. the viewer's) is kept unless the user gives a new value."""
    if user_mpp is not None:
        if not (isinstance(user_mpp, (int, float)) and math.isfinite(user_mpp)
                and MPP_RANGE[0] / 10 <= user_mpp <= MPP_RANGE[1] * 10):
            raise ValueError(f"pixel size {user_mpp!r} um/px is not plausible (use 0.01-20)")
        _set(source, float(user_mpp), "user")
        return PixelSize(float(user_mpp), "user")
    current = getattr(source, "mpp_source", None)
    if current in ("user", "file", "estimated", "assumed") and source.mpp:
        return PixelSize(float(source.mpp), current, getattr(source, "mpp_uncertainty", None))
    est = estimate_mpp(source, stains)
    if est is not None:
        _set(source, est.mpp, "estimated", est.rel_uncertainty)
        return PixelSize(est.mpp, "estimated", est.rel_uncertainty,
                         f"from the size of the nuclei (r50 {est.r50_px:.1f} px, {est.n_crops} crop(s))")
    _set(source, ASSUMED_MPP, "assumed")
    return PixelSize(ASSUMED_MPP, "assumed", None, "the file states no pixel size and too few nuclei were "
                     "found to estimate it")


def _set(source: SlideSource, mpp: float, kind: str, rel: float | None = None) -> None:
    setter = getattr(source, "set_pixel_size", None)
    if setter is None:
        raise TypeError(f"{type(source).__name__} cannot take a pixel size")
    setter(mpp, kind, rel)
