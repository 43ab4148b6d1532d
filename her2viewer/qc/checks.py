"""`run_qc`: the input checks in front of every scorer, and the `QCReport` that becomes the result's `qc`.

Checks (each gives a message; the worst decides the status):

* pixel size: where it came from; `estimated` and `assumed` are warnings (`qc.pixel_size`);
* tissue: none found is not assessable (never "score the whole image");
* stain: HER2 DAB IHC, H&E (not assessable) or unknown (not assessable) (`qc.stain_type`);
* focus: a blurred image is a warning, a very blurred one not assessable (`qc.focus`);
* exposure: brightest areas far from white (grey glass) are a warning (`qc.exposure`);
* tumour cells (rules scorer, after scoring: `check_tumour_cells`): below `QCParams.warn_tumour_cells`
  a warning, below `QCParams.min_tumour_cells` not assessable.

`status`: "ok", "warning" (scored, with messages) or "not_assessable" (no score is suggested unless the
user forces it; then the status is "warning" and `forced` is true).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..slide.base import SlideSource
from .exposure import exposure_finding
from .focus import FocusCheck, focus_check
from .pixel_size import USUAL_MPP, PixelSize, resolve_pixel_size
from .stain_type import StainCheck, classify_stain

log = logging.getLogger(__name__)

OK, WARNING, NOT_ASSESSABLE = "ok", "warning", "not_assessable"
_RANK = {OK: 0, WARNING: 1, NOT_ASSESSABLE: 2}
SAMPLE_PX = 512  # side of each sampled window (level-0 px, at most)
MAX_SAMPLES = 8
ONE_COLOUR_STD = 2.0  # grey levels: an image this flat is one colour


@dataclass(frozen=True)
class QCParams:
    """What the checks accept; every threshold here can be changed per call."""

    min_tissue_px: int = 20_000           # level-0 tissue pixels below which there is nothing to score
    min_tumour_cells: int = 50            # rules: fewer tumour cells is not assessable
    warn_tumour_cells: int = 200          # rules: fewer is a warning
    check_stain: bool = True
    check_focus: bool = True


@dataclass
class QCReport:
    """The outcome of the input checks; `to_dict()` is the result's `qc` object."""

    status: str = OK
    stain: str = "unknown"
    mpp: float | None = None
    mpp_source: str | None = None
    mpp_uncertainty: float | None = None
    tissue_fraction: float | None = None
    tumour_cells: int | None = None
    focus: float | None = None
    stain_vectors: dict[str, list[float]] | None = None
    messages: list[str] = field(default_factory=list)
    forced: bool = False
    elapsed_s: float = 0.0

    @property
    def assessable(self) -> bool:
        return self.status != NOT_ASSESSABLE

    def add(self, level: str, message: str) -> None:
        """Record a finding; the status becomes the worst level seen."""
        self.messages.append(message)
        if _RANK[level] > _RANK[self.status]:
            self.status = level

    def force(self) -> None:
        """Score anyway: not assessable becomes a warning that says so."""
        if self.status == NOT_ASSESSABLE:
            self.status = WARNING
            self.forced = True
            self.messages.append("scored although not assessable (forced by the user)")

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "status": self.status, "stain": self.stain,
            "mpp": None if self.mpp is None else round(float(self.mpp), 4), "mpp_source": self.mpp_source,
            "tissue_fraction": None if self.tissue_fraction is None else round(float(self.tissue_fraction), 4),
            "tumour_cells": self.tumour_cells, "messages": list(self.messages),
        }
        if self.mpp_uncertainty is not None:
            d["mpp_uncertainty"] = round(float(self.mpp_uncertainty), 3)
        if self.focus is not None:
            d["focus"] = round(float(self.focus), 4)
        if self.stain_vectors is not None:
            d["stain_vectors"] = self.stain_vectors
        if self.forced:
            d["forced"] = True
        d["elapsed_s"] = round(float(self.elapsed_s), 3)
        return d


def pixel_size_message(ps: PixelSize) -> tuple[str, str] | None:
    """(level, message) about a pixel size that did not come from the file or the user."""
    if ps.source == "estimated":
        unc = f" \u00b1{100 * ps.rel_uncertainty:.0f}%" if ps.rel_uncertainty is not None else ""
        unusual = ""
        if not USUAL_MPP[0] <= ps.mpp <= USUAL_MPP[1]:
            unusual = (f"; that is outside the {USUAL_MPP[0]:g}-{USUAL_MPP[1]:g} um/px HER2 is usually scanned "
                       "at, so check it")
            if ps.mpp > USUAL_MPP[1]:
                # measured: 3 pale 1+ BCI patches read 1.65-1.97 um/px where the same scanner's other tumour
                # patches read 0.63-1.02, median 0.90 (benchmarks/real_dev_scale.py)
                unusual += (" (on pale real IHC, where the nuclei are read by their darkest specks, such "
                            "estimates came out about twice too coarse)")
        return WARNING, (f"pixel size {ps.mpp:.3g} um/px estimated from the nuclei{unc} (the file states none)"
                         f"{unusual}; set it with --mpp or in Properties if known")
    if ps.source == "assumed":
        return WARNING, (f"pixel size unknown: {ps.mpp:.3g} um/px (20x) ASSUMED; size rules may be off by 2-4x. "
                         "Set it with --mpp or in Properties")
    return None


