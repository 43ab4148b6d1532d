"""Evidence a pathologist can check: the cell layer's legend, hovering a cell shows its measurements, the
Measurements dock (slide and cores, pooled TMA row, CSV export) and `score --measurements`."""

from __future__ import annotations

import csv
import json

import cv2
import numpy as np
import pytest
from PySide6.QtCore import QSettings

from her2viewer.cli import main
from her2viewer.scoring.measurements import HEADER, measurement_rows, measurements_csv, pooled_cells
from her2viewer.scoring.result import CellDetections, CoreResult, ModelInfo, ScoreResult
from her2viewer.synth.core import generate_core
from her2viewer.ui.scoring.result_layers import CellLayer


def _cells(n=50, seed=0):
    rng = np.random.default_rng(seed)
    return CellDetections(rng.uniform(0, 1000, n).astype(np.float32), rng.uniform(0, 1000, n).astype(np.float32),
                          rng.integers(0, 4, n).astype(np.int8), rng.random(n) > 0.5, rng.random(n) > 0.2,
                          rng.uniform(0, 0.8, n).astype(np.float32), rng.random(n).astype(np.float32))


def test_cell_detections_keep_their_measurements_through_json():
    c = _cells()
    back = CellDetections.from_dict(json.loads(json.dumps(c.to_dict())))
    assert np.allclose(back.membrane_od, c.membrane_od, atol=1e-3)
    assert np.allclose(back.completeness, c.completeness, atol=1e-2)
    old = {k: v for k, v in c.to_dict().items() if k not in ("membrane_od", "completeness")}
    assert CellDetections.from_dict(old).membrane_od is None          # older results still load
    both = CellDetections.concat([c, _cells(seed=1)])
    assert len(both.membrane_od) == 100


def test_cell_layer_legend_and_nearest_cell():
    c = _cells()
    layer = CellLayer("cells", c)
    title, entries = layer.categories()
    assert "complete" in title and [lab for _, lab in entries][:4] == ["strong", "weak-moderate", "faint", "none"]
    i = 7
    got = layer.nearest(float(c.x[i]) + 0.5, float(c.y[i]) - 0.5, 3.0)
    assert got is not None and got["membrane_od"] == pytest.approx(float(c.membrane_od[i]))
    assert got["tumour"] == bool(c.tumour[i]) and got["completeness"] == pytest.approx(float(c.completeness[i]))
    assert layer.nearest(-500.0, -500.0, 3.0) is None


def _tma_result() -> ScoreResult:
    cores = [CoreResult("A1", (0, 0, 10, 10), "3+", "High", {"3+": 1.0},
                        cells={"n_tumour": 300, "n_non_tumour": 50, "pct_complete_strong": 40.0, "h_score": 200.0}),
             CoreResult("A2", (20, 0, 10, 10), "0", "0", {"0": 1.0},
                        cells={"n_tumour": 100, "n_non_tumour": 20, "pct_complete_strong": 0.0, "h_score": 20.0})]
    return ScoreResult("tma.tif", "rules", "3+", {"3+": 1.0}, ModelInfo("asco-cap-rules", None, "1"), cores=cores)


def test_measurement_table_pools_a_tma_and_exports_csv():
    r = _tma_result()
    rows = measurement_rows(r)
    assert [row[0] for row in rows] == ["whole slide", "A1", "A2"]
    pooled = pooled_cells([c.cells for c in r.cores])
    assert pooled["n_tumour"] == 400 and pooled["pct_complete_strong"] == pytest.approx(30.0)
    assert pooled["h_score"] == pytest.approx(155.0)
    table = list(csv.reader(measurements_csv(r).splitlines()))
    assert tuple(table[0]) == HEADER and table[1][2] == "400" and table[2][1] == "3+"
    lowres = ScoreResult("s.tif", "lowres", None, {"Low": 1.0}, ModelInfo("m", None, "1"), score3="Low")
    assert measurement_rows(lowres)[0][1] == "Low" and measurement_rows(lowres)[0][2] == ""


def test_score_writes_the_measurement_table(tmp_path):
    img = generate_core("2+", seed=3, diameter_px=700, mpp=0.5).image
    core = tmp_path / "core.png"
    cv2.imwrite(str(core), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    out = tmp_path / "m.csv"
    assert main(["score", str(core), "--mpp", "0.5", "--measurements", str(out), "--json", str(tmp_path / "r.json")]) == 0
    rows = list(csv.DictReader(open(out)))
    assert len(rows) == 1 and int(rows[0]["Tumour cells"]) > 50 and rows[0]["Call"] in ("0", "1+", "2+", "3+")
    r = json.loads((tmp_path / "r.json").read_text())
    assert "membrane_od" in r["evidence"]["cells"]


def test_measurements_dock_and_hover_in_the_window(qtbot, tmp_path):
    from her2viewer.slide.writer import write_pyramidal_tiff
    from her2viewer.ui.main_window import MainWindow
    from her2viewer.ui.scoring.controller import cell_tooltip

    from .conftest import textured_image

    win = MainWindow(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(win)
    win.resize(1100, 700)
    win.show()
    try:
        path = write_pyramidal_tiff(tmp_path / "a.tif", textured_image(1000, 1000), mpp=0.5)
        win.open_paths([str(path)])
        qtbot.waitUntil(lambda: win.tabs.count() == 1, timeout=20_000)
        tab = win.current_tab()
        ctl = win.scoring
        r = _tma_result()
        r.evidence.cells = _cells()
        ctl.show_result(tab, r)
        panel = ctl.measurements_panel
        assert panel.table.rowCount() == 3 and ctl.docks["Measurements"].isVisible()
        out = panel.export_csv(tmp_path / "m.csv")
        assert out.read_text().splitlines()[0].startswith("Region,Call,Tumour cells")
        c = r.evidence.cells
        tab.view.viewport.set_downsample_at(0.5, 0, 0)         # zoomed in: the cells are drawn
        assert tab.layers.find("Score: cells").shown_at(tab.view.viewport.downsample)
        text = ctl.hover_cell(tab, (float(c.x[3]), float(c.y[3])))
        assert text is not None and f"{float(c.membrane_od[3]):.3f}" in text
        tab.layers.find("Score: cells").visible = False         # a hidden layer shows no tooltip
        assert ctl.hover_cell(tab, (float(c.x[3]), float(c.y[3]))) is None
        cell = {"x": 1.0, "y": 2.0, "tumour": True, "class": "strong", "complete": True, "membrane_od": 0.61,
                "completeness": 0.9}
        tip = cell_tooltip(cell)
        assert "Tumour cell" in tip and "0.610" in tip and "90%" in tip and "complete" in tip
        assert ctl.hover_cell(tab, None) is None
    finally:
        win.close()
