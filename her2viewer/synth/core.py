"""One synthetic HER2 IHC core (or tissue piece) with per-cell truth and its ASCO/CAP label.

Rendering happens in stain-concentration space (haematoxylin and DAB OD) and is converted to RGB with
`her2viewer.stain.compose`, so `deconvolve` on the result measures the DAB OD the cells were drawn with
(see params.DAB_BANDS). Membranes are drawn on the borders cells share (membrane.py), and the label is
`asco_cap_score` of what each tumour cell visibly shows on its whole border: right by construction.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np

from ..scoring.asco import SCORES4, asco_cap_score, cell_percentages
from . import params as P
from .layout import build_layout
from .membrane import membrane_geometry, observable, paint_shared_membranes, pixel_classes
from .mix import (
    PATTERNS,
    assign_patterns,
    counts_from_mix,
    counts_percentages,
    deciding_percentage,
    sample_mix,
    scaled_counts,
)
from .render import (
    UNSTAINED_MEMBRANE,
    apply_warp,
    finish,
    jitter_stains,
    paint_blush,
    paint_cytoplasm,
    paint_nuclei,
    paint_stroma,
    warp_fields,
)
from .style import DEFAULT_STYLE, Style, get_style

log = logging.getLogger(__name__)


@dataclass
class CellTruth:
    """Per tumour cell truth, arrays of equal length; x, y are level-0 pixel centres in the core image.

    `intensity`, `complete`, `coverage` and `dab_od` are what is visible on the cell's whole border,
    including membrane stain a neighbour puts on a shared border (membrane.py); the label is the ASCO/CAP
    rule on them. `drawn_*` are the cell's own drawn staining (its arc and level) before sharing.
    """

    x: np.ndarray
    y: np.ndarray
    radius: np.ndarray        # px, half the local cell spacing
    intensity: np.ndarray     # int8, 0 none, 1 faint, 2 weak-moderate, 3 strong (observable)
    complete: np.ndarray      # bool, circumferential staining (observable)
    coverage: np.ndarray      # float32, stained sector fraction of the border (observable)
    dab_od: np.ndarray        # float32, mean DAB OD laid on its stained border (before texture and blur)
    drawn_intensity: np.ndarray
    drawn_complete: np.ndarray
    drawn_coverage: np.ndarray  # float32, the cell's own stained arc as a fraction of its perimeter
    drawn_dab_od: np.ndarray

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


def _pattern_counts(prefix: str, intensity: np.ndarray, complete: np.ndarray) -> dict[str, int]:
    """Cells per staining pattern, keyed like n_complete_strong ... n_none."""
    names = {3: "strong", 2: "weak_moderate", 1: "faint"}
    out = {}
    for k in (3, 2, 1):
        out[f"{prefix}complete_{names[k]}"] = int(np.sum((intensity == k) & complete))
        out[f"{prefix}incomplete_{names[k]}"] = int(np.sum((intensity == k) & ~complete))
    out[f"{prefix}none"] = int(np.sum(intensity == 0))
    return out


def generate_core(label: str | None = None, seed: int = 0, *, diameter_px: int = 3000, mpp: float = 0.5,
                  shape: str = "core", canvas: tuple[int, int] | None = None, jpeg: bool | None = None,
                  glass_od: np.ndarray | None = None, truth_maps: bool = False,
                  style: str | Style = DEFAULT_STYLE) -> SynthCore:
    """Generate one core of the given label (None draws one) deterministically from `seed`.

    `shape="piece"` makes an irregular tissue piece instead of a round core (for whole slides);
    `canvas=(h, w)` overrides the image size (default: the diameter plus a 5% glass margin each side);
    `jpeg=None` draws whether JPEG artefacts are added; `glass_od` fixes the glass tint (per channel OD);
    `style` picks the look (style.py: "synth-1.1" or "synth-2"); the label logic is the same in every style.
    """
    t0 = time.perf_counter()
    sty = get_style(style)
    rng = np.random.default_rng(seed)
    srng = np.random.default_rng([seed, 2])  # draws only synth-2's additions: synth-1.1 pixels stay as they were
    if label is None:
        label = str(rng.choice(SCORES4))
    if label not in SCORES4:
        raise ValueError(f"label must be one of {', '.join(SCORES4)}, got {label!r}")
    if not 200 <= diameter_px <= 12000:
        raise ValueError(f"diameter_px must be between 200 and 12000, got {diameter_px}")
    scene_mpp = mpp * srng.uniform(*sty.zoom)  # == mpp in synth-1.1
    side = int(round(diameter_px * (1.1 if shape == "core" else 1.35)))
    h, w = canvas or (side, side)
    lay = build_layout((h, w), diameter_px, scene_mpp, rng, shape=shape, cell_um=sty.tumour_cell_um)
    n = len(lay.cx)

    # drawn staining per cell (exact counts of a mix, clustered by a smooth field); the mix's stained shares are
    # scaled until what is visible (shared-border membranes, see membrane.py) scores `label` with its deciding
    # percentage close to the mix's (so near-threshold mixes stay near-threshold), else another mix is drawn
    um = 1.0 / scene_mpp
    geom = membrane_geometry(lay, rng.uniform(*sty.membrane_um) * um)
    rf = lay.region_field
    field_rank = rf[(lay.cy // 8).astype(int), (lay.cx // 8).astype(int)]
    pat = np.array(PATTERNS, dtype=object)
    best, draws = None, 0
    for _ in range(P.LABEL_MIXES):
        mix = sample_mix(label, rng)
        target = deciding_percentage(label, counts_percentages(counts_from_mix(mix, n)))
        mix_seed = int(rng.integers(2**62))
        scale = 1.0
        for _ in range(P.LABEL_SCALE_STEPS):
            draws += 1
            r = np.random.default_rng(mix_seed)  # same cells and arcs at every scale: only the counts change
            counts = scaled_counts(mix, n, scale)
            rank = field_rank + r.normal(0, r.uniform(0.1, 0.8), n)
            pattern = assign_patterns(counts, rank, r, scatter=r.uniform(0.0, 0.2))
            intensity = np.array([p[0] for p in pat[pattern]], np.int8)
            complete = np.array([p[1] for p in pat[pattern]], bool)
            coverage = np.where(complete, r.uniform(*P.COMPLETE_COVERAGE, n),
                                r.uniform(*P.INCOMPLETE_COVERAGE, n)).astype(np.float32)
            coverage[intensity == 0] = 0.0
            arc_start = r.uniform(0, 2 * np.pi, n).astype(np.float32)
            od = _cell_od(intensity, r)
            cls, level = pixel_classes(geom, intensity, coverage, arc_start, od)
            obs = observable(geom, cls, level)
            pct = cell_percentages(obs.intensity, obs.complete)
            decision = asco_cap_score(pct)
            got = deciding_percentage(label, pct)
            miss = abs(got - target)
            if decision.score == label and (best is None or miss < best[0]):
                best = (miss, intensity, complete, coverage, od, cls, level, obs, pct, decision)
            if decision.score == label and miss <= max(1.0, 0.1 * target):
                break
            scale *= float(np.clip(target / got, 0.3, 3.0)) if got > 0 else 2.0
        if best is not None:
            break
    if best is None:
        raise RuntimeError(f"could not draw staining that visibly scores {label} (seed {seed})")
    _, intensity, complete, coverage, od, cls, level, obs, pct, decision = best

    # paint concentration maps
    strength = rng.uniform(*sty.hema_strength)
    hema = np.zeros((h, w), np.float32)
    dab = np.zeros((h, w), np.float32)
    paint_stroma(lay, hema, dab, rng, strength, sty)
    paint_cytoplasm(lay, hema, dab, intensity, rng, strength, sty)
    extra = paint_nuclei(lay, hema, rng, strength, sty)
    paint_blush(lay, hema, dab, intensity, srng, sty)
    cls_map = np.zeros((h, w), np.uint8) if truth_maps else None
    paint_shared_membranes(geom, cls, level, dab, hema, cls_map, UNSTAINED_MEMBRANE, rng)
    del geom, cls, level

    # elastic warp: wavy membranes, irregular nuclei (the cell truth moves with it)
    dx, dy = warp_fields((h, w), rng, amp_px=rng.uniform(1.0, 2.5) * um, scale_px=rng.uniform(6, 12) * um)
    hema, dab, cls_map = apply_warp(dx, dy, hema, dab, cls_map)
    iy = np.clip(lay.cy.astype(int), 0, h - 1)
    ix = np.clip(lay.cx.astype(int), 0, w - 1)
    cx, cy = lay.cx - dx[iy, ix], lay.cy - dy[iy, ix]
    del dx, dy

    if glass_od is None:
        glass_od = rng.uniform(*sty.glass_od) + np.asarray(sty.glass_warmth) + rng.normal(0, 0.002, 3)
    if sty.colour_cast_std > 0:
        glass_od = np.asarray(glass_od, np.float64) + srng.normal(0, sty.colour_cast_std, 3)
    glass_od = np.clip(np.asarray(glass_od, np.float64), 0.0, 0.06)
    use_jpeg = (rng.random() < P.JPEG_PROBABILITY) if jpeg is None else jpeg
    quality = int(rng.integers(P.JPEG_QUALITY[0], P.JPEG_QUALITY[1] + 1))
    image = finish(hema, dab, rng, stains=jitter_stains(rng, sty), blur_sigma=rng.uniform(*sty.blur_sigma_px) * 2 * scene_mpp,
                   glass_od=glass_od, noise_std=rng.uniform(*P.NOISE_STD), jpeg_quality=quality if use_jpeg else None,
                   scan_factor=srng.uniform(*sty.scan_factor))

    stats = dict(pct.as_dict())
    stats.update({
        "subclass": decision.subclass or "",
        "n_tumour_cells": n,
        **_pattern_counts("n_", obs.intensity, obs.complete),
        **_pattern_counts("n_drawn_", intensity, complete & (intensity > 0)),
        "label_draws": draws,
        **extra,
        "tumour_area_fraction": round(float(lay.tumour.sum()) / max(1, int(lay.tissue.sum())), 4),
        **({"scene_zoom": round(scene_mpp / mpp, 3)} if sty.zoom != (1.0, 1.0) else {}),
        "generator_version": sty.name,
    })
    cells = CellTruth(x=cx, y=cy, radius=np.full(n, lay.cell_px / 2, np.float32), intensity=obs.intensity,
                      complete=obs.complete, coverage=obs.coverage, dab_od=obs.dab_od,
                      drawn_intensity=intensity, drawn_complete=complete & (intensity > 0), drawn_coverage=coverage,
                      drawn_dab_od=od)
    maps = {"membrane_class": cls_map, "tissue": lay.tissue} if truth_maps else {}
    log.debug("core %s seed %d: %d cells, %.2fs", label, seed, n, time.perf_counter() - t0)
    return SynthCore(image=image, label=label, stats=stats, cells=cells, maps=maps)
