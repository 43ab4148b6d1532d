"""Autosave of annotations per slide in a project folder: every change is written atomically.

Files live in PROJECT/annotations/<slide id>.geojson (QuPath-compatible GeoJSON with a "her2viewer"
member holding the slide path and the class list), so a crash loses at most the edit being written.
Two writers of one slide are detected (see `locking`): the second is told with `ConcurrentEditError` and
its data is kept in a conflict copy; nothing is silently overwritten.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable
from pathlib import Path

from .geojson import AnnotationIOError, read_geojson, write_geojson
from .locking import ConcurrentEditError, Version, conflict_copy_path, file_version, locked
from .model import AnnotationSet, Change, ClassRegistry

log = logging.getLogger(__name__)


def slide_id(path: str | Path) -> str:
    """A stable id for a slide file: sha1 of its absolute path and size (first 16 hex digits)."""
    p = Path(path).expanduser().resolve()
    try:
        size = p.stat().st_size
    except OSError:
        size = -1
    return hashlib.sha1(f"{p}\0{size}".encode()).hexdigest()[:16]


class AnnotationStore:
    """Loads and autosaves the annotation set of each slide of a project."""

    def __init__(self, project_dir: str | Path) -> None:
        self.root = Path(project_dir) / "annotations"
        self.lock_dir = Path(project_dir) / ".annotation-locks"
        self.last_error: AnnotationIOError | None = None
        self._detach: dict[int, Callable[[], None]] = {}
        #: the version of each slide's file this store last loaded or wrote (None: it did not exist)
        self._seen: dict[str, Version | None] = {}
        #: where a slide's edits go after a conflict (the conflict copy), instead of the shared file
        self._conflicts: dict[str, Path] = {}

    def path_for(self, sid: str) -> Path:
        """The file that holds a slide's annotations."""
        if not sid or any(c in sid for c in "/\\") or sid in (".", ".."):
            raise ValueError(f"not a slide id: {sid!r}")
        return self.root / f"{sid}.geojson"

    def save(self, sid: str, annotations: AnnotationSet, slide_path: str | Path | None = None) -> Path:
        """Write a slide's annotations atomically; returns the file.

        Raises ConcurrentEditError (after writing a conflict copy) when another writer saved the file
        since this store loaded or saved it; later saves of that slide go on to the conflict copy.
        """
        path = self.path_for(sid)
        meta = {"slide_id": sid, "classes": annotations.classes.to_list()}
        if slide_path is not None:
            meta["slide"] = os.fspath(slide_path)
        if sid in self._conflicts:
            write_geojson(self._conflicts[sid], annotations, annotations.classes, her2viewer=meta)
            raise ConcurrentEditError(path, self._conflicts[sid])
        with locked(self.lock_dir / f"{sid}.lock"):
            now = file_version(path)
            if sid in self._seen and now != self._seen[sid]:
                copy = conflict_copy_path(path)
                write_geojson(copy, annotations, annotations.classes, her2viewer=meta)
                self._conflicts[sid] = copy
                raise ConcurrentEditError(path, copy)
            write_geojson(path, annotations, annotations.classes, her2viewer=meta)
            self._seen[sid] = file_version(path)
        return path

    def resolve_conflict(self, sid: str) -> None:
        """Forget a conflict: the next save overwrites the shared file with this store's annotations."""
        self._conflicts.pop(sid, None)
        self._seen.pop(sid, None)

    def load(self, sid: str) -> AnnotationSet:
        """A slide's saved annotations (an empty set when none were saved); raises AnnotationIOError."""
        path = self.path_for(sid)
        version = file_version(path)  # before reading: a newer file read with an older version is safe
        if version is None:
            self._seen[sid] = None
            return AnnotationSet()
        res = read_geojson(path)
        self._seen[sid] = version
        self._conflicts.pop(sid, None)
        classes = ClassRegistry()
        meta = res.foreign.get("her2viewer")
        if isinstance(meta, dict) and isinstance(meta.get("classes"), list):
            try:
                classes = ClassRegistry.from_list(meta["classes"])
            except (KeyError, TypeError, ValueError) as e:
                log.warning("%s: ignoring a bad class list (%s)", path, e)
        for name, color in res.classes.items():
            classes.ensure(name, color)
        return AnnotationSet(res.annotations, classes)

    def attach(self, sid: str, annotations: AnnotationSet, slide_path: str | Path | None = None) -> None:
        """Save `annotations` on every change from now on (errors are logged and kept in `last_error`)."""
        self.detach(annotations)

        def on_change(_change: Change) -> None:
            try:
                self.save(sid, annotations, slide_path)
                self.last_error = None
            except AnnotationIOError as e:
                self.last_error = e
                log.error("autosave failed: %s", e)

        annotations.on_change.append(on_change)
        self._detach[id(annotations)] = lambda: annotations.on_change.remove(on_change)

    def detach(self, annotations: AnnotationSet) -> None:
        """Stop autosaving a set."""
        undo = self._detach.pop(id(annotations), None)
        if undo is not None:
            undo()

    def open(self, slide_path: str | Path) -> AnnotationSet:
        """Load a slide's annotations and autosave them from now on."""
        sid = slide_id(slide_path)
        aset = self.load(sid)
        self.attach(sid, aset, slide_path)
        return aset
