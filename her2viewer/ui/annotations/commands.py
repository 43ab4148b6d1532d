"""Undoable annotation edits: QUndoCommands wrapping `AnnotationSet.add / remove_many / replace`.

Each command keeps what its undo needs (the model's edits return it), so undo and redo restore exactly
the previous annotations, ids and order included. Autosave sees every redo and undo as a change.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtGui import QUndoCommand

from her2viewer.annotations.model import Annotation, AnnotationSet


class AddAnnotations(QUndoCommand):
    """Add annotations (a drawn shape, an import)."""

    def __init__(self, aset: AnnotationSet, anns: Sequence[Annotation], text: str = "") -> None:
        super().__init__(text or (f"Add {anns[0].kind.lower()}" if len(anns) == 1 else f"Add {len(anns)} annotations"))
        self.aset = aset
        self.anns = list(anns)

    def redo(self) -> None:
        self.aset.extend(self.anns)

    def undo(self) -> None:
        self.aset.remove_many([a.id for a in self.anns])


class RemoveAnnotations(QUndoCommand):
    """Delete annotations; undo puts them back at their places."""

    def __init__(self, aset: AnnotationSet, ids: Sequence[str], text: str = "") -> None:
        super().__init__(text or (f"Delete {len(ids)} annotation" + ("s" if len(ids) != 1 else "")))
        self.aset = aset
        self.ids = list(ids)
        self.removed: list[tuple[int, Annotation]] = []

    def redo(self) -> None:
        self.removed = self.aset.remove_many(self.ids)

    def undo(self) -> None:
        for index, ann in self.removed:
            self.aset.insert(index, ann)


class ReplaceAnnotations(QUndoCommand):
    """Replace annotations by edited copies with the same ids (move, vertex edit, class, name)."""

    def __init__(self, aset: AnnotationSet, new: Sequence[Annotation], text: str = "Edit annotation") -> None:
        super().__init__(text)
        self.aset = aset
        self.new = list(new)
        self.old: list[Annotation] = []

    def redo(self) -> None:
        self.old = [self.aset.replace(a) for a in self.new]

    def undo(self) -> None:
        for a in reversed(self.old):
            self.aset.replace(a)
