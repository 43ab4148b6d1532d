"""`patches --append` with slides whose names sanitise alike keeps labels and images consistent; class
names are written formula-safe."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
from shapely.geometry import box

from her2viewer.annotations.model import Annotation
from her2viewer.annotations.patches import export_patches, slide_folder
from her2viewer.slide import ArraySlide


def _slide(path: Path, value: int) -> ArraySlide:
    return ArraySlide(np.full((400, 400, 3), value, np.uint8), mpp=0.5, name=str(path))


def test_slides_whose_names_sanitise_alike_never_share_patches(tmp_path: Path) -> None:
    a, b = _slide(tmp_path / "标本.svs", 60), _slide(tmp_path / "切片.svs", 200)
    assert slide_folder(a.path, "标本") != slide_folder(b.path, "切片")
    anns = [Annotation.create(box(0, 0, 400, 400), "HER2 2+")]
    out = tmp_path / "out"
    export_patches(a, anns, out, size=100, mpp=0.5, append=True)
    export_patches(b, anns, out, size=100, mpp=0.5, append=True)
    export_patches(a, anns, out, size=100, mpp=0.5, append=True)  # re-export of the first slide
    rows = list(csv.DictReader(open(out / "labels.csv", encoding="utf-8")))
    assert len(rows) == 32 and len({r["path"] for r in rows}) == 32
    for r in rows:
        img = cv2.imread(str(out / r["path"]))
        assert int(img.mean()) == (60 if r["slide"] == "标本" else 200), r
    on_disk = {p.relative_to(out).as_posix() for p in out.rglob("*.png")}
    assert on_disk == {r["path"] for r in rows}


def test_formula_class_names_are_escaped(tmp_path: Path) -> None:
    src = _slide(tmp_path / "s.svs", 120)
    name = '=HYPERLINK("http://example.com","x")'
    res = export_patches(src, [Annotation.create(box(0, 0, 400, 400), name)], tmp_path / "o", size=200, mpp=0.5)
    text = res.csv_path.read_text(encoding="utf-8")
    assert "\n=HYPERLINK" not in text and ",=HYPERLINK" not in text
    labels = {r["label"] for r in csv.DictReader(open(res.csv_path, encoding="utf-8"))}
    assert labels == {"'" + name}
