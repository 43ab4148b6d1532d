"""Colour deconvolution for haematoxylin / DAB: Beer-Lambert optical density and stain matrices.

Concentrations are in optical-density units (base-10 OD, as QuPath reports "DAB OD"). The synthetic
generator renders with `compose` and the rule-based scorer measures with `deconvolve`, so both speak the
same units; real slides get their own stain vectors from `estimate_stains_macenko`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

#: Ruifrok & Johnston H-DAB vectors (rows: haematoxylin, DAB, residual), unit length.
DEFAULT_HDAB = np.array(
    [
        [0.650, 0.704, 0.286],
        [0.268, 0.570, 0.776],
        [0.0, 0.0, 0.0],
    ],
    dtype=np.float64,
)
BACKGROUND = 255.0
_log = logging.getLogger(__name__)
OD_EPS = 1.0 / 255.0


def _complete_matrix(stains: np.ndarray) -> np.ndarray:
    """Unit rows; a missing third row becomes the normalised cross product of the first two."""
    m = np.array(stains, dtype=np.float64)[:3]
    m[:2] /= np.linalg.norm(m[:2], axis=1, keepdims=True)
    if not np.any(m[2]):
        r = np.cross(m[0], m[1])
        m[2] = r / np.linalg.norm(r)  # signed: orthogonal to both, well conditioned (as skimage)
    else:
        m[2] /= np.linalg.norm(m[2])
    return m


@dataclass(frozen=True)
class StainMatrix:
    """Three stain OD vectors (haematoxylin, DAB, residual) as rows."""

    vectors: np.ndarray

    @classmethod
    def default(cls) -> StainMatrix:
        return cls(_complete_matrix(DEFAULT_HDAB))

    @classmethod
    def from_vectors(cls, hema: np.ndarray, dab: np.ndarray) -> StainMatrix:
        return cls(_complete_matrix(np.array([hema, dab, [0, 0, 0]], dtype=np.float64)))


def _od_table(background: float) -> np.ndarray:
    i = np.maximum(np.arange(256, dtype=np.float32), 1.0) / float(background)
    return np.maximum(-np.log10(np.minimum(i, 1.0)), 0.0).astype(np.float32)


_OD_LUT = _od_table(BACKGROUND)


#: pixels darker than this in every channel are slide borders, shadows or black pen, not tissue
DARK_MAX = 50
#: ... when they are also grey (channels within this): the darkest DAB of a 3+ membrane is as dark but brown
#: (RGB ~ 45, 18, 5; measured 15-46 between channels on real 3+ images), black padding and dust are not
DARK_MAX_CHROMA = 12
#: green pen ink: G above both R and B by more than this. Haematoxylin and DAB both absorb green at least as
#: much as red, so no mix of them is green (no real_dev pixel passes). Blue ink is not told apart: a dark
#: haematoxylin nucleus (OD 0.9: RGB ~ 66, 59, 141) has the same colour; it would need the stroke's shape.
PEN_GREEN = 20
#: the look for ink takes every this-many-th pixel first (a prime, so a stroke is not missed row after row)
_COARSE_STEP = 31


def _dark(hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
    """Dark grey pixels from each pixel's brightest and darkest channel (hi >= lo, so uint8 cannot wrap)."""
    return (hi < DARK_MAX) & (hi - lo < DARK_MAX_CHROMA)


def _pen(r: np.ndarray, g: np.ndarray, b: np.ndarray) -> np.ndarray:
    return g - np.maximum(r, b) > PEN_GREEN


