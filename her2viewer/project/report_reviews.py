"""The reviews a report prints, read from a project database: the slide's and each TMA core's current review."""

from __future__ import annotations

from pathlib import Path

from ..report.model import ReviewInfo
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
