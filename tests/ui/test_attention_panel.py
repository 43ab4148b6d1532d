"""The heatmap panel: NaN-aware smoothing, the top-attended tiles of a real (tiny, untrained) MIL result in
descending order, rows that move the view onto their tile, and controls that restyle the layer in place."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PySide6.QtCore import QSettings, Qt

from her2viewer.scoring.base import ScoreOptions, create_scorer
from her2viewer.scoring.heatmap_ops import (
    percentile_ranks,
    smooth_heatmap,
    smoothing_upsample,
    tile_view_rect,
    top_tiles,
)
from her2viewer.scoring.mil.testing import make_test_mil_checkpoint
from her2viewer.scoring.result import Evidence, Heatmap, ModelInfo, ScoreResult
from her2viewer.slide import open_slide
from her2viewer.slide.region import Region
from her2viewer.synth.core import generate_core
from her2viewer.ui.scoring.attention_panel import HIGHLIGHT, AttentionPanel, show_tile
from her2viewer.ui.scoring.result_layers import HeatmapLayer, heatmap_layer_name, install_result_layers
from her2viewer.ui.viewer.layers import LayerStack, VectorLayer, colormap_lut


@pytest.fixture(scope="module")
def mil(tmp_path_factory):
    """A synthetic core as a PNG and the MIL result of a tiny random checkpoint on it."""
    d = tmp_path_factory.mktemp("attn")
    core = generate_core("3+", 1, diameter_px=900)
    png = d / "core.png"
    cv2.imwrite(str(png), cv2.cvtColor(core.image, cv2.COLOR_RGB2BGR))
    ckpt = make_test_mil_checkpoint(d / "tiny_abmil")
    scorer = create_scorer("mil", ScoreOptions(device="cpu", model_path=str(ckpt),
                                               extra={"feature_cache": False}))
    with open_slide(png) as src:
        result = scorer.score_region(src, Region((0, 0, *src.dimensions), None, "slide"))
    return png, result


def _panel(qtbot, result, stack):
    panel = AttentionPanel()
    qtbot.addWidget(panel)
    panel.resize(380, 520)
    panel.show()
    install_result_layers(stack, result)
    panel.set_target(result, stack)
    return panel


def test_smoothing_keeps_off_tissue_nan_and_a_constant_field_constant():
    vals = np.full((9, 12), 0.7, np.float32)
    vals[:, :3] = np.nan          # glass on the left, a hole inside
    vals[4, 6] = np.nan
    for sigma in (0.5, 1.0, 2.0):
        out = smooth_heatmap(vals, sigma)
        assert np.array_equal(np.isnan(out), np.isnan(vals))
        # no darkening next to the glass or at the grid's edge: a constant stays exactly constant
        np.testing.assert_allclose(out[np.isfinite(out)], 0.7, atol=1e-6)
    spike = np.where(np.isnan(vals), np.nan, 0.0).astype(np.float32)
    spike[2, 8] = 1.0
    out = smooth_heatmap(spike, 1.0)
    assert 0.0 < out[2, 8] < 0.5 and out[2, 9] > 0.0 and out[8, 11] < 1e-3
    assert np.nansum(out) == pytest.approx(1.0, rel=0.35)    # mass spreads, roughly conserved
    same = smooth_heatmap(spike, 0.0)
    assert np.array_equal(same, spike, equal_nan=True) and same is not spike
    # on finer cells: 4 x 4 sub-cells per cell, the same NaN cells, still constant where constant
    fine = smooth_heatmap(vals, 1.0, upsample=4)
    assert fine.shape == (36, 48)
    assert np.array_equal(np.isnan(fine), np.repeat(np.repeat(np.isnan(vals), 4, 0), 4, 1))
    np.testing.assert_allclose(fine[np.isfinite(fine)], 0.7, atol=1e-6)
    assert smoothing_upsample((10, 10)) == 4 and smoothing_upsample((2000, 2000)) == 1


def test_percentile_ranks_spread_a_flat_map_and_keep_nan():
    vals = np.array([[0.99, np.nan, 0.97], [1.0, 0.98, 0.98]], np.float32)
    ranks = percentile_ranks(vals)
    assert np.isnan(ranks[0, 1])
    np.testing.assert_allclose(ranks[np.isfinite(ranks)], [0.75, 0.0, 1.0, 0.375, 0.375])
    assert percentile_ranks(np.array([[np.nan, 0.3]]))[0, 1] == 1.0


def test_top_tiles_rank_the_raw_values_and_carry_the_share():
    vals = np.array([[0.2, np.nan, 0.9], [1.0, 0.5, 0.9]], np.float32)
    hm = Heatmap("mil_attention", vals, (100.0, 50.0), 64.0)
    params = {"top_tiles": [{"bbox": [100, 114, 64, 64], "attention": 0.4}]}
    tiles = top_tiles(hm, 4, params)
    assert [t.value for t in tiles] == pytest.approx([1.0, 0.9, 0.9, 0.5])
    assert [t.rank for t in tiles] == [1, 2, 3, 4]
    assert tiles[0].l0_bbox == (100.0, 114.0, 64.0, 64.0) and tiles[0].share == 0.4
    assert tiles[1].l0_bbox[:2] == (228.0, 50.0) and tiles[1].share is None   # ties: row-major order
    assert tiles[0].l0_center == (132.0, 146.0)
    assert len(top_tiles(hm, 99)) == 5                                         # NaN cells are never listed
    x, y, w, h = tile_view_rect(tiles[0].l0_bbox)
    assert (x + w / 2, y + h / 2) == tiles[0].l0_center and w == h == 5 * 64


def test_the_list_holds_the_top_tiles_of_a_mil_result_in_descending_attention(qtbot, mil):
    _, result = mil
    panel = _panel(qtbot, result, LayerStack())
    heat = next(h for h in result.evidence.heatmaps if h.name == "mil_attention")
    n_tiles = int(np.isfinite(heat.values).sum())
    assert panel.heatmap is heat and panel.table.rowCount() == min(10, n_tiles) >= 5
    shown = [float(panel.table.item(r, 1).text()) for r in range(panel.table.rowCount())]
    assert shown == sorted(shown, reverse=True) and shown[0] == pytest.approx(1.0)
    assert [panel.table.item(r, 0).text() for r in range(3)] == ["1", "2", "3"]
    # the same tiles as the scorer's own top list, with their share of the bag
    expected = [t["attention"] for t in result.params["top_tiles"]]
    assert [t.share for t in panel.tiles] == pytest.approx(expected, rel=1e-4)
    assert [list(map(int, t.l0_bbox)) for t in panel.tiles] == [t["bbox"] for t in result.params["top_tiles"]]
    assert not panel.table.isColumnHidden(2) and panel.table.item(0, 2).text().endswith("%")
    assert "attention" in panel.table.horizontalHeaderItem(1).text()


def test_activating_a_row_moves_the_view_onto_its_tile(qtbot, mil, make_view):
    png, result = mil
    src = open_slide(png)
    view = make_view(src, size=(640, 480))
    panel = _panel(qtbot, result, view.layers)
    panel.sigTileActivated.connect(lambda t: show_tile(view, t))

    def assert_shows(tile):
        r = view.l0_rect()
        cx, cy = tile.l0_center
        assert r.center().x() == pytest.approx(cx, abs=1.0) and r.center().y() == pytest.approx(cy, abs=1.0)
        x, y, w, h = tile.l0_bbox
        assert r.contains(x, y) and r.contains(x + w, y + h)            # the whole tile in view
        assert w / view.downsample >= 60                                  # and large enough to see
        hl = view.layers.find(HIGHLIGHT)
        assert isinstance(hl, VectorLayer) and hl.shapes[0].bbox == (x, y, x + w, y + h)
        assert panel.table.currentRow() == tile.rank - 1

    view.fit()
    assert panel.activate_row(3) is panel.tiles[3]
    assert_shows(panel.tiles[3])
    # keyboard: Down steps to the next tile at once
    panel.table.setFocus()
    qtbot.keyClick(panel.table, Qt.Key.Key_Down)
    assert_shows(panel.tiles[4])
    qtbot.keyClick(panel.table, Qt.Key.Key_Up)
    qtbot.keyClick(panel.table, Qt.Key.Key_Up)
    assert_shows(panel.tiles[2])
    # Enter after panning away goes back to the current tile
    view.fit()
    qtbot.keyClick(panel.table, Qt.Key.Key_Return)
    assert_shows(panel.tiles[2])
    # a click on a row
    rect = panel.table.visualItemRect(panel.table.item(0, 3))
    qtbot.mouseClick(panel.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert_shows(panel.tiles[0])
    src.close()


def test_controls_restyle_the_layer_without_recomputing(qtbot, mil):
    _, result = mil
    stack = LayerStack()
    panel = _panel(qtbot, result, stack)
    heat = panel.heatmap
    layer = stack.find(heatmap_layer_name("mil_attention"))
    assert isinstance(layer, HeatmapLayer) and panel.layer is layer
    assert layer.colormap == "inferno" and layer.opacity == pytest.approx(0.45)
    raw = heat.values.copy()
    with qtbot.waitSignal(layer.sigChanged):
        panel.opacity_slider.setValue(80)
    assert layer.opacity == pytest.approx(0.8) and panel.opacity_label.text() == "80%"
    before = layer.rgba().copy()
    panel.colormap_combo.setCurrentText("viridis")
    assert layer.colormap == "viridis"
    top = np.unravel_index(np.nanargmax(raw), raw.shape)
    assert tuple(layer.rgba()[top][:3]) == tuple(colormap_lut("viridis")[255])
    assert not np.array_equal(before[..., :3], layer.rgba()[..., :3])
    bounds = layer.l0_bounds()
    panel.smoothing_combo.setCurrentIndex(panel.smoothing_combo.findData(1.0))
    assert stack.find(layer.name) is layer                                # the same layer, restyled
    f = smoothing_upsample(raw.shape)
    assert f == 4 and layer.cell_size == pytest.approx(heat.l0_cell_size / 4) and layer.l0_bounds() == bounds
    assert np.array_equal(np.isnan(layer.values), np.repeat(np.repeat(np.isnan(raw), f, 0), f, 1))
    np.testing.assert_allclose(layer.values, smooth_heatmap(raw, 1.0, f), equal_nan=True)
    np.testing.assert_array_equal(heat.values, raw)                      # the result itself is untouched
    panel.scale_combo.setCurrentIndex(panel.scale_combo.findData("percentile"))
    np.testing.assert_allclose(layer.values, smooth_heatmap(percentile_ranks(raw), 1.0, f), equal_nan=True)
    assert (layer.vmin, layer.vmax) == (0.0, 1.0) and "percentile" in layer.legend()[3]
    panel.scale_combo.setCurrentIndex(0)
    panel.smoothing_combo.setCurrentIndex(0)
    np.testing.assert_array_equal(layer.values, raw)
    assert layer.cell_size == heat.l0_cell_size and layer.legend()[3] == layer.name
    panel.show_check.setChecked(False)
    assert not layer.visible
    layer.opacity = 0.3                                                   # e.g. from the layers panel
    assert panel.opacity_slider.value() == 30
    # a new result gets the panel's settings; one without a heatmap disables the panel
    install_result_layers(stack, result)
    panel.set_target(result, stack)
    new = stack.find(layer.name)
    assert new is not layer and new.colormap == "viridis" and new.opacity == pytest.approx(0.3)
    plain = ScoreResult("x", "rules", "0", {"0": 1.0}, ModelInfo("m"), evidence=Evidence())
    install_result_layers(stack, plain)
    panel.set_target(plain, stack)
    assert panel.heatmap is None and panel.table.rowCount() == 0 and not panel.colormap_combo.isEnabled()


def test_the_main_window_shows_the_panel_and_moves_its_view(qtbot, mil, tmp_path):
    from her2viewer.ui.main_window import MainWindow

    png, result = mil
    w = MainWindow(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(w)
    ctl = w.scoring
    ctl.project_folder = tmp_path / "project"
    try:
        w.resize(1400, 900)
        w.show()
        w.open_paths([str(png)])
        qtbot.waitUntil(lambda: w.current_tab() is not None, timeout=20_000)
        tab = w.current_tab()
        ctl.show_result(tab, result)
        panel = ctl.docks["Heatmap"].widget()
        assert isinstance(panel, AttentionPanel) and panel.result is result and panel.table.rowCount() >= 5
        assert panel.layer is tab.layers.find(heatmap_layer_name("mil_attention"))
        panel.activate_row(1)
        cx, cy = panel.tiles[1].l0_center
        r = tab.view.l0_rect()
        assert r.center().x() == pytest.approx(cx, abs=1.0) and r.center().y() == pytest.approx(cy, abs=1.0)
    finally:
        ctl.close()


def test_other_heatmaps_are_shown_and_mil_attention_is_preferred(qtbot):
    patch = Heatmap("patch_score", np.array([[0.5, 2.5], [np.nan, 3.0]], np.float32), (0.0, 0.0), 100.0, 0.0, 3.0)
    attn = Heatmap("mil_attention", np.array([[1.0, 0.2], [np.nan, 0.4]], np.float32), (0.0, 0.0), 100.0)
    only_patch = ScoreResult("x", "patch", "3+", {"3+": 1.0}, ModelInfo("m"), evidence=Evidence(heatmaps=[patch]))
    stack = LayerStack()
    panel = _panel(qtbot, only_patch, stack)
    assert panel.heatmap is patch and panel.heatmap_combo.isHidden()
    assert [t.value for t in panel.tiles] == [3.0, 2.5, 0.5]
    assert panel.table.horizontalHeaderItem(1).text() == "value" and panel.table.isColumnHidden(2)
    panel.scale_combo.setCurrentIndex(1)                  # percentiles of a 0..3 map: the range becomes 0..1
    assert (panel.layer.vmin, panel.layer.vmax) == (0.0, 1.0) and np.nanmax(panel.layer.values) == 1.0
    panel.scale_combo.setCurrentIndex(0)
    assert (panel.layer.vmin, panel.layer.vmax) == (0.0, 3.0)
    both = ScoreResult("x", "mil", "0", {"0": 1.0}, ModelInfo("m"), evidence=Evidence(heatmaps=[patch, attn]))
    install_result_layers(stack, both)
    panel.set_target(both, stack)
    assert panel.heatmap is attn and not panel.heatmap_combo.isHidden()
    assert panel.layer is stack.find(heatmap_layer_name("mil_attention"))
    panel.heatmap_combo.setCurrentIndex(0)
    assert panel.heatmap is patch and panel.layer is stack.find(heatmap_layer_name("patch_score"))


def test_an_h_score_heatmap_lists_whole_h_scores(qtbot):
    hscore = Heatmap("membrane_hscore", np.array([[173.5, 20.0], [np.nan, 300.0]], np.float32), (0.0, 0.0), 100.0,
                     0.0, 300.0)
    rules = ScoreResult("x", "rules", "3+", {"3+": 1.0}, ModelInfo("m"), evidence=Evidence(heatmaps=[hscore]))
    panel = _panel(qtbot, rules, LayerStack())
    assert [panel.table.item(r, 1).text() for r in range(panel.table.rowCount())] == ["300", "174", "20"]
    assert panel.list_label.text().startswith("Top 3 tiles by value")
    assert (panel.layer.vmin, panel.layer.vmax) == (0.0, 300.0)