def not_stain(rgb: np.ndarray) -> np.ndarray:
    """Boolean mask of the pixels that hold no stain however dark: grey pixels darker than DARK_MAX in every
    channel (black borders or padding the scanner never imaged, shadows, dust, black pen) and green pen ink.
    Their OD is high, so left in they would set thresholds and stain vectors."""
    import cv2

    rgb = np.asarray(rgb)[..., :3]
    shape = rgb.shape[:-1]
    if rgb.size == 0:
        return np.zeros(shape, bool)
    flat = np.ascontiguousarray(rgb).reshape(-1, 3)
    if rgb.dtype != np.uint8:
        x = np.clip(np.round(flat.astype(np.float64)), 0, 255).astype(np.int16)
        r, g, b = x[:, 0], x[:, 1], x[:, 2]
        return (_dark(x.max(1), x.min(1)) | _pen(r, g, b)).reshape(shape)
    out = np.zeros(len(flat), bool)
    # cv2 is slow on a one-column image: keep two dimensions where the input has them
    img = flat.reshape(shape[0], -1, 3) if len(shape) == 2 else flat.reshape(-1, 1, 3)
    # every dark pixel counts (a speck moves an Otsu threshold); a tile with none has no red or no green that dark
    if all(int(flat[:, c].min()) < DARK_MAX for c in (0, 1)):
        r, g, b = cv2.split(img)  # cv2: ~10x numpy's max / min over channels
        out |= _dark(cv2.max(cv2.max(r, g), b), cv2.min(cv2.min(r, g), b)).reshape(-1)
    # ink comes in strokes: a sparse look finds them in a tile; a small sample is looked at whole
    coarse = flat[::_COARSE_STEP if len(flat) > 10_000 else 1].astype(np.int16)
    if _pen(coarse[:, 0], coarse[:, 1], coarse[:, 2]).any():
        x = flat.astype(np.int16)
        out |= _pen(x[:, 0], x[:, 1], x[:, 2])
    return out.reshape(shape)


def rgb_to_od(rgb: np.ndarray, background: float = BACKGROUND) -> np.ndarray:
    """Per-channel optical density -log10(I / background) of an RGB uint8 image, float32."""
    if rgb.dtype == np.uint8:
        return (_OD_LUT if background == BACKGROUND else _od_table(background))[rgb]
    i = np.maximum(rgb.astype(np.float32), 1.0) / float(background)
    return np.maximum(-np.log10(np.minimum(i, 1.0)), 0.0).astype(np.float32)


def deconvolve(rgb: np.ndarray, stains: StainMatrix | None = None) -> np.ndarray:
    """Stain concentrations (H, W, 3): haematoxylin OD, DAB OD, residual, float32."""
    import cv2

    m = (stains or StainMatrix.default()).vectors
    od = np.ascontiguousarray(rgb_to_od(rgb).reshape(-1, 1, 3))
    conc = cv2.transform(od, np.linalg.inv(m).T.astype(np.float32))  # per pixel: od @ inv(m)
    return conc.reshape(rgb.shape[:2] + (3,))


def compose(concentrations: np.ndarray, stains: StainMatrix | None = None,
            background: float = BACKGROUND) -> np.ndarray:
    """RGB uint8 image from stain concentrations (H, W, 2 or 3) by Beer-Lambert."""
    m = (stains or StainMatrix.default()).vectors
    c = concentrations
    if c.shape[-1] == 2:
        c = np.concatenate([c, np.zeros(c.shape[:-1] + (1,), c.dtype)], axis=-1)
    od = c.reshape(-1, 3).astype(np.float32) @ m.astype(np.float32)
    rgb = background * np.power(10.0, -od)
    return np.clip(rgb, 0, 255).round().astype(np.uint8).reshape(c.shape[:-1] + (3,))


def estimate_stains_macenko(rgb: np.ndarray, od_threshold: float = 0.15, alpha: float = 1.0,
                            max_pixels: int = 200_000, seed: int = 0) -> StainMatrix:
    """Haematoxylin and DAB vectors estimated from the image (Macenko et al. 2009); default on failure."""
    od = rgb_to_od(rgb).reshape(-1, 3)
    dark = not_stain(rgb).reshape(-1)  # black borders and pen: high OD, no stain
    od = od[np.all(od > od_threshold * 0.5, axis=1) & (od.sum(1) > od_threshold) & ~dark]
    if len(od) < 500:
        return StainMatrix.default()
    if len(od) > max_pixels:
        od = od[np.random.default_rng(seed).choice(len(od), max_pixels, replace=False)]
    _, vecs = np.linalg.eigh(np.cov(od.T))
    plane = vecs[:, 1:3]
    proj = od @ plane
    phi = np.arctan2(proj[:, 1], proj[:, 0])
    lo, hi = np.percentile(phi, alpha), np.percentile(phi, 100 - alpha)
    v1 = plane @ np.array([np.cos(lo), np.sin(lo)])
    v2 = plane @ np.array([np.cos(hi), np.sin(hi)])
    v1, v2 = np.abs(v1), np.abs(v2)
    ref = StainMatrix.default().vectors
    # Haematoxylin is the bluer vector (more red-channel OD relative to blue than DAB).
    if abs(v1 @ ref[0]) - abs(v1 @ ref[1]) < abs(v2 @ ref[0]) - abs(v2 @ ref[1]):
        v1, v2 = v2, v1
    h, d = v1 / np.linalg.norm(v1), v2 / np.linalg.norm(v2)
    # Reject estimates far from plausible H / DAB directions (e.g. an image with no DAB at all).
    if h @ ref[0] < 0.9 or d @ ref[1] < 0.85:
        return StainMatrix.default()
    return StainMatrix.from_vectors(h, d)


