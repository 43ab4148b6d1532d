"""One synthetic HER2 IHC core (or tissue piece) with per-cell truth and its ASCO/CAP label.

Rendering happens in stain-concentration space (haematoxylin and DAB OD) and is converted to RGB with
`her2viewer.stain.compose`, so `deconvolve` on the result measures the DAB OD the cells were drawn with
(see params.DAB_BANDS). The label is `asco_cap_score` of the generated tumour cells: right by construction.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np

from ..scoring.asco import SCORES4, asco_cap_score, cell_percentages
from . import GENERATOR_VERSION
from . import params as P
from .layout import build_layout
from .mix import PATTERNS, assign_patterns, sample_counts
from .render import (
    apply_warp,
    finish,
    jitter_stains,
    paint_cytoplasm,
    paint_membranes,
    paint_nuclei,
    paint_stroma,
    warp_fields,
)

log = logging.getLogger(__name__)


@dataclass
class CellTruth:
    """Per tumour cell truth, arrays of equal length; x, y are level-0 pixel centres in the core image."""

    x: np.ndarray
    y: np.ndarray
    radius: np.ndarray        # px, half the local cell spacing
    intensity: np.ndarray     # int8, 0 none, 1 faint, 2 weak-moderate, 3 strong
    complete: np.ndarray      # bool, circumferential staining
    coverage: np.ndarray      # float32, stained fraction of the perimeter (0 for unstained cells)
    dab_od: np.ndarray        # float32, DAB OD drawn on the stained membrane (before texture and blur)

    def __len__(self) -> int:
        return int(self.x.size)


@dataclass
class SynthCore:
    """A generated core: RGB image, ASCO/CAP label, statistics and the tumour cell truth."""

    image: np.ndarray
    label: str
    stats: dict
    cells: CellTruth
    maps: dict = field(default_factory=dict)  # with truth_maps=True: "membrane_class" uint8, "tissue" bool


def _cell_od(intensity: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """DAB OD per cell: a per-core level inside each class band plus a little per-cell spread."""
    od = np.zeros(intensity.size, np.float32)
    for k in (1, 2, 3):
        lo, hi = P.DAB_BANDS[k]
        sel = intensity == k
        centre = rng.uniform(lo + 0.45 * (hi - lo), hi - 0.1 * (hi - lo))  # blur lowers the measured mean
        od[sel] = np.clip(centre + rng.normal(0, 0.12 * (hi - lo), int(sel.sum())), lo, hi)
    return od


def generate_core(label: str | None = None, seed: int = 0, *, diameter_px: int = 3000, mpp: float = 0.5,
                  shape: str = "core", canvas: tuple[int, int] | None = None, jpeg: bool | None = None,
                  glass_od: np.ndarray | None = None, truth_maps: bool = False) -> SynthCore:
    """Generate one core of the given label (None draws one) deterministically from `seed`.

    `shape="piece"` makes an irregular tissue piece instead of a round core (for whole slides);
    `canvas=(h, w)` overrides the image size (default: the diameter plus a 5% glass margin each side);
    `jpeg=None` draws whether JPEG artefacts are added; `glass_od` fixes the glass tint (per channel OD).
    """
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    if label is None:
        label = str(rng.choice(SCORES4))
    if label not in SCORES4:
        raise ValueError(f"label must be one of {', '.join(SCORES4)}, got {label!r}")
    if not 200 <= diameter_px <= 12000:
        raise ValueError(f"diameter_px must be between 200 and 12000, got {diameter_px}")
    side = int(round(diameter_px * (1.1 if shape == "core" else 1.35)))
    h, w = canvas or (side, side)
    lay = build_layout((h, w), diameter_px, mpp, rng, shape=shape)
    n = len(lay.cx)

    # staining pattern per cell: exact counts for the label, clustered by a smooth field (heterogeneity)
    counts = sample_counts(label, n, rng)
    rf = lay.region_field
    rank = rf[(lay.cy // 8).astype(int), (lay.cx // 8).astype(int)] + rng.normal(0, rng.uniform(0.1, 0.8), n)
    pattern = assign_patterns(counts, rank, rng, scatter=rng.uniform(0.0, 0.2))
    pat = np.array(PATTERNS, dtype=object)
    intensity = np.array([p[0] for p in pat[pattern]], np.int8) if n else np.zeros(0, np.int8)
    complete = np.array([p[1] for p in pat[pattern]], bool) if n else np.zeros(0, bool)
    coverage = np.where(complete, rng.uniform(*P.COMPLETE_COVERAGE, n),
                        rng.uniform(*P.INCOMPLETE_COVERAGE, n)).astype(np.float32)
    coverage[intensity == 0] = 0.0
    arc_start = rng.uniform(0, 2 * np.pi, n).astype(np.float32)
    od = _cell_od(intensity, rng)

    # paint concentration maps
    strength = rng.uniform(*P.HEMA_STRENGTH)
    hema = np.zeros((h, w), np.float32)
    dab = np.zeros((h, w), np.float32)
    paint_stroma(lay, hema, dab, rng, strength)
    paint_cytoplasm(lay, hema, dab, intensity, rng, strength)
    extra = paint_nuclei(lay, hema, rng, strength)
    cls_map = np.zeros((h, w), np.uint8) if truth_maps else None
    um = 1.0 / mpp
    paint_membranes(lay, dab, cls_map, hema=hema, width_px=rng.uniform(*P.MEMBRANE_UM) * um, intensity=intensity, od=od,
                    coverage=coverage, arc_start=arc_start, rng=rng)

    # elastic warp: wavy membranes, irregular nuclei (the cell truth moves with it)
    dx, dy = warp_fields((h, w), rng, amp_px=rng.uniform(1.0, 2.5) * um, scale_px=rng.uniform(6, 12) * um)
    hema, dab, cls_map = apply_warp(dx, dy, hema, dab, cls_map)
    iy = np.clip(lay.cy.astype(int), 0, h - 1)
    ix = np.clip(lay.cx.astype(int), 0, w - 1)
    cx, cy = lay.cx - dx[iy, ix], lay.cy - dy[iy, ix]
    del dx, dy

    if glass_od is None:
        glass_od = rng.uniform(*P.GLASS_OD) + np.asarray(P.GLASS_WARMTH) + rng.normal(0, 0.002, 3)
    glass_od = np.clip(np.asarray(glass_od, np.float64), 0.0, 0.06)
    use_jpeg = (rng.random() < P.JPEG_PROBABILITY) if jpeg is None else jpeg
    quality = int(rng.integers(P.JPEG_QUALITY[0], P.JPEG_QUALITY[1] + 1))
    image = finish(hema, dab, rng, stains=jitter_stains(rng), blur_sigma=rng.uniform(*P.BLUR_SIGMA_PX) * 2 * mpp,
                   glass_od=glass_od, noise_std=rng.uniform(*P.NOISE_STD), jpeg_quality=quality if use_jpeg else None)

    pct = cell_percentages(intensity, complete)
    decision = asco_cap_score(pct)
    if decision.score != label:  # cannot happen: sample_counts checked the rule on these counts
        raise RuntimeError(f"generated {decision.score} for requested {label} (seed {seed})")
    stats = dict(pct.as_dict())
    stats.update({
        "subclass": decision.subclass or "",
        "n_tumour_cells": n,
        "n_complete_strong": int(counts[0]), "n_incomplete_strong": int(counts[1]),
        "n_complete_weak_moderate": int(counts[2]), "n_incomplete_weak_moderate": int(counts[3]),
        "n_complete_faint": int(counts[4]), "n_incomplete_faint": int(counts[5]), "n_none": int(counts[6]),
        **extra,
        "tumour_area_fraction": round(float(lay.tumour.sum()) / max(1, int(lay.tissue.sum())), 4),
        "generator_version": GENERATOR_VERSION,
    })
    cells = CellTruth(x=cx, y=cy, radius=np.full(n, lay.cell_px / 2, np.float32), intensity=intensity,
                      complete=complete & (intensity > 0), coverage=coverage, dab_od=od)
    maps = {"membrane_class": cls_map, "tissue": lay.tissue} if truth_maps else {}
    log.debug("core %s seed %d: %d cells, %.2fs", label, seed, n, time.perf_counter() - t0)
    return SynthCore(image=image, label=label, stats=stats, cells=cells, maps=maps)
