"""Annotations in level-0 pixels: shapes with a class, an editable class registry, and an ordered set.

`AnnotationSet` is plain Python (no Qt): every edit returns what an undo needs (`add` -> undo with
`remove`; `remove` returns (index, annotation) -> undo with `insert`; `replace` returns the previous
annotation -> undo with `replace`), and each edit calls the `on_change` callbacks with a `Change`.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from shapely.geometry.base import BaseGeometry

log = logging.getLogger(__name__)

RGB = tuple[int, int, int]

#: The built-in classes and their default colours (HER2 scores from blue to red).
DEFAULT_CLASSES: tuple[tuple[str, RGB], ...] = (
    ("HER2 0", (70, 130, 180)),
    ("HER2 1+", (60, 179, 113)),
    ("HER2 2+", (255, 165, 0)),
    ("HER2 3+", (220, 20, 60)),
    ("Tumour", (200, 0, 0)),
    ("Stroma", (150, 200, 150)),
    ("Ignore", (128, 128, 128)),
)
UNCLASSIFIED_COLOR: RGB = (255, 255, 0)
IGNORE_CLASS = "Ignore"


def check_rgb(color: Any) -> RGB:
    """A colour as an (r, g, b) tuple of ints in 0..255; raises ValueError otherwise."""
    if (not isinstance(color, (list, tuple)) or len(color) != 3
            or not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 255 for v in color)):
        raise ValueError(f"a colour must be three integers 0..255, got {color!r}")
    return (int(color[0]), int(color[1]), int(color[2]))


@dataclass(frozen=True)
class AnnotationClass:
    """A named annotation class with its display colour."""

    name: str
    color: RGB


class ClassRegistry:
    """The user-editable list of annotation classes (ordered), with default colours."""

    def __init__(self, classes: Iterable[tuple[str, RGB]] = DEFAULT_CLASSES) -> None:
        self._classes: dict[str, AnnotationClass] = {}
        for name, color in classes:
            self.set(name, color)

    def set(self, name: str, color: RGB) -> AnnotationClass:
        """Add a class or change its colour."""
        if not isinstance(name, str) or not name.strip():
            raise ValueError("a class name must be a non-empty string")
        c = AnnotationClass(name, check_rgb(tuple(color)))
        self._classes[name] = c
        return c

    def remove(self, name: str) -> AnnotationClass | None:
        """Drop a class from the list (annotations keep their class name)."""
        return self._classes.pop(name, None)

    def ensure(self, name: str, color: RGB | None = None) -> AnnotationClass:
        """The class called `name`, added (with `color` or a derived one) when it is new."""
        if name not in self._classes:
            self.set(name, color if color is not None else _color_from_name(name))
        return self._classes[name]

    def color(self, name: str | None) -> RGB:
        """The colour of a class (yellow for unclassified, a stable derived colour for unknown names)."""
        if name is None:
            return UNCLASSIFIED_COLOR
        c = self._classes.get(name)
        return c.color if c else _color_from_name(name)

    def names(self) -> list[str]:
        return list(self._classes)

    def __contains__(self, name: object) -> bool:
        return name in self._classes

    def __iter__(self) -> Iterator[AnnotationClass]:
        return iter(list(self._classes.values()))

    def __len__(self) -> int:
        return len(self._classes)

    def to_list(self) -> list[dict[str, Any]]:
        """JSON form: [{"name", "color": [r, g, b]}, ...]."""
        return [{"name": c.name, "color": list(c.color)} for c in self._classes.values()]

    @classmethod
    def from_list(cls, items: Iterable[dict[str, Any]]) -> ClassRegistry:
        """Rebuild from `to_list` output; raises ValueError on bad entries."""
        return cls((d["name"], tuple(d["color"])) for d in items)


def _color_from_name(name: str) -> RGB:
    h = 0
    for ch in name.encode("utf-8"):
        h = (h * 31 + ch) & 0xFFFFFF
    return (64 + (h & 0x7F), 64 + ((h >> 8) & 0x7F), 64 + ((h >> 16) & 0x7F))


@dataclass
class Annotation:
    """One annotation: a shapely geometry in level-0 pixels, a class name and display attributes."""

    id: str
    geometry: BaseGeometry
    cls: str | None = None
    name: str = ""
    color: RGB | None = None  # None: the class colour
    properties: dict[str, Any] = field(default_factory=dict)
    locked: bool = False

    @classmethod
    def create(cls, geometry: BaseGeometry, cls_name: str | None = None, **kwargs: Any) -> Annotation:
        """A new annotation with a fresh UUID."""
        return cls(str(uuid.uuid4()), geometry, cls_name, **kwargs)

    def with_(self, **changes: Any) -> Annotation:
        """A copy with some fields changed (same id): what `AnnotationSet.replace` takes."""
        return replace(self, **changes)

    @property
    def area_px(self) -> float:
        """Area in level-0 pixels squared (0 for points and lines)."""
        return float(self.geometry.area)

    def area_um2(self, mpp: float | None) -> float | None:
        """Area in square micrometres, or None when the slide has no pixel size."""
        if not mpp:
            return None
        return self.area_px * float(mpp) ** 2

    @property
    def kind(self) -> str:
        """The geometry type name ("Polygon", "Point", ...)."""
        return self.geometry.geom_type


@dataclass(frozen=True)
class Change:
    """What changed in an AnnotationSet: kind is "add", "remove", "replace" or "reset"."""

    kind: str
    ids: tuple[str, ...]


class AnnotationSet:
    """An ordered collection of annotations with undo-friendly edits and change callbacks."""

    def __init__(self, annotations: Iterable[Annotation] = (), classes: ClassRegistry | None = None) -> None:
        self.classes = classes if classes is not None else ClassRegistry()
        self.on_change: list[Callable[[Change], None]] = []
        self._items: list[Annotation] = []
        self._index: dict[str, int] = {}
        for a in annotations:
            self._check_new(a)
            self._items.append(a)
            self._index[a.id] = len(self._items) - 1

    # -- reading ------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Annotation]:
        return iter(list(self._items))

    def __contains__(self, ann_id: object) -> bool:
        return ann_id in self._index

    def __getitem__(self, ann_id: str) -> Annotation:
        return self._items[self._index[ann_id]]

    def get(self, ann_id: str) -> Annotation | None:
        i = self._index.get(ann_id)
        return None if i is None else self._items[i]

    def index_of(self, ann_id: str) -> int:
        return self._index[ann_id]

    def ids(self) -> list[str]:
        return [a.id for a in self._items]

    def by_class(self, cls_name: str | None) -> list[Annotation]:
        """The annotations of one class (None: unclassified)."""
        return [a for a in self._items if a.cls == cls_name]

    def color_of(self, ann: Annotation) -> RGB:
        """The colour to draw an annotation with: its own, else its class's."""
        return ann.color if ann.color is not None else self.classes.color(ann.cls)

    # -- edits (each returns what undo needs) ---------------------------------------------------------
    def add(self, ann: Annotation) -> int:
        """Append an annotation; returns its index. Undo: `remove(ann.id)`."""
        return self.insert(len(self._items), ann)

    def insert(self, index: int, ann: Annotation) -> int:
        """Insert at `index` (clamped); returns the index used. Undo: `remove(ann.id)`."""
        self._check_new(ann)
        index = max(0, min(int(index), len(self._items)))
        self._items.insert(index, ann)
        self._reindex()
        self._emit(Change("add", (ann.id,)))
        return index

    def extend(self, anns: Iterable[Annotation]) -> list[str]:
        """Add many at once (all or none: ids are checked first); one change event. Undo: `remove_many`."""
        new = list(anns)
        seen: set[str] = set()
        for a in new:
            self._check_new(a)
            if a.id in seen:
                raise ValueError(f"annotation id {a.id!r} appears twice")
            seen.add(a.id)
        self._items.extend(new)
        self._reindex()
        ids = tuple(a.id for a in new)
        if ids:
            self._emit(Change("add", ids))
        return list(ids)

    def remove(self, ann_id: str) -> tuple[int, Annotation]:
        """Remove by id; returns (index, annotation). Undo: `insert(index, annotation)`."""
        i = self._index[ann_id]
        ann = self._items.pop(i)
        self._reindex()
        self._emit(Change("remove", (ann_id,)))
        return i, ann

    def remove_many(self, ann_ids: Iterable[str]) -> list[tuple[int, Annotation]]:
        """Remove several; returns [(index, annotation)] in ascending index order (re-insert in that order)."""
        ids = [i for i in dict.fromkeys(ann_ids) if i in self._index]
        removed = sorted(((self._index[i], self._items[self._index[i]]) for i in ids), key=lambda t: t[0])
        keep = set(ids)
        self._items = [a for a in self._items if a.id not in keep]
        self._reindex()
        if ids:
            self._emit(Change("remove", tuple(ids)))
        return removed

    def replace(self, ann: Annotation) -> Annotation:
        """Put `ann` in place of the annotation with the same id; returns the previous one for undo."""
        i = self._index[ann.id]
        prev = self._items[i]
        self._items[i] = ann
        self._emit(Change("replace", (ann.id,)))
        return prev

    def reset(self, anns: Iterable[Annotation]) -> list[Annotation]:
        """Replace the whole content; returns the previous content."""
        new = list(anns)
        if len({a.id for a in new}) != len(new):
            raise ValueError("annotation ids must be unique")
        prev, self._items = self._items, new
        self._reindex()
        self._emit(Change("reset", tuple(a.id for a in new)))
        return prev

    # -- internals ----------------------------------------------------------------------------------
    def _check_new(self, ann: Annotation) -> None:
        if not isinstance(ann, Annotation):
            raise TypeError(f"expected an Annotation, got {type(ann).__name__}")
        if ann.id in self._index:
            raise ValueError(f"an annotation with id {ann.id!r} is already in the set")
        if not isinstance(ann.geometry, BaseGeometry) or ann.geometry.is_empty:
            raise ValueError(f"annotation {ann.id!r} has no geometry")

    def _reindex(self) -> None:
        self._index = {a.id: i for i, a in enumerate(self._items)}

    def _emit(self, change: Change) -> None:
        for cb in list(self.on_change):
            try:
                cb(change)
            except Exception:  # a broken listener must not lose the user's edit
                log.exception("annotation change listener failed")
