"""Import, once, what older versions of HER2 Viewer wrote beside the slides (her2viewer.sqlite, results/,
annotations/) into a project. The slide's folder is only read (SQLite opened read-only and immutable)."""

from __future__ import annotations

import logging
import shutil
import sqlite3
from pathlib import Path

from .db import DB_NAME, ProjectDB
from .result_cache import CACHE_DIR

log = logging.getLogger(__name__)

_REVIEW_COLS = ("slide_id, core_id, score, score3, ish, comment, reviewer, time, suggested_score, "
                "suggested_method, model_name, model_sha256, revision")
_AUDIT_COLS = "slide_id, core_id, action, old, new, user, time"


def has_sidecars(folder: Path) -> bool:
    """Whether a folder holds data an older version wrote beside its slides."""
    return (folder / DB_NAME).is_file() or (folder / CACHE_DIR).is_dir() or (folder / "annotations").is_dir()


def import_sidecars(db: ProjectDB, project_folder: Path, annotations_dir: Path, folder: str | Path) -> str | None:
    """Copy a slide folder's old sidecar data into the project (its database `db`, its folder and annotations
    folder) the first time that folder is seen; a summary, or None when there was nothing new."""
    folder = Path(folder).expanduser().resolve()
    if folder == project_folder or not has_sidecars(folder) or db.was_imported(folder):
        return None
    n_reviews = _import_db(db, folder / DB_NAME)
    n_results = _copy_new(folder / CACHE_DIR, project_folder / CACHE_DIR, "*.json")
    n_ann = _copy_new(folder / "annotations", annotations_dir, "*.geojson")
    summary = f"{n_reviews} reviews, {n_results} results, {n_ann} annotation files"
    if db.mark_imported(folder, summary):
        log.info("imported the data an older version kept in %s: %s", folder, summary)
    return summary


def _copy_new(src: Path, dest: Path, pattern: str) -> int:
    if not src.is_dir():
        return 0
    n = 0
    for f in sorted(src.glob(pattern)):
        target = dest / f.name
        if target.exists() or not f.is_file():
            continue
        try:
            dest.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(f, target)
            n += 1
        except OSError as e:
            log.warning("cannot import %s: %s", f, e)
    return n


def _import_db(db: ProjectDB, path: Path) -> int:
    """Slides, reviews and audit trail of an old database (never written to); the number of reviews."""
    if not path.is_file():
        return 0
    try:
        old = sqlite3.connect(f"{path.as_uri()}?mode=ro&immutable=1", uri=True)
    except sqlite3.Error as e:
        log.warning("cannot read the old project database %s: %s", path, e)
        return 0
    try:
        slides = old.execute("SELECT id, path, name, added FROM slides").fetchall()
        reviews = old.execute(f"SELECT {_REVIEW_COLS} FROM reviews").fetchall()
        audit = old.execute(f"SELECT {_AUDIT_COLS} FROM audit ORDER BY seq").fetchall()
    except sqlite3.Error as e:
        log.warning("cannot read the old project database %s: %s", path, e)
        return 0
    finally:
        old.close()
    n = 0
    with db._write() as conn:  # noqa: SLF001 - one transaction for the whole import
        for row in slides:
            conn.execute("INSERT OR IGNORE INTO slides (id, path, name, added) VALUES (?, ?, ?, ?)", row)
        for row in reviews:
            cur = conn.execute(f"INSERT OR IGNORE INTO reviews ({_REVIEW_COLS}) "
                               f"VALUES ({', '.join('?' * 13)})", row)
            n += cur.rowcount
        have = {tuple(r) for r in conn.execute(f"SELECT {_AUDIT_COLS} FROM audit").fetchall()}
        conn.executemany(f"INSERT INTO audit ({_AUDIT_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                         [r for r in audit if tuple(r) not in have])
    return n