def sample_windows(source: SlideSource, regions: list[Any], max_samples: int = MAX_SAMPLES,
                   side: int = SAMPLE_PX) -> list[np.ndarray]:
    """Level-0 RGB windows spread over the regions' tissue (their masks), at most `max_samples`."""
    W, H = source.dimensions
    centres: list[tuple[float, float]] = []
    per = max(1, math.ceil(max_samples / max(1, len(regions))))
    for reg in regions:
        if reg.mask is not None and reg.mask.mask.any():
            pts = reg.mask.l0_points()
            idx = np.linspace(0, len(pts) - 1, min(per, len(pts))).round().astype(int)
            # spread: pick evenly along a random order so windows are not all on one row
            order = np.random.default_rng(0).permutation(len(pts))
            centres += [tuple(pts[order[i]]) for i in idx]
        else:
            x, y, w, h = reg.l0_bbox
            centres.append((x + w / 2, y + h / 2))
    out = []
    for cx, cy in centres[:max_samples]:
        w, h = min(side, W), min(side, H)
        x = int(np.clip(cx - w / 2, 0, W - w))
        y = int(np.clip(cy - h / 2, 0, H - h))
        out.append(source.read_region(0, x, y, w, h))
    return out


def tissue_fraction(source: SlideSource, regions: list[Any]) -> tuple[float, float]:
    """(fraction of the image that is tissue, tissue area in level-0 px) from the regions' masks."""
    W, H = source.dimensions
    area = 0.0
    for reg in regions:
        if reg.mask is not None:
            area += float(np.count_nonzero(reg.mask.mask)) * reg.mask.downsample ** 2
        else:
            area += float(reg.l0_bbox[2] * reg.l0_bbox[3])
    return min(1.0, area / max(1.0, float(W) * float(H))), area


def run_qc(source: SlideSource, regions: list[Any], *, user_mpp: float | None = None,
           pixel_size: PixelSize | None = None, params: QCParams | None = None) -> QCReport:
    """Check the input before scoring: pixel size, tissue, stain and focus (see module doc).

    `regions` are what will be scored (their masks mark the tissue); an empty list means no tissue was
    found. The pixel size is resolved here unless `pixel_size` says it already was."""
    t0 = time.perf_counter()
    params = params or QCParams()
    report = QCReport()
    ps = pixel_size or resolve_pixel_size(source, user_mpp)
    report.mpp, report.mpp_source, report.mpp_uncertainty = ps.mpp, ps.source, ps.rel_uncertainty
    msg = pixel_size_message(ps)
    if msg:
        report.add(*msg)
    thumb = source.thumbnail(256)
    if float(thumb.reshape(-1, 3).std(0).max()) < ONE_COLOUR_STD:
        colour = ", ".join(str(int(v)) for v in np.median(thumb.reshape(-1, 3), 0))
        report.add(NOT_ASSESSABLE, f"the image is a single colour (RGB {colour}): no tissue to score")
        report.tissue_fraction = 0.0
        report.elapsed_s = time.perf_counter() - t0
        return report
    exposure = exposure_finding(thumb)
    if exposure:
        report.add(WARNING, exposure)
    frac, area = tissue_fraction(source, regions) if regions else (0.0, 0.0)
    report.tissue_fraction = frac
    if not regions or area < params.min_tissue_px:
        report.add(NOT_ASSESSABLE, "no tissue found: nothing to score" if not regions else
                   f"too little tissue ({area:,.0f} px; at least {params.min_tissue_px:,} needed)")
        report.elapsed_s = time.perf_counter() - t0
        return report
    windows = sample_windows(source, regions)
    if params.check_stain:
        sc: StainCheck = classify_stain(windows)
        report.stain = sc.stain
        report.stain_vectors = sc.vectors_dict()
        for level, text in sc.findings():
            report.add(level, text)
    else:
        report.stain = "dab_ihc"
    if params.check_focus and report.assessable:
        fc: FocusCheck = focus_check(windows, ps.mpp)
        report.focus = fc.sharpness
        for level, text in fc.findings():
            report.add(level, text)
    report.elapsed_s = time.perf_counter() - t0
    log.debug("qc %s: %s", getattr(source, "path", "slide"), report.to_dict())
    return report


def check_tumour_cells(report: QCReport, n_tumour: int | None, params: QCParams | None = None) -> None:
    """Record the rules scorer's tumour-cell count and judge it (see module doc)."""
    if n_tumour is None:
        return
    params = params or QCParams()
    report.tumour_cells = int(n_tumour)
    if n_tumour < params.min_tumour_cells:
        report.add(NOT_ASSESSABLE, f"only {n_tumour} tumour cells found (at least {params.min_tumour_cells} "
                   "needed for the ASCO/CAP percentages)")
    elif n_tumour < params.warn_tumour_cells:
        report.add(WARNING, f"few tumour cells ({n_tumour}; {params.warn_tumour_cells} or more recommended): "
                   "the percentages are uncertain")
