"""A project: a folder (like a QuPath project) with a project file and one SQLite database holding its images,
reviews and audit trail, cached results (results/), annotations (annotations/) and per-slide settings.

Images are referenced by path, with their size and a content hash so that a moved slide can be relinked.
Nothing is written beside a slide; sidecar data that older versions kept there is imported once (`sidecar`).
"""

from __future__ import annotations

import json
import logging
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ..atomic import atomic_write_text
from .db import ProjectDB, ProjectError, ScoreRecord, SlideRecord, now_iso
from .identity import content_hash
from .locations import default_project_dir
from .result_cache import ResultCache
from .sidecar import import_sidecars

log = logging.getLogger(__name__)

PROJECT_FILE = "project.her2viewer.json"
FORMAT = "her2viewer-project/1"
#: files a folder scan adds to a project (whole-slide formats and plain images)
SLIDE_SUFFIXES = (".svs", ".ndpi", ".mrxs", ".scn", ".tif", ".tiff", ".vms", ".vmu", ".bif", ".svslide",
                  ".jpg", ".jpeg", ".png", ".bmp")
STATUSES = ("not scored", "scored", "reviewed", "QC failed", "error", "missing")


@dataclass(frozen=True)
class ImageEntry:
    """An image of the project with its status, suggested and reviewed score."""

    slide: SlideRecord
    status: str
    suggested: str | None = None
    method: str | None = None
    confidence: float | None = None
    reviewed: str | None = None
    error: str | None = None

    @property
    def path(self) -> Path:
        return Path(self.slide.path)


def is_slide_file(path: Path) -> bool:
    """Whether a folder scan takes this file as an image (by suffix; hidden files are skipped)."""
    return path.suffix.lower() in SLIDE_SUFFIXES and not path.name.startswith(".")


class Project:
    """One project folder: its database, result cache and annotations."""

    def __init__(self, folder: Path, name: str, db: ProjectDB) -> None:
        """Use `create`, `open` or `default`."""
        self.folder = folder
        self.name = name
        self.db = db

    # -- opening ----------------------------------------------------------------------------------------
    @classmethod
    def is_project(cls, folder: str | Path) -> bool:
        """Whether `folder` holds a project file."""
        return (Path(folder).expanduser() / PROJECT_FILE).is_file()

    @classmethod
    def create(cls, folder: str | Path, name: str | None = None) -> Project:
        """Make `folder` a project (an existing project is opened); ProjectError naming the folder otherwise."""
        folder = Path(folder).expanduser().resolve()
        if cls.is_project(folder):
            return cls.open(folder)
        if folder.exists() and not folder.is_dir():
            raise ProjectError(f"{folder} is a file, not a project folder")
        try:
            folder.mkdir(parents=True, exist_ok=True)
            atomic_write_text(folder / PROJECT_FILE, json.dumps(
                {"format": FORMAT, "name": name or folder.name, "created": now_iso()}, indent=1) + "\n")
        except OSError as e:
            raise ProjectError(f"cannot create the project {folder}: {e.strerror or e}") from e
        return cls.open(folder)

    @classmethod
    def open(cls, folder: str | Path) -> Project:
        """Open an existing project folder; ProjectError naming the file and the problem otherwise."""
        folder = Path(folder).expanduser().resolve()
        file = folder / PROJECT_FILE
        try:
            meta = json.loads(file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ProjectError(f"{folder} is not a HER2 Viewer project (no {PROJECT_FILE})") from None
        except (OSError, UnicodeDecodeError) as e:
            raise ProjectError(f"cannot read {file}: {e}") from None
        except json.JSONDecodeError as e:
            raise ProjectError(f"{file}: not valid JSON ({e.msg}, line {e.lineno})") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise ProjectError(f"{file}: not a HER2 Viewer project file (format {FORMAT!r} expected)")
        name = meta.get("name")
        return cls(folder, name if isinstance(name, str) and name else folder.name, ProjectDB.open(folder))

    @classmethod
    def default(cls) -> Project:
        """The per-user project of slides opened without one (created on first use)."""
        return cls.create(default_project_dir(), "Slides opened without a project")

    def close(self) -> None:
        """Close the database."""
        self.db.close()

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- parts --------------------------------------------------------------------------------------------
    @property
    def results(self) -> ResultCache:
        """The project's cached score results."""
        return ResultCache(self.folder)

    @property
    def annotations_dir(self) -> Path:
        """Where the annotation store keeps this project's annotations."""
        return self.folder / "annotations"

    # -- images -------------------------------------------------------------------------------------------
    def add_image(self, path: str | Path) -> SlideRecord:
        """Add a slide file (its sidecar data of older versions is imported once); ProjectError otherwise."""
        p = Path(path).expanduser().resolve()
        try:
            st = p.stat()
        except OSError as e:
            raise ProjectError(f"cannot add {p}: {e.strerror or e}") from None
        if not stat.S_ISREG(st.st_mode):
            raise ProjectError(f"cannot add {p}: not a regular file")
        sid = self.db.add_slide(p)

        import_sidecars(self.db, self.folder, self.annotations_dir, p.parent)
        record = self.db.slide(sid)
        assert record is not None
        return record

    def add_images(self, paths: Iterable[str | Path]) -> tuple[list[SlideRecord], list[str]]:
        """Add many slide files and folders (a folder's slide files, not recursive); (added, problems)."""
        added, problems = [], []
        for item in paths:
            p = Path(item).expanduser()
            files = sorted(f for f in p.iterdir() if f.is_file() and is_slide_file(f)) if p.is_dir() else [p]
            for f in files:
                try:
                    added.append(self.add_image(f))
                except ProjectError as e:
                    problems.append(str(e))
        return added, problems

    def images(self) -> list[ImageEntry]:
        """Every image with its status (missing / error / QC failed / reviewed / scored / not scored)."""
        scores: dict[str, ScoreRecord] = {}
        for s in self.db.scores():  # oldest first: the newest of a slide's methods wins
            scores[s.slide_id] = s
        entries = []
        for rec in self.db.slides():
            sc = scores.get(rec.id)
            reviews = self.db.reviews_for_slide(rec.path)
            reviewed = next((r.score for r in reviews if r.core_id is None), None)
            if reviewed is None and reviews:
                reviewed = f"{len(reviews)} cores"
            if not os.path.exists(rec.path):
                status = "missing"
            elif reviews:
                status = "reviewed"
            elif sc is not None and sc.error:
                status = "error"
            elif sc is not None and sc.qc_status == "not_assessable":
                status = "QC failed"
            elif sc is not None:
                status = "scored"
            else:
                status = "not scored"
            entries.append(ImageEntry(rec, status, sc.score if sc else None, sc.method if sc else None,
                                      sc.confidence if sc else None, reviewed, sc.error if sc else None))
        return entries

    def relink_from(self, folder: str | Path) -> int:
        """Find missing slides in `folder` by size and content hash and point the project at them."""
        missing = [r for r in self.db.slides() if not os.path.exists(r.path) and r.hash]
        if not missing:
            return 0
        by_size: dict[int, list[Path]] = {}
        for f in Path(folder).expanduser().rglob("*"):
            if f.is_file() and is_slide_file(f):
                by_size.setdefault(f.stat().st_size, []).append(f)
        n = 0
        for rec in missing:
            for cand in by_size.get(rec.size or -1, []):
                if content_hash(cand) == rec.hash:
                    self.db.relink(rec.id, cand)
                    log.info("relinked %s -> %s", rec.path, cand)
                    n += 1
                    break
        return n
