"""Stain vectors for one region: Macenko's estimate, kept only where it is trustworthy.

Haematoxylin hue varies a lot between labs and batches, so its vector is estimated per region (Macenko)
when the estimate lies within a cone around Ruifrok's. DAB is a manufactured chromogen with a stable
colour, and Macenko's DAB direction is pulled towards haematoxylin by the many mixed pixels of a thin
membrane over a blue cell (and is not DAB at all in an IHC 0 case), which would make a blue cytoplasm look
faintly brown. So the DAB vector stays Ruifrok's unless mode "macenko-both" asks for the estimate, and even
then only when enough pixels are clearly DAB-dominant.
"""

from __future__ import annotations

import logging

import numpy as np

from ...stain import StainMatrix, deconvolve, estimate_stains_macenko

log = logging.getLogger(__name__)

MODES = ("macenko", "macenko-both", "default")
MIN_COS_HEMA = 0.95
MIN_COS_DAB = 0.97
MIN_DAB_FRACTION = 0.002  # of the stained (non-glass) pixels


def region_stains(rgb: np.ndarray, mode: str = "macenko") -> StainMatrix:
    """Haematoxylin / DAB vectors for an RGB sample of a region (see the module doc for the modes)."""
    ref = StainMatrix.default()
    if mode not in MODES:
        raise ValueError(f"unknown stain estimation {mode!r}; use one of {', '.join(MODES)}")
    if mode == "default":
        return ref
    est = estimate_stains_macenko(rgb).vectors
    h = est[0] if est[0] @ ref.vectors[0] >= MIN_COS_HEMA else ref.vectors[0]
    d = ref.vectors[1]
    if mode == "macenko-both" and est[1] @ ref.vectors[1] >= MIN_COS_DAB:
        conc = deconvolve(rgb, ref).reshape(-1, 3)
        hema, dab = conc[:, 0], conc[:, 1]
        stained = (hema + np.maximum(dab, 0)) > 0.1
        dab_dominant = stained & (dab > 0.15) & (dab > 1.5 * np.maximum(hema, 0))
        if np.count_nonzero(dab_dominant) >= MIN_DAB_FRACTION * max(1, int(np.count_nonzero(stained))):
            d = est[1]
    log.debug("stains: hema %s dab %s", np.round(h, 3), np.round(d, 3))
    return StainMatrix.from_vectors(h, d)
