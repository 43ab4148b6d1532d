"""The rule-based ASCO/CAP scorer (method "rules"): cells, membranes, percentages, the guideline's decision.

Options come from `ScoreOptions.extra["rules"]` (see `RulesParams.from_extra`), e.g.
`{"membrane": {"strong": 0.6}, "stains": "default", "workers": 2}`.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from ...progress import Task
from ...slide.base import SlideSource
from ...slide.region import Region
from ..asco import SCORES4
from ..base import ScoreOptions, register_scorer
from ..result import CellDetections, Evidence, Heatmap, ModelInfo, ScoreResult
from .confidence import apply_call_precision, matrix_from
from .decision import bootstrap_probabilities, confidence, decide, intensity_class, is_complete
from .params import RulesParams
from .tiles import RegionCells, analyse_region

log = logging.getLogger(__name__)

VERSION = "1.0"
HEATMAP_CELL_UM = 100.0


class RulesScorer:
    """Scores a region by the ASCO/CAP rule applied to detected tumour cells."""

    method = "rules"

    def __init__(self, options: ScoreOptions | None = None, params: RulesParams | None = None) -> None:
        self.options = options or ScoreOptions()
        extra = _with_profile(self.options.extra.get("rules"))
        extra.setdefault("criteria", self.options.criteria)
        extra.setdefault("specimen", self.options.specimen)
        self.params = params or RulesParams.from_extra(extra, self.options.seed)
        m = self.params.confidence_matrix
        self._precision = None if m is None else matrix_from(m, "rules option confidence_matrix")

    def score_region(self, source: SlideSource, region: Region, task: Task | None = None) -> ScoreResult:
        """Detect cells in the region, classify their membranes and apply the ASCO/CAP rule."""
        task = task or Task()
        t0 = time.perf_counter()
        p = self.params
        rc = analyse_region(source, region, p, task.sub(0.0, 0.95))
        tum = rc.cells.tumour
        od, comp = rc.cells.membrane_od[tum], rc.cells.completeness[tum]
        xy_um = np.stack([rc.l0_x[tum], rc.l0_y[tum]], 1) * rc.mpp
        decision, pcts, inten, complete = decide(od, comp, p.membrane, p.positive_pct, p.criteria, p.specimen,
                                                 xy_um)
        task.report(0.96, "estimating uncertainty")
        boot = bootstrap_probabilities(od, comp, p.membrane, p.bootstrap, p.threshold_jitter, p.seed,
                                       p.positive_pct, p.criteria, p.specimen, xy_um)
        # how often such a call was right on the profile's labelled real images (measured on breast calls)
        calibrated = self._precision is not None and p.criteria == "breast"
        probs = apply_call_precision(boot, self._precision) if calibrated else boot
        cells = dict(pcts.as_dict())
        cells.update({
            "n_detected": int(len(rc.cells)),
            "n_tumour": int(tum.sum()),
            "n_non_tumour": int(len(rc.cells) - tum.sum()),
            "h_score": float(sum(k * c for k, c in zip((1, 2, 3), np.bincount(inten, minlength=4)[1:], strict=True))
                             * 100.0 / max(1, len(inten))),
        })
        # Every detected cell goes into the evidence, tumour or not (the flag says which were counted);
        # non-tumour cells are classified with the same thresholds so that a reviewer sees what was excluded.
        all_inten = intensity_class(rc.cells.membrane_od, p.membrane)
        all_inten[tum] = inten
        all_complete = is_complete(rc.cells.completeness, all_inten, p.membrane)
        all_complete[tum] = complete
        detections = CellDetections(rc.l0_x.astype(np.float32), rc.l0_y.astype(np.float32),
                                    all_inten.astype(np.int8), all_complete.astype(bool), tum.astype(bool),
                                    rc.cells.membrane_od.astype(np.float32), rc.cells.completeness.astype(np.float32))
        explanation = decision.reason
        cells["criteria"] = p.criteria
        if p.criteria == "gastric":
            cells["specimen"] = p.specimen
        if decision.score == "0" and decision.subclass:
            explanation += f" (HER2-{decision.subclass})" if decision.subclass not in explanation else ""
        explanation = with_sentences(explanation, boundary_note(decision.score, boot),
                                     precision_note(decision.score, boot, probs, self._precision) if calibrated else "")
        result = ScoreResult(
            slide=str(getattr(source, "path", "")),
            method=self.method,
            score=decision.score,
            probabilities=probs,
            model=ModelInfo(name="asco-cap-rules", sha256=None, version=VERSION),
            confidence=confidence(probs, decision.score),
            subclass=decision.subclass,
            explanation=explanation,
            cells=cells,
            evidence=Evidence(cells=detections, heatmaps=[_hscore_heatmap(rc, inten, region)]),
            params=_params(rc, p, boot, calibrated),
            ish_positive=self.options.ish_positive,
        )
        result.elapsed_s = time.perf_counter() - t0
        task.report(1.0, f"rules: {decision.score}")
        log.info("rules scorer: %s on %d tumour cells in %.1f s", decision.score, int(tum.sum()), result.elapsed_s)
        return result


def boundary_note(score: str | None, probs: dict[str, float]) -> str:
    """A sentence when the bootstrap favours another class than the call: the call is the ASCO/CAP table on the
    measured cells; the probabilities say how often resampled cells and jittered cut-offs land elsewhere."""
    if score is None or not probs:
        return ""
    top = max(probs, key=lambda k: probs[k])
    if top == score or probs.get(top, 0.0) <= probs.get(score, 0.0):
        return ""
    return (f"The measured cells meet {score}, but {probs[top]:.0%} of resamples (cells and cut-offs jittered) "
            f"land on {top} and {probs.get(score, 0.0):.0%} on {score}: the case lies at the {score} / {top} "
            "boundary and needs the reviewer's eye")


def with_sentences(text: str, *sentences: str) -> str:
    """`text` followed by each non-empty sentence, each ending with a full stop."""
    for sentence in filter(None, sentences):
        text = text.rstrip()
        text += ("" if text.endswith(".") else ".") + " " + sentence.rstrip(".") + "."
    return text


def precision_note(score: str | None, boot: dict[str, float], probs: dict[str, float],
                   matrix: np.ndarray | None = None) -> str:
    """Sentences when the stain profile's call precision lowers a call the cells give clearly, or makes another
    score more probable than the call: what the resamples gave, how often such calls were right on the
    profile's labelled images, and which score the reviewer has to weigh against the call."""
    if score is None or score not in probs:
        return ""
    top = max(probs, key=lambda k: probs[k])
    other = top if top != score and probs[top] > probs[score] else None
    if other is None and boot.get(score, 0.0) - probs[score] < 0.2:
        return ""
    given = sorted((k for k in boot if boot[k] >= 0.05), key=lambda k: -boot[k]) or [score]
    text = (f"Confidence {probs[score]:.0%}: the cells give "
            + " and ".join(f"{k} in {boot.get(k, 0.0):.0%}" for k in given) + " of resamples; on the stain "
            "profile's labelled real images ")
    if matrix is not None:
        text += " and ".join((f"a {k} call had that label " if i == 0 else f"a {k} call ")
                             + f"{float(matrix[SCORES4.index(k)][SCORES4.index(k)]):.0%}"
                             + (" of the time" if i == 0 else "") for i, k in enumerate(given) if k in SCORES4)
        text += ", so "
    text += f"an image measured like this one was {score} about {probs[score]:.0%} of the time"
    if other:
        text += (f". Such images were more often {other} ({probs[other]:.0%}) than {score}: the reviewer weighs "
                 f"{other} against the call")
    return text


