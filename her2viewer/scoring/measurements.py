"""The measurement table of a result, like QuPath's: one row for the slide (or region) and one per TMA core,
with tumour cells, the percentage of tumour cells in each membrane pattern, the H-score and the call;
exportable to CSV (`score --measurements OUT.csv`, the viewer's Measurements dock)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..atomic import atomic_write_text
from ..csvio import csv_rows_text
from .result import ScoreResult

#: (column title, key of the cells dict, decimals)
COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("Tumour cells", "n_tumour", 0),
    ("Other cells", "n_non_tumour", 0),
    ("% no staining", "pct_none", 1),
    ("% complete strong", "pct_complete_strong", 1),
    ("% complete weak-moderate", "pct_complete_weak_moderate", 1),
    ("% complete faint", "pct_complete_faint", 1),
    ("% incomplete strong", "pct_incomplete_strong", 1),
    ("% incomplete weak-moderate", "pct_incomplete_weak_moderate", 1),
    ("% incomplete faint", "pct_incomplete_faint", 1),
    ("H-score", "h_score", 0),
)
HEADER: tuple[str, ...] = ("Region", "Call", *(c[0] for c in COLUMNS))


def _cell(value: Any, decimals: int) -> str:
    if not isinstance(value, (int, float)):
        return ""
    return f"{value:.{decimals}f}" if decimals else f"{round(value):d}"


def pooled_cells(parts: list[dict[str, Any]]) -> dict[str, float] | None:
    """The cores' measurements pooled over all their tumour cells (counts summed, percentages and H-score
    weighted by tumour cells), or None when no core measured cells."""
    parts = [p for p in parts if isinstance(p, dict) and isinstance(p.get("n_tumour"), (int, float))]
    if not parts:
        return None
    n = sum(float(p["n_tumour"]) for p in parts)
    out: dict[str, float] = {"n_tumour": n, "n_non_tumour": sum(float(p.get("n_non_tumour", 0)) for p in parts)}
    for _, key, _ in COLUMNS:
        if key.startswith("pct_") or key == "h_score":
            out[key] = sum(float(p.get(key, 0.0)) * float(p["n_tumour"]) for p in parts) / max(n, 1.0)
    return out


def measurement_rows(result: ScoreResult) -> list[list[str]]:
    """The table's rows (without the header): the whole slide first (a TMA's cores pooled), then each core;
    cell measurements are empty for a method that measures no cells."""
    whole = "whole slide" if result.cores else str(result.params.get("scope", "slide"))
    cells = result.cells if isinstance(result.cells, dict) else pooled_cells([c.cells for c in result.cores])
    rows = [[whole, result.score or result.score3 or "not assessable",
             *(_cell((cells or {}).get(key), d) for _, key, d in COLUMNS)]]
    for core in result.cores:
        rows.append([core.id, core.score or core.score3 or "",
                     *(_cell((core.cells or {}).get(key), d) for _, key, d in COLUMNS)])
    return rows


def measurements_csv(result: ScoreResult) -> str:
    """The table as CSV text (with the header)."""
    return csv_rows_text([HEADER, *measurement_rows(result)])


def write_measurements_csv(result: ScoreResult, path: str | Path) -> Path:
    """Write the table as CSV, atomically; returns the path."""
    p = Path(path)
    atomic_write_text(p, measurements_csv(result))
    return p
