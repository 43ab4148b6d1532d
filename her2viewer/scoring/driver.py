"""Score a whole slide: find what to score (TMA cores, the tissue, or a given region), run one scorer on
each region and summarise.

Scopes:

* "auto": a TMA (>= 2 round cores in a grid, `her2viewer.tissue.tma`) is scored core by core; anything
  else (a whole slide, a single core image) as ONE region: the bounding box of all its tissue, sampled on
  the tissue mask only.
* "cores": core by core even when the slide does not look like a TMA (a single core image gives one core).
* "slide": the tissue of the whole slide as one region.
* a `Region`: just that region.

`exclude` (a shapely area in level-0 px, e.g. the union of the Ignore annotations) is cut out of every
region's mask (`exclude_area`): a TMA is still scored core by core, a core wholly inside it is left out.

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

import cv2
import numpy as np

from ..progress import Task
from ..slide.base import SlideSource
from .base import Region, RegionMask, ScoreOptions, Scorer, create_scorer
from .result import CellDetections, CoreResult, Evidence, Heatmap, ModelInfo, PatchBox, ScoreResult

log = logging.getLogger(__name__)

SCOPES = ("auto", "slide", "cores")
MERGED_HEATMAP_MAX_CELLS = 256


def crop_region_mask(mask: RegionMask, l0_bbox: tuple[int, int, int, int]) -> RegionMask:
    """The part of a mask that covers a level-0 box (shares no pixels outside it)."""
    ds = mask.downsample
    x, y, w, h = l0_bbox
    c0 = max(0, int(math.floor((x - mask.l0_origin[0]) / ds)))
    r0 = max(0, int(math.floor((y - mask.l0_origin[1]) / ds)))
    c1 = min(mask.mask.shape[1], int(math.ceil((x + w - mask.l0_origin[0]) / ds)))
    r1 = min(mask.mask.shape[0], int(math.ceil((y + h - mask.l0_origin[1]) / ds)))
    sub = mask.mask[r0:max(r0, r1), c0:max(c0, c1)].copy()
    return RegionMask(sub, (mask.l0_origin[0] + c0 * ds, mask.l0_origin[1] + r0 * ds), ds)


def _find_cores(source: SlideSource) -> tuple[list[Any], Any, bool]:
    """(cores, tissue mask, looks like a TMA) from the tissue package."""
    from ..tissue import tma

    cores, tm, n_round = tma.find_cores(source)
    return cores, tm, tma.tma_verdict(cores, tm, n_round, source.dimensions)


def _tissue_region(source: SlideSource, tm: Any | None = None) -> Region | None:
    """The bounding box of all tissue with the tissue mask; None when no tissue is found."""
    W, H = source.dimensions
    if tm is None:
        from ..tissue.mask import tissue_mask

        tm = tissue_mask(source)
    if not tm.regions:
        log.info("no tissue found in %s", getattr(source, "path", "slide"))
        return None
    x0 = min(r[0] for r in tm.regions)
    y0 = min(r[1] for r in tm.regions)
    x1 = max(r[0] + r[2] for r in tm.regions)
    y1 = max(r[1] + r[3] for r in tm.regions)
    bbox = (int(x0), int(y0), int(x1 - x0), int(y1 - y0))
    return Region(bbox, crop_region_mask(tm.as_region_mask(), bbox), "slide")


def _core_regions(cores: list[Any], tm: Any) -> list[Region]:
    mask = tm.as_region_mask()
    return [Region(tuple(int(v) for v in c.l0_bbox), crop_region_mask(mask, c.l0_bbox), c.id) for c in cores]


def exclude_area(region: Region, exclude: Any) -> Region | None:
    """The region without the polygonal `exclude` area (level-0 shapely geometry): mask pixels whose centre
    lies inside it are turned off (a region without a mask gets one); None when nothing is left."""
    import shapely

    from ..annotations.regions import mask_downsample, rasterize

    x, y, w, h = region.l0_bbox
    if exclude is None or exclude.is_empty or not exclude.intersects(shapely.box(x, y, x + w, y + h)):
        return region
    mask = region.mask
    if mask is None:
        ds = mask_downsample(w, h)
        mask = RegionMask(np.ones((max(1, math.ceil(h / ds)), max(1, math.ceil(w / ds))), bool),
                          (float(x), float(y)), ds)
    keep = mask.mask.astype(bool) & ~rasterize(exclude, mask.l0_origin, mask.downsample, mask.mask.shape)
    if not keep.any():
        return None
    return Region(region.l0_bbox, RegionMask(keep, mask.l0_origin, mask.downsample), region.id)


class NothingToScoreError(ValueError):
    """The excluded (Ignore) areas cover everything there was to score; the message names the slide."""


def regions_for(source: SlideSource, scope: str | Region = "auto", *, exclude: Any = None
                ) -> tuple[str, list[Region]]:
    """What to score: ("tma", cores) | ("slide", [tissue]) | ("region", [region]), minus `exclude`;
    ("slide", []) when the slide has no tissue."""
    kind, regions = _regions_for(source, scope)
    if exclude is None or not regions:
        return kind, regions
    kept = [r for r in (exclude_area(r, exclude) for r in regions) if r is not None]
    if not kept:
        raise NothingToScoreError(f"nothing is left to score in {getattr(source, 'path', 'the slide')} outside "
                                  "the excluded (Ignore) areas")
    if len(kept) < len(regions):
        log.info("%d region(s) lie wholly inside the excluded areas and are not scored", len(regions) - len(kept))
    return kind, kept


def _regions_for(source: SlideSource, scope: str | Region = "auto") -> tuple[str, list[Region]]:
    if isinstance(scope, Region):
        return "region", [scope]
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}; use one of {', '.join(SCOPES)} or a Region")
    if scope == "slide":
        tissue = _tissue_region(source)
        return "slide", [tissue] if tissue else []
    cores, tm, tma_like = _find_cores(source)
    if scope == "cores":
        if not cores:
            raise ValueError(f"no cores found in {getattr(source, 'path', 'the slide')}")
        return "tma", _core_regions(cores, tm)
    if tma_like:
        return "tma", _core_regions(cores, tm)
    tissue = _tissue_region(source, tm)
    return "slide", [tissue] if tissue else []


def score_slide(source: SlideSource, method: str, options: ScoreOptions | None = None, *,
                scope: str | Region = "auto", task: Task | None = None, scorer: Scorer | None = None,
                exclude: Any = None) -> ScoreResult:
    """Check the input, then score a slide with `method`: each TMA core, or the slide's tissue, or one
    region, without the `exclude` area (see module doc)."""
    from ..qc import QCParams, QCReport, resolve_pixel_size, run_qc
    from ..qc.checks import check_tumour_cells

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
    result.slide = str(getattr(source, "path", ""))
    result.method = method
    result.params = {**result.params, **_run_params(options, kind, len(regions), exclude),
                     "device": result.params.get("device", options.device), "mpp": pixel_size.mpp,
                     "mpp_source": pixel_size.source}
    result.elapsed_s = time.perf_counter() - t0
    task.report(1.0, f"{method}: {result.score if result.assessable else 'not assessable'}")
    return result


def _run_params(options: ScoreOptions, kind: str, n_regions: int, exclude: Any) -> dict[str, Any]:
    return {"criteria": options.criteria,
            **({"specimen": options.specimen} if options.criteria == "gastric" else {}),
            "N": options.n_samples, "k": options.top_k, "seed": options.seed, "device": options.device,
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
                         params=_run_params(options, kind, 0, None))
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
    """Paste heatmaps of the same name (one per core) into one grid over their union; NaN where none."""
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
        cell = max(min(h.l0_cell_size for h in hs), max(x1 - x0, y1 - y0) / max_cells)
        cols, rows = int(math.ceil((x1 - x0) / cell)), int(math.ceil((y1 - y0) / cell))
        grid = np.full((rows, cols), np.nan, np.float32)
        for h in hs:
            c0 = int((h.l0_origin[0] - x0) // cell)
            r0 = int((h.l0_origin[1] - y0) // cell)
            w = max(1, int(round(h.values.shape[1] * h.l0_cell_size / cell)))
            hh = max(1, int(round(h.values.shape[0] * h.l0_cell_size / cell)))
            vals = cv2.resize(np.nan_to_num(h.values.astype(np.float32)), (w, hh), interpolation=cv2.INTER_AREA)
            tgt = grid[r0:r0 + hh, c0:c0 + w]
            vals = vals[:tgt.shape[0], :tgt.shape[1]]
            grid[r0:r0 + vals.shape[0], c0:c0 + vals.shape[1]] = np.fmax(tgt, vals)
        merged.append(Heatmap(name, grid, (float(x0), float(y0)), float(cell), hs[0].vmin, hs[0].vmax,
                              hs[0].description))
    return merged
