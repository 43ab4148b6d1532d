"""AnnotationSet edits return what undo needs, emit changes, and areas convert to um^2."""

from __future__ import annotations

import pytest
from shapely.geometry import Point, box

from her2viewer.annotations.model import DEFAULT_CLASSES, Annotation, AnnotationSet, Change, ClassRegistry


def _ann(i: int, cls: str = "Tumour") -> Annotation:
    return Annotation(f"a{i}", box(0, 0, 10 * (i + 1), 10), cls)


def test_add_remove_replace_give_undo_state():
    s = AnnotationSet()
    events: list[Change] = []
    s.on_change.append(events.append)
    for i in range(3):
        s.add(_ann(i))
    idx, removed = s.remove("a1")
    assert (idx, removed.id) == (1, "a1") and s.ids() == ["a0", "a2"]
    s.insert(idx, removed)  # undo
    assert s.ids() == ["a0", "a1", "a2"]
    prev = s.replace(s["a2"].with_(cls="HER2 3+"))
    assert prev.cls == "Tumour" and s["a2"].cls == "HER2 3+"
    s.replace(prev)  # undo
    assert s["a2"].cls == "Tumour"
    assert [e.kind for e in events] == ["add"] * 3 + ["remove", "add", "replace", "replace"]


def test_duplicate_ids_and_empty_geometry_rejected():
    s = AnnotationSet([_ann(0)])
    with pytest.raises(ValueError, match="already"):
        s.add(_ann(0))
    with pytest.raises(ValueError, match="twice"):
        s.extend([_ann(5), _ann(5)])
    assert len(s) == 1  # extend is all or nothing
    with pytest.raises(ValueError, match="no geometry"):
        s.add(Annotation("e", Point()))


def test_remove_many_and_listener_failure_keeps_edit():
    s = AnnotationSet([_ann(i) for i in range(4)])
    s.on_change.append(lambda c: 1 / 0)
    removed = s.remove_many(["a3", "a1"])
    assert [i for i, _ in removed] == [1, 3] and s.ids() == ["a0", "a2"]
    for i, a in removed:
        s.insert(i, a)
    assert s.ids() == ["a0", "a1", "a2", "a3"]


def test_area_um2_and_classes():
    a = Annotation.create(box(0, 0, 200, 100), "HER2 2+")
    assert a.area_um2(0.5) == pytest.approx(20000 * 0.25)
    assert a.area_um2(None) is None
    reg = ClassRegistry()
    assert reg.names() == [n for n, _ in DEFAULT_CLASSES]
    reg.set("HER2 2+", (1, 2, 3))
    assert reg.color("HER2 2+") == (1, 2, 3)
    assert reg.color("Unknown class") == reg.color("Unknown class")  # stable derived colour
    with pytest.raises(ValueError):
        reg.set("Bad", (300, 0, 0))
    assert ClassRegistry.from_list(reg.to_list()).color("HER2 2+") == (1, 2, 3)
    s = AnnotationSet([a], reg)
    assert s.color_of(a) == (1, 2, 3)
    assert s.color_of(a.with_(color=(9, 9, 9))) == (9, 9, 9)
