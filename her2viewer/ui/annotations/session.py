"""The annotations of one open slide: the set, its autosave, the undo stack, the selection and the layer.

Every edit goes through the undo stack (so Ctrl+Z reverts it) and, through the set's change callbacks,
is written to disk at once by `AnnotationStore` (atomic writes): a crash loses at most the edit that was
being written. Views subscribe to `sigChanged` / `sigSelectionChanged`; they do not edit the set directly.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack
from shapely.geometry import MultiPoint
from shapely.geometry.base import BaseGeometry

from her2viewer.annotations.editing import clip_to_slide
from her2viewer.annotations.geojson import AnnotationIOError, ImportResult, read_geojson, write_geojson
from her2viewer.annotations.model import Annotation, AnnotationSet, Change, ClassRegistry
from her2viewer.annotations.store import AnnotationStore, slide_id
from her2viewer.slide.base import SlideSource

from .commands import AddAnnotations, RemoveAnnotations, ReplaceAnnotations
from .layer import AnnotationLayer, point_coords

log = logging.getLogger(__name__)

POINT_KINDS = ("Point", "MultiPoint")


def default_project_dir(slide_path: str | Path) -> Path:
    """Where a slide's annotations are kept without a chosen project: the per-user default project (never the
    slide's own folder, which may be read-only or shared)."""
    from her2viewer.project.locations import project_dir_for

    return project_dir_for(slide_path)


class EditClasses(QUndoCommand):
    """Replace the class list (rename, recolour, add) and move annotations of renamed classes along."""

    def __init__(self, session: SlideAnnotations, new: ClassRegistry, renames: dict[str, str]) -> None:
        super().__init__("Edit classes")
        self.session = session
        self.old_list = session.aset.classes.to_list()
        self.new_list = new.to_list()
        moved = [a.with_(cls=renames[a.cls]) for a in session.aset if a.cls in renames]
        self._child = ReplaceAnnotations(session.aset, moved, "Rename class") if moved else None

    def _apply(self, items: list[dict]) -> None:
        self.session.aset.classes = ClassRegistry.from_list(items)

    def redo(self) -> None:
        self._apply(self.new_list)
        if self._child is not None:
            self._child.redo()
        self.session.classes_edited()

    def undo(self) -> None:
        if self._child is not None:
            self._child.undo()
        self._apply(self.old_list)
        self.session.classes_edited()


