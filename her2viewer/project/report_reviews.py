"""What a report prints from a project database: the slide's and each TMA core's current review, and the case
fields (case id, patient, specimen, block, antibody clone) stored with the slide."""

from __future__ import annotations

from pathlib import Path

from ..report.model import EDITABLE_CASE_FIELDS, ReviewInfo
from .db import DB_NAME, ProjectDB
from .locations import project_dir_for


def _info(r) -> ReviewInfo:  # noqa: ANN001 - a her2viewer.project.Review
    ish = {"positive": True, "negative": False}.get(str(r.ish).lower())
    return ReviewInfo(r.score, ish, r.reviewer, r.time, r.comment)


def stored_reviews(slide_path: str | Path, project_folder: str | Path | None = None
                   ) -> tuple[ReviewInfo | None, dict[str, ReviewInfo]]:
    """(the slide's current review or None, {core id: its current review}) from the slide's project (the given
    folder, else the per-user one); nothing when there is no database (none is created). A database that
    exists but cannot be read raises ProjectError naming it: a report must not say "Not reviewed" then."""
    p = Path(slide_path).expanduser()
    folder = Path(project_folder) if project_folder else project_dir_for(p)
    if not (folder / DB_NAME).is_file():
        return None, {}
    with ProjectDB.open(folder) as db:
        reviews = db.reviews_for_slide(p)
    slide = next((_info(r) for r in reviews if r.core_id is None), None)
    cores = {r.core_id: _info(r) for r in reviews if r.core_id}
    return slide, cores


CASE_KEY = "case_fields"


def stored_case_fields(slide_path: str | Path, project_folder: str | Path | None = None) -> dict[str, str]:
    """The case fields stored with a slide in its project ({} when none; no database is created)."""
    p = Path(slide_path).expanduser()
    folder = Path(project_folder) if project_folder else project_dir_for(p)
    if not (folder / DB_NAME).is_file():
        return {}
    with ProjectDB.open(folder) as db:
        return read_case_fields(db, p)


def read_case_fields(db: ProjectDB, slide_path: str | Path) -> dict[str, str]:
    """The case fields stored with a slide in an open project database."""
    value = db.settings(slide_path).get(CASE_KEY) or {}
    return {k: str(v)[:200] for k, v in value.items() if k in EDITABLE_CASE_FIELDS and v} if isinstance(value, dict) \
        else {}


def save_case_fields(db: ProjectDB, slide_path: str | Path, fields: dict[str, str]) -> dict[str, str]:
    """Store a slide's case fields (unknown keys dropped, text trimmed to 200 characters); what was stored."""
    clean = {k: str(v).strip()[:200] for k, v in fields.items() if k in EDITABLE_CASE_FIELDS and str(v).strip()}
    db.set_setting(slide_path, CASE_KEY, clean)
    return clean
