"""TMA maps: a CSV naming the patient (and case) of each core of a tissue microarray."""

from __future__ import annotations

import csv
from pathlib import Path

from .db import ProjectError

CORE_KEYS = ("core_id", "core", "id")
PATIENT_KEYS = ("patient_id", "patient")
CASE_KEYS = ("case_id", "case")
MAX_ROWS = 100_000


def read_tma_map(path: str | Path) -> dict[str, tuple[str, str]]:
    """core id -> (patient id, case id) from a CSV with a core_id and a patient_id (optional case_id) column;
    ProjectError naming the file and line otherwise."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            fields = [f.strip().lower() for f in (reader.fieldnames or [])]
            core_k = next((k for k in CORE_KEYS if k in fields), None)
            pat_k = next((k for k in PATIENT_KEYS if k in fields), None)
            case_k = next((k for k in CASE_KEYS if k in fields), None)
            if core_k is None or (pat_k is None and case_k is None):
                raise ProjectError(f"{path}: a TMA map needs a core_id column and a patient_id or case_id column "
                                   f"(found: {', '.join(fields) or 'none'})")
            out: dict[str, tuple[str, str]] = {}
            for i, raw in enumerate(reader, start=2):
                if i > MAX_ROWS:
                    raise ProjectError(f"{path}: more than {MAX_ROWS} rows; is this a TMA map?")
                row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items() if isinstance(v, str)}
                core = row.get(core_k, "")
                if not core:
                    raise ProjectError(f"{path}, line {i}: no core id")
                if core in out:
                    raise ProjectError(f"{path}, line {i}: core {core!r} is listed twice")
                out[core] = (row.get(pat_k, "") if pat_k else "", row.get(case_k, "") if case_k else "")
    except FileNotFoundError:
        raise ProjectError(f"{path}: no such TMA map") from None
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise ProjectError(f"{path}: cannot read the TMA map ({e})") from None
    if not out:
        raise ProjectError(f"{path}: the TMA map lists no cores")
    return out
