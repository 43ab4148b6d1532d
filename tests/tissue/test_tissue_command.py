"""`her2viewer tissue`: JSON output for TMAs and plain slides, clear errors; dearraying a generated TMA slide."""

from __future__ import annotations

import csv
import json

import cv2
import numpy as np
import pytest
from tissue_synth import tma_image

from her2viewer.cli import main
from her2viewer.commands.tissue import tissue_report
from her2viewer.slide import ArraySlide

slide_pkg = pytest.importorskip("her2viewer.slide")
needs_open_slide = pytest.mark.skipif(not hasattr(slide_pkg, "open_slide"), reason="open_slide not there yet")


def test_report_on_array_tma():
    img, truth = tma_image(rows=2, cols=3, missing=("A2",), seed=12)
    rep = tissue_report(ArraySlide(img, mpp=1.0, name="grid"))
    assert rep["tma"] is True
    assert [c["id"] for c in rep["cores"]] == ["A1", "A3", "B1", "B2", "B3"]
    assert all(len(c["bbox"]) == 4 and len(c["center"]) == 2 and c["radius"] > 0 for c in rep["cores"])
    assert len(rep["regions"]) == 5 and "area_um2" in rep["regions"][0]
    json.dumps(rep)
    assert tissue_report(ArraySlide(img), tma=False)["cores"] == []
    assert "area_px" in tissue_report(ArraySlide(img), tma=False)["regions"][0]


@needs_open_slide
def test_command_prints_json(tmp_path, capsys):
    img, _ = tma_image(rows=2, cols=2, missing=(), seed=13)
    path = tmp_path / "tma.png"
    cv2.imwrite(str(path), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    assert main(["tissue", str(path)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["slide"].endswith("tma.png") and out["tma"] is True
    assert [c["id"] for c in out["cores"]] == ["A1", "A2", "B1", "B2"]
    assert main(["tissue", str(path), "--no-tma"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["tma"] is False and out["cores"] == [] and len(out["regions"]) == 4


@needs_open_slide
def test_command_single_core_with_tma_flag(tmp_path, capsys):
    img = np.full((900, 900, 3), 240, np.uint8)
    cv2.circle(img, (450, 450), 380, (150, 110, 90), -1)
    path = tmp_path / "core.jpg"
    cv2.imwrite(str(path), img)
    assert main(["tissue", str(path), "--tma"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["tma"] is True and [c["id"] for c in out["cores"]] == ["A1"]


@needs_open_slide
@pytest.mark.parametrize("content", [b"", b"not an image at all", None])
def test_command_unreadable_input(tmp_path, capsys, content):
    path = tmp_path / "bad.svs"
    if content is not None:
        path.write_bytes(content)
    assert main(["tissue", str(path)]) != 0
    err = capsys.readouterr().err.strip()
    assert "bad.svs" in err and len(err.splitlines()) == 1


def test_dearray_generated_tma_matches_core_table(tmp_path):
    dataset = pytest.importorskip("her2viewer.synth.dataset")
    if not hasattr(slide_pkg, "open_slide"):
        pytest.skip("open_slide not there yet")
    from her2viewer.tissue.tma import dearray, is_tma

    dataset.write_dataset(tmp_path, n_cores=0, seed=3, tma=True, tma_diameter_px=700)
    table = list(csv.DictReader(open(tmp_path / "tma_cores.csv")))
    assert table
    with slide_pkg.open_slide(tmp_path / "tma.tiff") as source:
        cores = {c.id: c for c in dearray(source)}
        assert is_tma(source)
    assert sorted(cores) == sorted(r["core_id"] for r in table)
    for r in table:
        c = cores[r["core_id"]]
        assert (c.row, c.col) == (int(r["row"]), int(r["col"]))
        bx, by, bw, bh = (float(r[k]) for k in ("bbox_x", "bbox_y", "bbox_w", "bbox_h"))
        assert bx <= c.l0_center[0] <= bx + bw and by <= c.l0_center[1] <= by + bh
        # the generator's very pale stroma is barely above glass, so part of a core may be missed
        assert _iou(c.l0_bbox, (bx, by, bw, bh)) > 0.6, (r["core_id"], c.l0_bbox, (bx, by, bw, bh))


def _iou(a, b):
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    iw = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    ih = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = iw * ih
    return inter / (aw * ah + bw * bh - inter)
