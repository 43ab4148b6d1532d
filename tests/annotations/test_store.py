"""Autosave: every edit is on disk at once; a new process (after a 'crash') loads it back."""

from __future__ import annotations

from shapely.geometry import box

from her2viewer.annotations.model import Annotation
from her2viewer.annotations.store import AnnotationStore, slide_id


def test_autosave_survives_a_crash(tmp_path):
    slide = tmp_path / "s.tiff"
    slide.write_bytes(b"x" * 10)
    store = AnnotationStore(tmp_path / "proj")
    aset = store.open(slide)
    aset.classes.set("Necrosis", (10, 20, 30))
    aset.add(Annotation("t1", box(0, 0, 50, 50), "Tumour"))
    aset.add(Annotation("n1", box(60, 0, 90, 50), "Necrosis", name="dead"))
    aset.replace(aset["t1"].with_(cls="HER2 3+"))
    # no explicit save: a fresh store (another process after a crash) sees every edit
    again = AnnotationStore(tmp_path / "proj").load(slide_id(slide))
    assert again.ids() == ["t1", "n1"]
    assert again["t1"].cls == "HER2 3+" and again["n1"].name == "dead"
    assert again["t1"].geometry.equals(box(0, 0, 50, 50))
    assert again.classes.color("Necrosis") == (10, 20, 30)
    aset.remove("n1")
    assert AnnotationStore(tmp_path / "proj").load(slide_id(slide)).ids() == ["t1"]
    leftovers = [p.name for p in (tmp_path / "proj" / "annotations").iterdir() if p.suffix != ".geojson"]
    assert leftovers == []  # atomic writes leave no temporary files


def test_slide_id_is_stable_and_distinct(tmp_path):
    a, b = tmp_path / "a.svs", tmp_path / "b.svs"
    a.write_bytes(b"1")
    b.write_bytes(b"1")
    assert slide_id(a) == slide_id(str(a)) != slide_id(b)
    assert AnnotationStore(tmp_path).load(slide_id(a)).ids() == []


def test_detach_stops_saving(tmp_path):
    store = AnnotationStore(tmp_path)
    aset = store.load("abc")
    store.attach("abc", aset)
    aset.add(Annotation("x", box(0, 0, 1, 1)))
    store.detach(aset)
    aset.add(Annotation("y", box(0, 0, 1, 1)))
    assert store.load("abc").ids() == ["x"]
