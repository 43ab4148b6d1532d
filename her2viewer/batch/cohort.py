"""The cohort table of a project: one row per slide and one per TMA core, with ids, patient ids, the suggested
score and its probabilities, cell percentages, the input checks and the reviewed score; CSV and JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..atomic import atomic_write_text
from ..csvio import csv_text
from ..scoring.result import ScoreResult

PROB_KEYS = ("0", "1+", "2+", "3+", "Low", "High")
CELL_KEYS = ("n_tumour", "h_score", "pct_complete_strong", "pct_complete_weak_moderate", "pct_complete_faint",
             "pct_incomplete_strong", "pct_incomplete_weak_moderate", "pct_incomplete_faint",
             "pct_any_staining", "pct_none")
COLUMNS = ("slide_id", "slide", "core_id", "patient_id", "case_id", "method", "score", "score3",
           *(f"p_{k}" for k in PROB_KEYS), "confidence", *CELL_KEYS, "qc_status", "qc_messages",
           "reviewed_score", "reviewer", "error", "note")


def _row(**values: Any) -> dict[str, Any]:
    return {c: values.get(c, "") for c in COLUMNS}


def _numbers(probs: dict[str, float] | None, cells: dict[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {f"p_{k}": round(float(v), 4) for k, v in (probs or {}).items() if k in PROB_KEYS}
    for k in CELL_KEYS:
        v = (cells or {}).get(k)
        if isinstance(v, (int, float)):
            out[k] = round(float(v), 2)
    return out


def cohort_rows(project: Any, method: str | None = None) -> list[dict[str, Any]]:
    """The cohort table of a `her2viewer.project.Project` (scores of `method`, or each slide's newest)."""
    db, cache = project.db, project.results
    latest: dict[str, Any] = {}
    for s in db.scores(method):
        latest[s.slide_id] = s
    rows: list[dict[str, Any]] = []
    for slide in db.slides():
        sc = latest.get(slide.id)
        reviews = {r.core_id: r for r in db.reviews_for_slide(slide.path)}
        tma = db.tma_map(slide.id)
        patients = {p for p, _ in tma.values() if p}
        base = {"slide_id": slide.id, "slide": slide.path, "patient_id": slide.patient_id,
                "case_id": slide.case_id}
        slide_review = reviews.get(None)
        review = {"reviewed_score": slide_review.score, "reviewer": slide_review.reviewer} if slide_review else {}
        if sc is None:
            rows.append(_row(**base, **review, note="not scored"))
            continue
        result: ScoreResult | None = cache.load(sc.cache_key) if sc.cache_key else None
        if result is None:
            rows.append(_row(**base, **review, method=sc.method, error=sc.error or "",
                             note="" if sc.error else "the cached result is missing: score again"))
            continue
        qc = result.qc or {}
        common = {**base, "method": result.method, "qc_status": qc.get("status", ""),
                  "qc_messages": "; ".join(qc.get("messages", []) or [])}
        if len(patients) > 1:
            rows.append(_row(**common, **review, note=f"multi-patient TMA ({len(patients)} patients): "
                             "no slide call, see the per-core rows"))
        else:
            rows.append(_row(**common, **review, score=result.score or "", score3=result.score3 or "",
                             confidence="" if result.confidence is None else round(result.confidence, 4),
                             **_numbers(result.probabilities, result.cells)))
        for core in result.cores:
            pat, case = tma.get(core.id, ("", ""))
            r = reviews.get(core.id)
            rows.append(_row(**{**common, "patient_id": pat or slide.patient_id, "case_id": case or slide.case_id},
                             core_id=core.id, score=core.score or "", score3=core.score3 or "",
                             confidence="" if core.confidence is None else round(core.confidence, 4),
                             **_numbers(core.probabilities, core.cells),
                             **({"reviewed_score": r.score, "reviewer": r.reviewer} if r else {})))
    return rows


def write_cohort(rows: list[dict[str, Any]], folder: str | Path, stem: str = "cohort") -> tuple[Path, Path]:
    """Write the table as STEM.csv (formula-safe) and STEM.json into `folder`; returns both paths."""
    folder = Path(folder)
    csv_path, json_path = folder / f"{stem}.csv", folder / f"{stem}.json"
    atomic_write_text(csv_path, csv_text(COLUMNS, rows))
    atomic_write_text(json_path, json.dumps({"columns": list(COLUMNS), "rows": rows}, indent=1) + "\n")
    return csv_path, json_path
