"""Score a whole slide: find what to score (TMA cores, the tissue, or a given region), run one scorer on
each region and summarise.

What to score (the scopes, and `exclude`) is decided by `her2viewer.tissue.regions.regions_for`.

Input checks (`her2viewer.qc`) come first: the pixel size is resolved (user > file > estimate > assumed)
before the tissue is looked for, and the stain, tissue and focus are checked on what is to be scored. When
the input is not assessable no scorer runs (unless `ScoreOptions.force`): the result has null scores and a
`qc` object that says why. The rules scorer's tumour-cell count is judged after it ran.

Summary of a TMA slide: the slide's call is the HIGHEST core score (the most confident core among those
with that score provides the slide's probabilities); `cores` lists every core; the slide's samples are all
cores' samples (with their core id) and the evidence of all cores is merged (patch box sample numbers index
the slide's `samples`, heatmaps are pasted into one slide-wide grid).
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

import numpy as np

from ..progress import Task
from ..slide.base import SlideSource
from ..slide.region import Region
from .base import ScoreOptions, Scorer, create_scorer
from .result import CellDetections, CoreResult, Evidence, Heatmap, ModelInfo, PatchBox, ScoreResult

log = logging.getLogger(__name__)

MERGED_HEATMAP_MAX_CELLS = 1024


def score_slide(source: SlideSource, method: str, options: ScoreOptions | None = None, *,
                scope: str | Region = "auto", task: Task | None = None, scorer: Scorer | None = None,
                exclude: Any = None) -> ScoreResult:
    """Check the input, then score a slide with `method`: each TMA core, or the slide's tissue, or one
    region, without the `exclude` area (see module doc)."""
    from ..qc import QCParams, QCReport, resolve_pixel_size, run_qc
    from ..qc.checks import check_tumour_cells
    from ..tissue.regions import regions_for

    options = options or ScoreOptions()
    task = task or Task()
    t0 = time.perf_counter()
    task.report(0.0, "checking the pixel size")
    pixel_size = resolve_pixel_size(source, options.mpp)
    task.report(0.02, "finding tissue")
    kind, regions = regions_for(source, scope, exclude=exclude)
    if options.qc:
        task.report(0.04, "checking the input")
        report = run_qc(source, regions, pixel_size=pixel_size)
    else:
        report = QCReport(mpp=pixel_size.mpp, mpp_source=pixel_size.source, stain="unknown",
                          messages=["input checks were turned off"])
    if not regions:
        if not report.messages:
            report.add("not_assessable", "no tissue found: nothing to score")
        return _not_assessable(source, method, options, report, kind, t0, task)
    if not report.assessable:
        if not options.force:
            return _not_assessable(source, method, options, report, kind, t0, task)
        report.force()
    scorer = scorer or create_scorer(method, options)
    task.report(0.05, f"{len(regions)} region(s) to score")
    results: list[ScoreResult] = []
    for i, region in enumerate(regions):
        sub = task.sub(0.05 + 0.95 * i / len(regions), 0.05 + 0.95 * (i + 1) / len(regions))
        results.append(scorer.score_region(source, region, sub))
    if kind == "tma":
        result = summarise_cores(source, regions, results)
    else:
        result = results[0]
    check_tumour_cells(report, _tumour_cells(results),
                       QCParams(min_tumour_cells=options.min_tumour_cells,
                                warn_tumour_cells=max(options.warn_tumour_cells, options.min_tumour_cells)))
    if not report.assessable:
        if options.force:
            report.force()
        else:
            _withdraw_score(result)
    result.qc = report.to_dict()
    width, height = (int(v) for v in source.dimensions)
    result.evidence.patch_boxes = clip_boxes(result.evidence.patch_boxes, width, height)
    result.slide = str(getattr(source, "path", ""))
    result.method = method
    result.params = {**result.params, **_run_params(options, method, kind, len(regions), exclude),
                     "device": result.params.get("device", options.device), "mpp": pixel_size.mpp,
                     "mpp_source": pixel_size.source}
    result.elapsed_s = time.perf_counter() - t0
    task.report(1.0, f"{method}: {result.score if result.assessable else 'not assessable'}")
    return result


def _run_params(options: ScoreOptions, method: str, kind: str, n_regions: int, exclude: Any) -> dict[str, Any]:
    """What the run was asked for, as the result's params say it: PSS's N and k only for PSS."""
    return {**options.method_settings(method), "seed": options.seed, "device": options.device,
            "scope": kind, "n_regions": n_regions, **({"excluded": True} if exclude is not None else {}),
            **({"forced": True} if options.force else {})}


def _tumour_cells(results: list[ScoreResult]) -> int | None:
    """Tumour cells counted by the scorer (the rules scorer's cells), summed over regions; None if none."""
    counts = [r.cells.get("n_tumour") for r in results if isinstance(r.cells, dict)]
    counts = [int(c) for c in counts if isinstance(c, (int, float))]
    return sum(counts) if counts else None


def _withdraw_score(result: ScoreResult) -> None:
    """Keep what was measured (cells, evidence) but suggest no score."""
    result.score = None
    result.score3 = None
    result.probabilities = {}
    result.confidence = None
    result.subclass = None
    result.samples = []
    result.explanation = "not assessable: " + result.explanation if result.explanation else "not assessable"


def _not_assessable(source: SlideSource, method: str, options: ScoreOptions, report: Any, kind: str,
                    t0: float, task: Task) -> ScoreResult:
    """The result for an input that cannot be scored: null scores and the QC report that says why."""
    result = ScoreResult(slide=str(getattr(source, "path", "")), method=method, score=None, probabilities={},
                         model=ModelInfo(name="not scored", sha256=None), score3=None,
                         explanation="not assessable: " + "; ".join(report.messages), qc=report.to_dict(),
                         params=_run_params(options, method, kind, 0, None))
    result.params.update({"mpp": report.mpp, "mpp_source": report.mpp_source})
    result.elapsed_s = time.perf_counter() - t0
    task.report(1.0, f"{method}: not assessable")
    return result


def _core_result(region: Region, r: ScoreResult) -> CoreResult:
    return CoreResult(id=region.id, bbox=tuple(int(v) for v in region.l0_bbox), score=r.score, score3=r.score3,
                      probabilities=dict(r.probabilities), confidence=r.confidence, subclass=r.subclass,
                      explanation=r.explanation, cells=r.cells, n_samples=len(r.samples))


def summarise_cores(source: SlideSource, regions: list[Region], results: list[ScoreResult]) -> ScoreResult:
    """One slide result from per-core results: the highest core score (ties: the most confident core)."""
    from .asco import SCORES3, SCORES4

    cores = [_core_result(reg, r) for reg, r in zip(regions, results, strict=True)]
    best = max(range(len(results)), key=lambda i: (call_rank(results[i]), results[i].confidence or 0.0))
    top = results[best]
    samples, boxes, cells, heatmaps = [], [], [], []
    for reg, r in zip(regions, results, strict=True):
        offset = len(samples)
        for s in r.samples:
            s.core_id = s.core_id or reg.id
            samples.append(s)
        boxes += [PatchBox(b.bbox, b.sample + offset, b.score, b.kind) for b in r.evidence.patch_boxes]
        if r.evidence.cells is not None:
            cells.append(r.evidence.cells)
        heatmaps += r.evidence.heatmaps
    calls = [c.score or c.score3 for c in cores]
    counts = {s: calls.count(s) for s in (*SCORES4, *SCORES3) if s in calls}
    spread = ", ".join(f"{n} x {s}" for s, n in counts.items() if n)
    return ScoreResult(
        slide=str(getattr(source, "path", "")), method=top.method, score=top.score,
        probabilities=dict(top.probabilities), model=top.model, confidence=top.confidence,
        subclass=top.subclass if top.score == "0" else None,
        explanation=f"highest core score: {top.score or top.score3} (core {regions[best].id}); cores: {spread}",
        samples=samples, cores=cores, cells=None,
        evidence=Evidence(patch_boxes=boxes, cells=CellDetections.concat(cells) if cells else None,
                          heatmaps=merge_heatmaps(heatmaps)),
        params=dict(top.params), ish_positive=top.ish_positive,
    )


def call_rank(result: Any) -> int:
    """Order of a region's call for "the highest core": 4-way scores, or a 3-way model's 0 < Low < High."""
    from .asco import SCORES4

    if result.score in SCORES4:
        return SCORES4.index(result.score)
    return {"0": 0, "Low": 1, "High": 3}.get(result.score3 or "", -1)


def merge_heatmaps(heatmaps: list[Heatmap], max_cells: int = MERGED_HEATMAP_MAX_CELLS) -> list[Heatmap]:
    """Paste heatmaps of the same name (one per core) into one grid over their union, each at its own origin:
    the merged cells are a quarter of the cores' (unless the union would exceed `max_cells` a side), and each
    takes the value of the core cell under its centre, so a core's map is off by at most an eighth of its cell.
    Cells without evidence (NaN in a core's map, or outside every core) stay NaN: drawn clear, not as 0."""
    by_name: dict[str, list[Heatmap]] = {}
    for h in heatmaps:
        by_name.setdefault(h.name, []).append(h)
    merged = []
    for name, hs in by_name.items():
        if len(hs) == 1:
            merged.append(hs[0])
            continue
        x0 = min(h.l0_origin[0] for h in hs)
        y0 = min(h.l0_origin[1] for h in hs)
        x1 = max(h.l0_origin[0] + h.values.shape[1] * h.l0_cell_size for h in hs)
        y1 = max(h.l0_origin[1] + h.values.shape[0] * h.l0_cell_size for h in hs)
        cell = max(min(h.l0_cell_size for h in hs) / 4.0, max(x1 - x0, y1 - y0) / max_cells)
        cols, rows = int(math.ceil((x1 - x0) / cell)), int(math.ceil((y1 - y0) / cell))
        grid = np.full((rows, cols), np.nan, np.float32)
        centres_x = x0 + (np.arange(cols) + 0.5) * cell
        centres_y = y0 + (np.arange(rows) + 0.5) * cell
        for h in hs:
            vals = np.asarray(h.values, np.float32)
            cx = np.floor((centres_x - h.l0_origin[0]) / h.l0_cell_size).astype(int)
            cy = np.floor((centres_y - h.l0_origin[1]) / h.l0_cell_size).astype(int)
            in_x = np.flatnonzero((cx >= 0) & (cx < vals.shape[1]))
            in_y = np.flatnonzero((cy >= 0) & (cy < vals.shape[0]))
            if in_x.size == 0 or in_y.size == 0:
                continue
            patch = vals[np.ix_(cy[in_y], cx[in_x])]
            block = grid[np.ix_(in_y, in_x)]
            grid[np.ix_(in_y, in_x)] = np.fmax(block, patch)     # NaN only where both have no evidence
        merged.append(Heatmap(name, grid, (float(x0), float(y0)), float(cell), hs[0].vmin, hs[0].vmax,
                              hs[0].description))
    return merged


def clip_boxes(boxes: list[PatchBox], width: int, height: int) -> list[PatchBox]:
    """Patch boxes cut to the image (a sample read at the edge was padded: the padding is not the slide);
    boxes wholly outside are dropped."""
    out = []
    for b in boxes:
        x, y, w, h = b.bbox
        cx0, cy0 = max(0, x), max(0, y)
        cx1, cy1 = min(width, x + w), min(height, y + h)
        if cx1 > cx0 and cy1 > cy0:
            out.append(PatchBox((int(cx0), int(cy0), int(cx1 - cx0), int(cy1 - cy0)), b.sample, b.score, b.kind))
    return out
