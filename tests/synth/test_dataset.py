"""Synthetic data sets on disk: labels.csv and core files, TMA and whole-slide TIFFs, the CLI, the demo slide."""

from __future__ import annotations

import csv
import json

import cv2
import numpy as np
import pytest
import tifffile

from her2viewer.cli import main
from her2viewer.scoring.asco import SCORES4
from her2viewer.synth import GENERATOR_VERSION, demo
from her2viewer.synth.dataset import BASE_COLUMNS, write_dataset
from her2viewer.synth.slides import write_tma_slide, write_wsi


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_write_dataset_writes_balanced_cores_and_labels(tmp_path):
    labels_csv = write_dataset(tmp_path, n_cores=8, seed=4, diameter_px=500)
    rows = _rows(labels_csv)
    assert len(rows) == 8
    assert list(rows[0])[: len(BASE_COLUMNS)] == BASE_COLUMNS
    assert {"pct_complete_strong", "pct_any_staining", "n_tumour_cells", "generator_version"} <= set(rows[0])
    assert sorted(r["label"] for r in rows) == sorted(SCORES4 * 2)
    by_patient = {}
    for r in rows:
        by_patient.setdefault(r["patient_id"], set()).add(r["label"])
        img = cv2.imread(str(tmp_path / r["file"]))
        assert img is not None and img.shape[0] == img.shape[1] == 550
        assert r["generator_version"] == GENERATOR_VERSION and r["kind"] == "core"
    assert len(by_patient) == 4 and all(len(v) == 1 for v in by_patient.values())


def test_tma_slide_has_the_cores_at_the_listed_positions(tmp_path):
    path = tmp_path / "tma.tiff"
    recs = write_tma_slide(path, seed=3, rows=2, cols=3, diameter_px=600, mpp=0.5)
    assert len(recs) == 5 and {r["label"] for r in recs} == set(SCORES4)
    with tifffile.TiffFile(path) as tf:
        page = tf.pages[0]
        desc = json.loads(page.description)
        img = page.asarray()
        assert len(tf.pages) >= 2 and page.is_tiled
        xres = page.tags["XResolution"].value
        assert 1e4 / (xres[0] / xres[1]) == pytest.approx(0.5, rel=1e-3)
    assert desc["generator_version"] == GENERATOR_VERSION and len(desc["missing"]) == 1
    ids = {r["core_id"] for r in recs} | set(desc["missing"])
    assert ids == {"A1", "A2", "A3", "B1", "B2", "B3"}
    grey = img.mean(axis=2)
    for r in recs:
        x, y = int(r["x"]), int(r["y"])
        assert grey[y - 40 : y + 40, x - 40 : x + 40].mean() < 230, r["core_id"]  # tissue at the centre
        bx, by, bw, bh = r["bbox"]
        assert bx <= x <= bx + bw and by <= y <= by + bh
    # the missing position is glass: midway between its neighbours' centres
    row, col = ord(desc["missing"][0][0]) - 65, int(desc["missing"][0][1:]) - 1
    same_row = [r for r in recs if r["row"] == row]
    same_col = [r for r in recs if r["col"] == col]
    mx = int(np.mean([r["x"] for r in same_col])) if same_col else None
    my = int(np.mean([r["y"] for r in same_row])) if same_row else None
    if mx is not None and my is not None:
        assert grey[my - 40 : my + 40, mx - 40 : mx + 40].mean() > 235


def test_wsi_is_pyramidal_with_mpp_and_label(tmp_path):
    path = tmp_path / "wsi.tiff"
    rec = write_wsi(path, label="1+", seed=5, n_pieces=2, piece_px=600, mpp=0.5)
    assert rec["label"] == "1+" and rec["stats"]["n"] > 0
    with tifffile.TiffFile(path) as tf:
        assert len(tf.pages) >= 2
        assert json.loads(tf.pages[0].description)["label"] == "1+"
        assert tf.pages[0].shape[:2] == (rec["size"][1], rec["size"][0])


def test_cli_synth_writes_data_and_refuses_bad_arguments(tmp_path, capsys):
    assert main(["synth", str(tmp_path / "out"), "--cores", "2", "--seed", "1", "--diameter", "400"]) == 0
    assert len(_rows(tmp_path / "out" / "labels.csv")) == 2
    assert main(["synth", str(tmp_path / "bad"), "--cores", "2", "--diameter", "50"]) != 0
    assert "diameter" in capsys.readouterr().err


def test_cli_synth_style_synth2_writes_warm_blushed_cores_with_the_same_labels(tmp_path):
    assert main(["synth", str(tmp_path / "a"), "--cores", "2", "--seed", "4", "--diameter", "500"]) == 0
    assert main(["synth", str(tmp_path / "b"), "--cores", "2", "--seed", "4", "--diameter", "500",
                 "--style", "synth-2"]) == 0
    a, b = _rows(tmp_path / "a" / "labels.csv"), _rows(tmp_path / "b" / "labels.csv")
    assert [r["label"] for r in a] == [r["label"] for r in b]
    assert {r["generator_version"] for r in b} == {"synth-2"}
    assert all(1.0 <= float(r["scene_zoom"]) <= 2.0 for r in b)
    img = cv2.imread(str(tmp_path / "b" / b[0]["file"]))[..., ::-1]
    glass = img[:10, :10, :3].reshape(-1, 3).mean(0)
    assert glass[0] > glass[2]  # warm glass


def test_demo_slide_is_made_once_with_all_four_scores(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(demo, "DEMO_DIAMETER_PX", 500)
    assert not demo.demo_slide_path(create=False).exists()
    path = demo.demo_slide_path()
    assert path.is_file() and path.parent == tmp_path / "her2viewer" / "demo"
    assert GENERATOR_VERSION in path.name
    rows = _rows(demo.demo_labels_path())
    assert {r["label"] for r in rows} == set(SCORES4) and len(rows) == 11
    mtime = path.stat().st_mtime_ns
    assert demo.demo_slide_path() == path and path.stat().st_mtime_ns == mtime
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temporary files left