def _params(rc: RegionCells, p: RulesParams, boot: dict[str, float], calibrated: bool) -> dict:
    """What the result says about how it was computed."""
    d = p.as_dict()
    if p.criteria != "gastric":
        d.pop("specimen")  # a breast call has no specimen rule
    d.update({
        "mpp": rc.mpp,
        "mpp_assumed": rc.mpp_assumed,
        "analysis_um_per_px": rc.px_um,
        "stain_vectors": {"hematoxylin": rc.stains.vectors[0].round(4).tolist(),
                          "dab": rc.stains.vectors[1].round(4).tolist()},
        "hema_threshold_od": round(float(rc.hema_threshold), 4),
        "tiles": rc.n_tiles,
        "tiles_skipped": rc.n_tiles_skipped,
        "probabilities": ("bootstrap over tumour cells with jittered OD thresholds, passed through the stain "
                          "profile's call precision on labelled real images" if calibrated else
                          "bootstrap over tumour cells with jittered OD thresholds"),
        "bootstrap_probabilities": {k: round(v, 4) for k, v in boot.items()},
    })
    if rc.mpp_assumed:
        d["note"] = f"the slide does not state its resolution; {rc.mpp} um/px was assumed"
    return d


def _hscore_heatmap(rc: RegionCells, inten: np.ndarray, region: Region) -> Heatmap:
    """Membrane H-score (0-300) of the tumour cells per grid cell of HEATMAP_CELL_UM (NaN with < 3 cells)."""
    x0, y0, w, h = region.l0_bbox
    cell = HEATMAP_CELL_UM / rc.mpp
    cols, rows = max(1, int(np.ceil(w / cell))), max(1, int(np.ceil(h / cell)))
    tum = rc.cells.tumour
    c = np.clip(((rc.l0_x[tum] - x0) / cell).astype(int), 0, cols - 1)
    r = np.clip(((rc.l0_y[tum] - y0) / cell).astype(int), 0, rows - 1)
    idx = r * cols + c
    n = np.bincount(idx, minlength=rows * cols)
    s = np.bincount(idx, inten.astype(float), minlength=rows * cols)
    vals = np.where(n >= 3, s / np.maximum(n, 1) * 100.0, np.nan).reshape(rows, cols).astype(np.float32)
    return Heatmap("membrane_hscore", vals, (float(x0), float(y0)), float(cell), 0.0, 300.0,
                   "membrane H-score of tumour cells (0-300)")


def _with_profile(extra: dict | None) -> dict:
    """The rules options, on top of the shipped stain profile unless they bring their own cut-offs."""
    from .profile import default_profile, profile_extra

    extra = dict(extra or {})
    if "membrane" in extra or "profile" in extra:
        return extra
    base = profile_extra(default_profile())
    for key, value in extra.items():
        base[key] = {**base[key], **value} if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return base


@register_scorer("rules")
def _factory(options: ScoreOptions) -> RulesScorer:
    """Build the rules scorer from score options."""
    return RulesScorer(options)
