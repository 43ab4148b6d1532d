"""Writing CSV tables that spreadsheets open safely: a text cell starting with a formula character is quoted."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

#: spreadsheet programs run a cell that starts with one of these as a formula
FORMULA_LEAD = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """A CSV cell that a spreadsheet shows as text: a text cell with a leading formula character gets a quote."""
    if isinstance(value, str) and value.startswith(FORMULA_LEAD):
        return "'" + value
    return value


def csv_text(columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> str:
    """A formula-safe CSV table (header + one line per row; keys not in `columns` are dropped)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: safe_cell(v) for k, v in r.items()})
    return buf.getvalue()


def csv_rows_text(rows: Iterable[Sequence[Any]]) -> str:
    """Formula-safe CSV of plain rows (the first row usually the header)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    for r in rows:
        w.writerow([safe_cell(v) for v in r])
    return buf.getvalue()