# ---- credible per-slide / per-region vectors ----------------------------------------------------------------
# Haematoxylin hue varies a lot between labs and batches, so its vector is estimated (Macenko) when the
# estimate lies within a cone around Ruifrok's and is blue rather than grey. DAB is a manufactured chromogen
# with a stable colour, and Macenko's DAB direction is pulled towards haematoxylin by the many mixed pixels of
# a thin membrane over a blue cell (and is not DAB at all in an IHC 0 case), which would make a blue cytoplasm
# look faintly brown. So the DAB vector stays Ruifrok's unless mode "macenko-both" asks for the estimate, and
# even then only when enough pixels are clearly DAB-dominant. Mode "default" is Ruifrok's pair.

STAIN_MODES = ("macenko", "macenko-both", "default")
MIN_COS_HEMA = 0.95
#: haematoxylin is blue: it absorbs red and green light more than blue. An estimate whose blue OD is above
#: this fraction of its lesser red / green OD is a neutral grey (Ruifrok's: 0.44; grey: 1.0), which Macenko's
#: extreme angle finds on pale real patches (JPEG noise, glass tint). Taken as haematoxylin, it moved the
#: haematoxylin threshold 2-10x between patches of one lab (real_dev: 15 of 24 BCI patches read 0.81-0.99).
MAX_HEMA_BLUE_RATIO = 0.8
MIN_COS_DAB = 0.97
MIN_DAB_FRACTION = 0.002  # of the stained (non-glass) pixels


def credible_haematoxylin(h: np.ndarray) -> bool:
    """Whether an estimated haematoxylin direction (unit OD vector) is near Ruifrok's and blue, not grey."""
    h = np.asarray(h, np.float64)
    return bool(h @ StainMatrix.default().vectors[0] >= MIN_COS_HEMA
                and h[2] <= MAX_HEMA_BLUE_RATIO * min(h[0], h[1]))


def credible_stains(rgb: np.ndarray, mode: str = "macenko") -> StainMatrix:
    """Haematoxylin / DAB vectors of an RGB sample of a slide or region: Macenko's estimate where it is
    credible, the standard vectors elsewhere (see `STAIN_MODES`)."""
    ref = StainMatrix.default()
    if mode not in STAIN_MODES:
        raise ValueError(f"unknown stain estimation {mode!r}; use one of {', '.join(STAIN_MODES)}")
    if mode == "default":
        return ref
    est = estimate_stains_macenko(rgb).vectors
    h = est[0] if credible_haematoxylin(est[0]) else ref.vectors[0]
    d = ref.vectors[1]
    if mode == "macenko-both" and est[1] @ ref.vectors[1] >= MIN_COS_DAB:
        conc = deconvolve(rgb, ref).reshape(-1, 3)
        hema, dab = conc[:, 0], conc[:, 1]
        stained = (hema + np.maximum(dab, 0)) > 0.1
        dab_dominant = stained & (dab > 0.15) & (dab > 1.5 * np.maximum(hema, 0))
        if np.count_nonzero(dab_dominant) >= MIN_DAB_FRACTION * max(1, int(np.count_nonzero(stained))):
            d = est[1]
    _log.debug("stains: hema %s dab %s", np.round(h, 3), np.round(d, 3))
    return StainMatrix.from_vectors(h, d)
