"""Calibration constants of the synthetic HER2 IHC generator (stain units are deconvolved OD, see stain.py).

DAB on the membrane is drawn per tumour cell inside the band of its intensity class, in the same units
`her2viewer.stain.deconvolve` measures ("DAB OD", base-10). The bands leave clear gaps around the
thresholds the rule-based scorer uses (`SCORER_DAB_THRESHOLDS`: 0.08 / 0.25 / 0.55), at the pixel level
before blur: per-pixel membrane texture is clipped into the band. Blur lowers a thin membrane's measured
mean a little (about 10-20% at sigma 1 px), which the band centres leave room for.

Completeness is the fraction of a cell's perimeter (by angle around the cell centre) that carries DAB:
complete cells >= `COMPLETE_COVERAGE[0]`, incomplete (basolateral / lateral arcs) in `INCOMPLETE_COVERAGE`.
"""

from __future__ import annotations

#: intensity class -> (low, high) DAB OD on the stained part of the membrane ring; class 0 carries none.
DAB_BANDS: dict[int, tuple[float, float]] = {
    0: (0.0, 0.0),
    1: (0.13, 0.21),   # faint / barely perceptible
    2: (0.32, 0.48),   # weak-to-moderate
    3: (0.72, 1.15),   # strong / intense
}
#: thresholds between the bands that the rule-based scorer uses (none|faint|moderate|strong).
SCORER_DAB_THRESHOLDS: tuple[float, float, float] = (0.08, 0.25, 0.55)
#: faint cytoplasmic DAB background per intensity class (upper bound; always < 0.05).
CYTO_DAB_MAX: dict[int, float] = {0: 0.02, 1: 0.03, 2: 0.04, 3: 0.048}
#: non-specific DAB in stroma.
STROMA_DAB_MAX = 0.015

#: fraction of the perimeter stained: complete (circumferential) and incomplete (arcs).
COMPLETE_COVERAGE: tuple[float, float] = (0.92, 1.0)
INCOMPLETE_COVERAGE: tuple[float, float] = (0.2, 0.6)

#: tumour cell diameter (um), tumour nucleus diameter as a fraction of it, membrane width (um).
TUMOUR_CELL_UM: tuple[float, float] = (11.0, 15.0)
NUCLEUS_FRACTION: tuple[float, float] = (0.45, 0.6)
MEMBRANE_UM: tuple[float, float] = (1.5, 2.0)
LYMPHOCYTE_NUCLEUS_UM: tuple[float, float] = (5.0, 7.0)
FAT_CELL_UM: tuple[float, float] = (50.0, 110.0)

#: haematoxylin OD of tumour nuclei, stromal nuclei, lymphocytes, cytoplasm and stroma (before the
#: per-core counterstain strength factor).
HEMA_TUMOUR_NUCLEUS: tuple[float, float] = (0.17, 0.36)
HEMA_STROMAL_NUCLEUS: tuple[float, float] = (0.35, 0.60)
HEMA_LYMPHOCYTE: tuple[float, float] = (0.60, 0.90)
HEMA_CYTOPLASM: tuple[float, float] = (0.07, 0.13)
HEMA_CELL_BORDER = 0.04  # faint counterstain on every cell border (unstained cells still show outlines)
HEMA_STROMA: tuple[float, float] = (0.06, 0.14)
HEMA_STRENGTH: tuple[float, float] = (0.8, 1.25)

#: mean stain OD vectors (normalised at use). Real IHC haematoxylin is bluer than Ruifrok's vector (Macenko
#: estimates give a blue component of 0.38-0.57), but every unit of blue shift leaks into DAB under the default
#: deconvolution (0.22 DAB OD per H OD at blue 0.42), so we shift it only a little (leak < 0.05 per H OD).
HEMA_VECTOR: tuple[float, float, float] = (0.64, 0.70, 0.32)
DAB_VECTOR: tuple[float, float, float] = (0.268, 0.57, 0.776)

#: per-core acquisition effects.
STAIN_VECTOR_JITTER = 0.015         # std of the perturbation of each stain OD vector (unit vectors)
BLUR_SIGMA_PX: tuple[float, float] = (0.4, 0.9)   # at 0.5 um/px; scaled with mpp
NOISE_STD: tuple[float, float] = (1.5, 3.5)
JPEG_QUALITY: tuple[int, int] = (80, 95)
JPEG_PROBABILITY = 0.7
GLASS_OD: tuple[float, float] = (0.010, 0.024)  # glass stays ~ 240-250
GLASS_WARMTH: tuple[float, float, float] = (-0.001, 0.0, 0.003)  # per-channel OD offset: slightly warm

#: label-conditional sampling: probability of drawing the deciding percentage close to the 10% cut,
#: and the window used then (percent).
NEAR_THRESHOLD_PROBABILITY = 0.4
NEAR_THRESHOLD_WINDOW: tuple[float, float] = (6.0, 14.0)
#: visible-label search: mixes drawn at most, and scalings of each mix's stained shares tried.
LABEL_MIXES = 12
LABEL_SCALE_STEPS = 6
