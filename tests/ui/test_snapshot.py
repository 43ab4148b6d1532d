"""Snapshots: `her2viewer snapshot` and File > Export Snapshot render the view with the result's overlays,
legend and scale bar, as PNG or TIFF, at a chosen magnification; bad input gets one line naming the file."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from PIL import Image
from PySide6.QtCore import QSettings

from her2viewer.cli import main
from her2viewer.scoring.result import Evidence, Heatmap, ModelInfo, ScoreResult
from her2viewer.slide.writer import write_pyramidal_tiff

from .conftest import textured_image


@pytest.fixture
def slide(tmp_path):
    return write_pyramidal_tiff(tmp_path / "s.tif", textured_image(2000, 1200, seed=2), mpp=0.5, tile_size=256)


def _result(tmp_path):
    heat = np.ones((3, 5), np.float32)
    r = ScoreResult("s.tif", "rules", "2+", {"2+": 1.0}, ModelInfo("m", None, "1"),
                    evidence=Evidence(heatmaps=[Heatmap("membrane_hscore", heat, (0, 0), 400.0)]))
    path = tmp_path / "r.json"
    path.write_text(r.to_json(with_evidence=True))
    return path


def test_snapshot_command_png_with_the_result_and_tiff_at_a_magnification(tmp_path, slide):
    plain, with_result = tmp_path / "plain.png", tmp_path / "res.png"
    assert main(["snapshot", str(slide), "--out", str(plain), "--max-side", "500"]) == 0
    assert main(["snapshot", str(slide), "--out", str(with_result), "--max-side", "500",
                 "--result", str(_result(tmp_path))]) == 0
    a, b = np.asarray(Image.open(plain).convert("RGB")), np.asarray(Image.open(with_result).convert("RGB"))
    assert a.shape == b.shape == (300, 500, 3)
    assert np.abs(a[100:200, 100:400].astype(int) - b[100:200, 100:400]).mean() > 20   # the heatmap is burned in
    tif = tmp_path / "v.tif"
    assert main(["snapshot", str(slide), "--out", str(tif), "--view", "0,0,800,400", "--magnification", "10"]) == 0
    assert tifffile.imread(tif).shape == (200, 400, 3)                # 20x slide at 10x: half size


def test_snapshot_errors_name_the_problem(tmp_path, slide, capsys):
    assert main(["snapshot", str(tmp_path / "nope.tif"), "--out", str(tmp_path / "x.png")]) == 2
    assert "nope.tif" in capsys.readouterr().err
    assert main(["snapshot", str(slide), "--out", str(tmp_path / "x.jpg")]) == 2
    assert "x.jpg" in capsys.readouterr().err
    assert main(["snapshot", str(slide), "--out", str(tmp_path / "x.png"), "--view", "0,0,800000,400",
                 "--magnification", "40"]) == 2
    assert "larger than" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    assert main(["snapshot", str(slide), "--out", str(tmp_path / "x.png"), "--result", str(bad)]) == 2
    assert "bad.json" in capsys.readouterr().err


def test_export_snapshot_from_the_window(qtbot, tmp_path, slide):
    from her2viewer.ui.main_window import MainWindow

    win = MainWindow(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(win)
    win.resize(900, 700)
    win.show()
    win.open_paths([str(slide)])
    qtbot.waitUntil(lambda: win.current_tab() is not None, timeout=10_000)
    tab = win.current_tab()
    tab.view.fit_rect(0, 0, 800, 600)
    out = win.export_snapshot(tmp_path / "snap.png", magnification=5.0)
    assert out is not None
    w, h = Image.open(out).size
    r = tab.view.l0_rect()
    assert (w, h) == (int(np.ceil(r.width() / 4)), int(np.ceil(r.height() / 4)))   # 20x -> 5x: a quarter
    win.close()


def test_a_file_without_pixel_size_takes_the_one_its_result_was_scored_at(tmp_path):
    png = tmp_path / "tile.png"
    Image.fromarray(textured_image(800, 400, seed=3)).save(png)
    r = ScoreResult("tile.png", "rules", "2+", {"2+": 1.0}, ModelInfo("m", None, "1"),
                    qc={"status": "ok", "stain": "dab_ihc", "mpp": 0.5, "mpp_source": "estimated",
                        "messages": []})
    res = tmp_path / "r.json"
    res.write_text(r.to_json())
    out = tmp_path / "v.png"
    assert main(["snapshot", str(png), "--out", str(out), "--magnification", "10"]) == 2   # no pixel size
    assert main(["snapshot", str(png), "--out", str(out), "--magnification", "10", "--result", str(res)]) == 0
    assert np.asarray(Image.open(out)).shape[:2] == (200, 400)        # scored at 0.5 um/px (20x): 10x is half


def test_legend_plates_widen_for_long_titles_and_elide_past_the_limit(qtbot):
    from PySide6.QtGui import QImage, QPainter

    from her2viewer.ui.viewer.legend import BAR_W, MAX_TITLE_W, title_width

    img = QImage(400, 300, QImage.Format.Format_RGB32)
    p = QPainter(img)
    try:
        assert title_width(p, ["short"]) == BAR_W
        assert BAR_W < title_width(p, ["Score: membrane_hscore heatmap (0-1)"]) <= MAX_TITLE_W
        assert title_width(p, ["x" * 500]) == MAX_TITLE_W
    finally:
        p.end()
