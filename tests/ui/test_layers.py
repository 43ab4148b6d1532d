"""Overlay layers: the stack's order and signals, raster/vector drawing, toggling in the panel."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QRectF, Qt

from her2viewer.ui.viewer.layers import LayerStack, RasterLayer, Shape, VectorLayer, colormap_lut

from .conftest import grab_rgb, wait_complete


def test_stack_order_and_signals(qtbot):
    stack = LayerStack()
    a, b = VectorLayer("a"), VectorLayer("b")
    with qtbot.waitSignal(stack.sigLayersChanged):
        stack.add(a)
    stack.add(b)
    assert [la.name for la in stack.layers] == ["a", "b"]
    stack.move(b, 0)
    assert [la.name for la in stack.layers] == ["b", "a"]
    with qtbot.waitSignal(stack.sigChanged):
        a.opacity = 0.5
    with qtbot.waitSignal(stack.sigChanged):
        a.visible = False
    replacement = VectorLayer("a")
    stack.add(replacement)                     # same name: replaced in place
    assert stack.layers == [b, replacement]
    with qtbot.assertNotEmitted(stack.sigChanged):
        a.visible = True                       # the old layer is disconnected
    stack.remove(b)
    assert stack.layers == [replacement]


def test_raster_colours_threshold_and_nan():
    values = np.array([[0.0, 0.5], [1.0, np.nan]], np.float32)
    layer = RasterLayer("heat", values, colormap="viridis", threshold=0.4)
    rgba = layer.rgba()
    lut = colormap_lut("viridis")
    assert tuple(rgba[1, 0, :3]) == tuple(lut[255])
    assert rgba[0, 0, 3] == 0                  # below the threshold: transparent
    assert rgba[1, 1, 3] == 0                  # NaN: transparent
    assert rgba[0, 1, 3] == 255
    lut_, vmin, vmax, title = layer.legend()
    assert (vmin, vmax) == (0.0, 1.0) and title == "heat"
    with pytest.raises(ValueError):
        RasterLayer("bad", np.zeros(5))
    with pytest.raises(ValueError):
        colormap_lut("no-such-map")


def test_vector_layer_culls_to_the_visible_area():
    shapes = [Shape("box", (0, 0, 10, 10)), Shape("point", (500, 500)),
              Shape("polygon", [(100, 100), (200, 100), (150, 180)])]
    layer = VectorLayer("v", shapes)
    assert layer.visible_shapes(QRectF(90, 90, 50, 50)) == [shapes[2]]
    assert len(layer.visible_shapes(QRectF(0, 0, 1000, 1000))) == 3
    with pytest.raises(ValueError):
        Shape("circle", (1, 2))


def test_layers_draw_in_slide_coordinates_and_toggle(make_view, array_slide, qtbot):
    view = make_view(array_slide, size=(400, 300))
    view.fit_rect(0, 0, 800, 600)                        # downsample 2
    wait_complete(qtbot, view)
    plain = grab_rgb(view)
    grid = np.zeros((3, 4), np.float32)
    grid[1, 2] = 1.0                                     # one hot cell: level-0 [400,600) x [200,400)
    heat = RasterLayer("heat", grid, cell_size=200, colormap="#ff0000", vmin=0, vmax=1, threshold=0.5,
                       opacity=1.0, show_legend=False)
    boxes = VectorLayer("boxes", [Shape("box", (20, 400, 200, 100), color="#00ff00", label="A1")], line_width=3)
    view.layers.add(heat)
    view.layers.add(boxes)
    view.repaint()
    shown = grab_rgb(view)
    # the hot cell is at screen [200,300) x [100,200); red there, untouched elsewhere
    assert (shown[120:180, 210:290] == (255, 0, 0)).all()
    assert (shown[20:80, 20:80] == plain[20:80, 20:80]).all()
    # the box's left edge is at screen x = 10, from y = 200 to 250
    edge = shown[210:240, 9:12]
    assert (np.abs(edge.astype(int) - (0, 255, 0)).sum(axis=2) < 90).any(axis=1).all()
    heat.visible = False
    view.repaint()
    assert (grab_rgb(view)[120:180, 210:290] == plain[120:180, 210:290]).all()
    heat.visible = True
    heat.opacity = 0.5
    view.repaint()
    half = grab_rgb(view)[150, 250].astype(int)
    assert abs(half[0] - (255 + int(plain[150, 250, 0])) / 2) < 3


def test_panel_toggles_orders_and_fades_layers(qtbot):
    from her2viewer.ui.viewer.layers_panel import LayersPanel

    stack = LayerStack()
    bottom, top = stack.add(VectorLayer("bottom")), stack.add(VectorLayer("top"))
    panel = LayersPanel()
    qtbot.addWidget(panel)
    panel.set_stack(stack)
    assert [panel.list.item(i).text() for i in range(2)] == ["top", "bottom"]
    panel.list.item(1).setCheckState(Qt.CheckState.Unchecked)
    assert bottom.visible is False and top.visible is True
    top.visible = False                                  # model -> panel
    assert panel.list.item(0).checkState() == Qt.CheckState.Unchecked
    panel.list.setCurrentRow(1)
    panel.opacity.setValue(30)
    assert bottom.opacity == pytest.approx(0.3)
    panel.up.click()
    assert stack.layers == [top, bottom]
    assert panel.list.item(0).text() == "bottom"
    panel.remove.click()
    assert stack.layers == [top] and panel.list.count() == 1


def test_raster_legend_is_drawn(make_view, array_slide, qtbot):
    view = make_view(array_slide, size=(400, 300))
    wait_complete(qtbot, view)
    before = grab_rgb(view)
    view.layers.add(RasterLayer("score", np.full((2, 2), np.nan, np.float32), vmin=0, vmax=3, colormap="jet"))
    view.repaint()
    after = grab_rgb(view)
    corner = np.abs(after[-50:, -190:].astype(int) - before[-50:, -190:].astype(int)).sum(axis=2)
    assert (corner > 30).mean() > 0.3                    # the legend plate and colour bar
    assert (after[:150, :150] == before[:150, :150]).all()   # NaN grid: nothing drawn over the slide


def test_result_heatmap_is_clipped_to_the_image(make_view, qtbot):
    """A heatmap whose last cells reach past the image edge (a 1024 px tile with 300 px cells) is drawn only
    over the image."""
    from her2viewer.scoring.result import Evidence, Heatmap, ModelInfo, ScoreResult
    from her2viewer.slide import ArraySlide
    from her2viewer.ui.scoring.result_layers import install_result_layers

    from .conftest import textured_image

    source = ArraySlide(textured_image(1024, 1024), mpp=0.5, name="tile")
    view = make_view(source, size=(400, 400))
    view.fit_rect(0, 0, 1600, 1600)                      # downsample 4: the image ends at screen 256
    wait_complete(qtbot, view)
    plain = grab_rgb(view)
    result = ScoreResult("tile", "rules", "2+", {"2+": 1.0}, ModelInfo("m", None),
                         evidence=Evidence(heatmaps=[Heatmap("h", np.ones((4, 4), np.float32), (0, 0), 300.0)]))
    (layer,) = install_result_layers(view.layers, result, tuple(source.dimensions))
    layer.opacity = 1.0
    view.repaint()
    shown = grab_rgb(view)
    assert (shown[100, 100] != plain[100, 100]).any()                 # on the image: tinted
    assert (shown[100, 280:300] == plain[100, 280:300]).all()         # past the edge (1024/4 = 256): clear
    assert (shown[280:300, 100] == plain[280:300, 100]).all()


def test_hundreds_of_sampled_patches_start_hidden_but_listed(qtbot):
    from her2viewer.scoring.result import Evidence, ModelInfo, PatchBox, ScoreResult
    from her2viewer.ui.scoring.result_layers import MAX_SHOWN_BOXES, PATCHES, result_layers

    def layer(n: int):
        boxes = [PatchBox((10 * i % 900, 10, 100, 100), i % 5, "1+") for i in range(n)]
        r = ScoreResult("t.png", "pss", "1+", {"1+": 1.0}, ModelInfo("m", None, "1"),
                        evidence=Evidence(patch_boxes=boxes))
        return next(la for la in result_layers(r, (1024, 1024)) if la.name == PATCHES)

    assert layer(20).visible
    many = layer(MAX_SHOWN_BOXES + 130)
    assert not many.visible and len(many.shapes) == MAX_SHOWN_BOXES + 130