class SlideAnnotations(QObject):
    """One slide's annotations with undoable edits, autosave and a selection."""

    sigChanged = Signal()            # the annotations changed (list views refresh)
    sigSelectionChanged = Signal()
    sigClassesChanged = Signal()     # the class list or a colour changed
    sigMessage = Signal(str)         # something to show in the status bar

    def __init__(self, source: SlideSource, aset: AnnotationSet | None = None, *,
                 store: AnnotationStore | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.source = source
        self.aset = aset if aset is not None else AnnotationSet()
        self.store = store
        self.sid = slide_id(source.path)
        self.undo_stack = QUndoStack(self)
        self.selected: list[str] = []
        self.current_class: str | None = None
        self.view = None   # the SlideView showing this slide (set by whoever shows it), for navigation
        self.layer = AnnotationLayer(self)
        self.aset.on_change.append(self._on_change)

    @classmethod
    def open(cls, source: SlideSource, project_dir: str | Path | None = None,
             parent: QObject | None = None) -> tuple[SlideAnnotations, str | None]:
        """The saved annotations of a slide with autosave on, and a message when the saved file was unreadable
        (it is then kept aside under a new name and the slide starts with no annotations)."""
        folder = Path(project_dir) if project_dir is not None else default_project_dir(source.path)
        store = AnnotationStore(folder)
        sid = slide_id(source.path)
        problem = None
        try:
            aset = store.load(sid)
        except AnnotationIOError as e:
            bad = store.path_for(sid)
            kept = bad.with_name(f"{bad.name}.unreadable-{datetime.now():%Y%m%d-%H%M%S}")
            try:
                bad.rename(kept)
                problem = f"{e}. The file was kept as {kept.name} and the slide starts with no annotations."
            except OSError as e2:
                problem = f"{e}. It could not be moved aside ({e2.strerror or e2}); annotations are not saved."
                return cls(source, AnnotationSet(), store=None, parent=parent), problem
            aset = AnnotationSet()
        session = cls(source, aset, store=store, parent=parent)
        store.attach(sid, aset, source.path)
        return session, problem

    # -- reading --------------------------------------------------------------------------------------
    @property
    def mpp(self) -> float | None:
        return self.source.mpp

    @property
    def save_path(self) -> Path | None:
        """The autosave file, or None when annotations are not saved."""
        return self.store.path_for(self.sid) if self.store is not None else None

    def selected_annotations(self) -> list[Annotation]:
        """The selected annotations in drawing order."""
        sel = set(self.selected)
        return [a for a in self.aset if a.id in sel]

    # -- selection --------------------------------------------------------------------------------------
    def select(self, ids: Iterable[str], *, add: bool = False) -> None:
        """Select annotations (added to the selection with `add`)."""
        new = (list(self.selected) if add else []) + [i for i in ids if i in self.aset]
        new = list(dict.fromkeys(new))
        if new != self.selected:
            self.selected = new
            self.layer.sigChanged.emit()
            self.sigSelectionChanged.emit()

    def toggle(self, ann_id: str) -> None:
        """Add an annotation to the selection or take it out."""
        if ann_id in self.selected:
            self.select([i for i in self.selected if i != ann_id])
        else:
            self.select([ann_id], add=True)

    def clear_selection(self) -> None:
        """Select nothing."""
        self.select([])

    # -- edits (all undoable) ---------------------------------------------------------------------------
    def add(self, geom: BaseGeometry, cls_name: str | None = ..., name: str = "", text: str = "") -> Annotation:
        """Add a drawn shape (clipped to the slide) with the current class; selects it. Raises ShapeError."""
        geom = clip_to_slide(geom, self.source.dimensions)
        ann = Annotation.create(geom, self.current_class if cls_name is ... else cls_name, name=name)
        self.undo_stack.push(AddAnnotations(self.aset, [ann], text))
        self.select([ann.id])
        return ann

    def points_annotation(self, cls_name: str | None) -> Annotation | None:
        """The unlocked points annotation of a class that new points go to (the latest one), or None."""
        for ann in reversed(list(self.aset)):
            if ann.cls == cls_name and ann.kind in POINT_KINDS and not ann.locked:
                return ann
        return None

    def add_point(self, p: tuple[float, float]) -> Annotation:
        """Add a point to the current class's multipoint annotation (the first point creates it); one undo
        step per point; selects the annotation."""
        xy = (float(p[0]), float(p[1]))
        target = self.points_annotation(self.current_class)
        if target is None:
            return self.add(MultiPoint([xy]), text="Add point")
        new = target.with_(geometry=MultiPoint([*point_coords(target.geometry), xy]))
        self.undo_stack.push(ReplaceAnnotations(self.aset, [new], "Add point"))
        self.select([new.id])
        return new

    def remove_point(self, ann_id: str, index: int) -> None:
        """Take one point out of a points annotation (deleting the annotation with its last point)."""
        ann = self.aset.get(ann_id)
        if ann is None or ann.locked:
            return
        pts = point_coords(ann.geometry)
        if not 0 <= index < len(pts):
            return
        if len(pts) == 1:
            self.undo_stack.push(RemoveAnnotations(self.aset, [ann_id], "Remove point"))
            return
        rest = pts[:index] + pts[index + 1:]
        self.undo_stack.push(ReplaceAnnotations(self.aset, [ann.with_(geometry=MultiPoint(rest))], "Remove point"))

    def delete(self, ids: Sequence[str] | None = None) -> int:
        """Delete annotations (default: the selection); returns how many."""
        ids = [i for i in (self.selected if ids is None else ids) if i in self.aset]
        if ids:
            self.undo_stack.push(RemoveAnnotations(self.aset, ids))
        return len(ids)

    def set_class(self, ids: Sequence[str], cls_name: str | None) -> None:
        """Give annotations a class (None: unclassified)."""
        changed = [self.aset[i].with_(cls=cls_name) for i in ids if i in self.aset and self.aset[i].cls != cls_name]
        if changed:
            if cls_name is not None:
                self.aset.classes.ensure(cls_name)
            label = cls_name or "Unclassified"
            self.undo_stack.push(ReplaceAnnotations(self.aset, changed, f"Set class {label}"))

    def rename(self, ann_id: str, name: str) -> None:
        """Change an annotation's name."""
        if ann_id in self.aset and self.aset[ann_id].name != name:
            self.undo_stack.push(ReplaceAnnotations(self.aset, [self.aset[ann_id].with_(name=name)], "Rename"))

    def set_geometries(self, geoms: dict[str, BaseGeometry], text: str = "Edit shape") -> None:
        """Replace the geometry of annotations (a move or a vertex edit)."""
        new = [self.aset[i].with_(geometry=g) for i, g in geoms.items() if i in self.aset]
        if new:
            self.undo_stack.push(ReplaceAnnotations(self.aset, new, text))

    def edit_classes(self, classes: ClassRegistry, renames: dict[str, str] | None = None) -> None:
        """Use a new class list; annotations of renamed classes (old -> new name) follow. Undoable."""
        self.undo_stack.push(EditClasses(self, classes, dict(renames or {})))

    def classes_edited(self) -> None:
        """Save and tell the views after the class list changed (it is saved with the annotations)."""
        self.save_now()
        self.layer.sigChanged.emit()
        self.sigClassesChanged.emit()

    # -- files ----------------------------------------------------------------------------------------
    def import_geojson(self, path: str | Path) -> ImportResult:
        """Add the annotations of a GeoJSON file (one undoable step); raises AnnotationIOError, adds nothing
        then."""
        res = read_geojson(path)
        for a in res.annotations:
            if a.id in self.aset:
                a.id = str(uuid.uuid4())
        for name, color in res.classes.items():
            self.aset.classes.ensure(name, color)
        if res.annotations:
            self.undo_stack.push(AddAnnotations(self.aset, res.annotations,
                                                f"Import {len(res.annotations)} annotations"))
        self.sigClassesChanged.emit()
        return res

    def export_geojson(self, path: str | Path, ids: Sequence[str] | None = None) -> Path:
        """Write the annotations (or only `ids`) as QuPath-compatible GeoJSON; raises AnnotationIOError."""
        anns = list(self.aset) if ids is None else [self.aset[i] for i in ids if i in self.aset]
        write_geojson(path, anns, self.aset.classes)
        return Path(path)

    def save_now(self) -> Path | None:
        """Write the annotations now (autosave does it on every edit)."""
        if self.store is None:
            return None
        try:
            return self.store.save(self.sid, self.aset, self.source.path)
        except AnnotationIOError as e:
            self.sigMessage.emit(f"Annotations not saved: {e}")
            log.error("saving annotations failed: %s", e)
            return None

    def close(self) -> None:
        """Stop autosaving (everything is already on disk)."""
        if self.store is not None:
            self.store.detach(self.aset)
        if self._on_change in self.aset.on_change:
            self.aset.on_change.remove(self._on_change)

    # -- change handling ---------------------------------------------------------------------------------
    def _on_change(self, change: Change) -> None:
        if change.kind in ("remove", "reset"):
            self.layer.forget(change.ids if change.kind == "remove" else [])
            kept = [i for i in self.selected if i in self.aset]
            if kept != self.selected:
                self.selected = kept
                self.sigSelectionChanged.emit()
        if self.store is not None and self.store.last_error is not None:
            self.sigMessage.emit(f"Annotations not saved: {self.store.last_error}")
        self.layer.sigChanged.emit()
        self.sigChanged.emit()

    # -- navigation -------------------------------------------------------------------------------------
    def navigate_to(self, ann_id: str) -> None:
        """Select an annotation and centre the view on it (zooming out when it does not fit)."""
        if ann_id not in self.aset:
            return
        self.select([ann_id])
        view = self.view
        if view is None:
            return
        x0, y0, x1, y1 = self.aset[ann_id].geometry.bounds
        vr = view.l0_rect()
        if x1 - x0 > vr.width() * 0.9 or y1 - y0 > vr.height() * 0.9:
            pad = 0.1 * max(x1 - x0, y1 - y0, 1.0)
            view.fit_rect(x0 - pad, y0 - pad, x1 - x0 + 2 * pad, y1 - y0 + 2 * pad)
        else:
            view.center_on((x0 + x1) / 2, (y0 + y1) / 2)
