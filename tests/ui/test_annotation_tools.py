"""Drawing and editing annotations with simulated mouse events on the slide view: the geometry lands in
level-0 coordinates; every edit is undoable; autosave survives a crash."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, Qt
from shapely.geometry import Point, box

from her2viewer.annotations.model import Annotation
from her2viewer.annotations.store import AnnotationStore, slide_id


@pytest.fixture
def drawing(make_view, array_slide, tmp_path):
    """A view of the 3000 x 2000 test slide zoomed to downsample 2, with a session and tools on it."""
    from her2viewer.ui.annotations.session import SlideAnnotations
    from her2viewer.ui.annotations.tools import AnnotationTools

    view = make_view(array_slide, size=(640, 480))
    view.set_downsample(2.0)
    view.center_on(1000, 700)
    session, problem = SlideAnnotations.open(array_slide, tmp_path / "proj")
    assert problem is None
    view.layers.add(session.layer)
    tools = AnnotationTools(view, session)
    yield view, session, tools
    session.close()


def l0(view, x, y):
    return view.viewport.screen_to_l0(x, y)


def drag(qtbot, view, points):
    qtbot.mousePress(view, Qt.MouseButton.LeftButton, pos=QPoint(*points[0]))
    for p in points[1:]:
        qtbot.mouseMove(view, QPoint(*p))
    qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, pos=QPoint(*points[-1]))


def click(qtbot, view, p, modifier=Qt.KeyboardModifier.NoModifier):
    qtbot.mouseClick(view, Qt.MouseButton.LeftButton, modifier, QPoint(*p))


def only(session):
    assert len(session.aset) == 1
    return next(iter(session.aset))


def test_view_transform_is_what_we_expect(drawing):
    view, _, _ = drawing
    assert view.viewport.downsample == pytest.approx(2.0)
    assert l0(view, 320, 240) == pytest.approx((1000, 700))


def test_rectangle(qtbot, drawing):
    view, session, tools = drawing
    tools.set_tool("rect")
    session.current_class = "Tumour"
    drag(qtbot, view, [(100, 80), (200, 150), (300, 200)])
    ann = only(session)
    x0, y0 = l0(view, 100, 80)
    x1, y1 = l0(view, 300, 200)
    assert ann.geometry.equals(box(x0, y0, x1, y1))
    assert ann.cls == "Tumour" and session.selected == [ann.id]
    assert ann.area_um2(0.5) == pytest.approx(400 * 240 * 0.25)


def test_ellipse(qtbot, drawing):
    view, session, tools = drawing
    tools.set_tool("ellipse")
    drag(qtbot, view, [(300, 200), (250, 150), (100, 100)])   # dragged up-left works too
    g = only(session).geometry
    x0, y0 = l0(view, 100, 100)
    x1, y1 = l0(view, 300, 200)
    assert g.bounds == pytest.approx((x0, y0, x1, y1), abs=0.5)
    rx, ry = (x1 - x0) / 2, (y1 - y0) / 2
    assert g.area == pytest.approx(3.14159 * rx * ry, rel=0.01)
    assert g.contains(Point((x0 + x1) / 2, (y0 + y1) / 2))


def test_polygon_by_clicks_and_double_click(qtbot, drawing):
    view, session, tools = drawing
    tools.set_tool("polygon")
    pts = [(100, 100), (300, 100), (300, 300)]
    for p in pts:
        click(qtbot, view, p)
    assert len(session.aset) == 0 and session.layer.draft_points   # still drawing
    # what Qt sends for the second click of a double click (the repeated vertex is dropped)
    qtbot.mouseDClick(view, Qt.MouseButton.LeftButton, pos=QPoint(*pts[-1]))
    g = only(session).geometry
    expected = [l0(view, *p) for p in pts]
    assert g.geom_type == "Polygon" and len(g.exterior.coords) == 4
    got = sorted(g.exterior.coords[:-1])
    assert [c for p in got for c in p] == pytest.approx([c for p in sorted(expected) for c in p])


def test_polygon_closed_with_enter_and_cancelled_with_esc(qtbot, drawing):
    view, session, tools = drawing
    tools.set_tool("polygon")
    for p in [(100, 100), (200, 100), (200, 200), (100, 200)]:
        click(qtbot, view, p)
    qtbot.keyClick(view, Qt.Key.Key_Escape)
    assert len(session.aset) == 0 and not session.layer.draft_points
    for p in [(100, 100), (200, 100), (200, 200), (100, 200), (150, 250)]:
        click(qtbot, view, p)
    qtbot.keyClick(view, Qt.Key.Key_Backspace)        # drops (150, 250)
    qtbot.keyClick(view, Qt.Key.Key_Return)
    g = only(session).geometry
    assert g.equals(box(*l0(view, 100, 100), *l0(view, 200, 200)))


def test_freehand(qtbot, drawing):
    view, session, tools = drawing
    tools.set_tool("freehand")
    path = [(100, 100)] + [(100 + i * 10, 100) for i in range(1, 21)] + [(300, 100 + i * 10) for i in range(1, 16)] \
        + [(300 - i * 10, 250) for i in range(1, 21)]
    drag(qtbot, view, path)
    g = only(session).geometry
    assert g.geom_type == "Polygon"
    assert g.equals_exact(box(*l0(view, 100, 100), *l0(view, 300, 250)).normalize(), 0) or \
        g.symmetric_difference(box(*l0(view, 100, 100), *l0(view, 300, 250))).area < 0.01 * g.area


def test_brush_stroke_and_extending_it(qtbot, drawing):
    view, session, tools = drawing
    tools.set_tool("brush")
    tools.brush_px = 10
    drag(qtbot, view, [(100, 200), (200, 200), (300, 200)])
    g = only(session).geometry
    ds = view.viewport.downsample
    # a stadium: 200 px long, 2 x 10 px wide, in level-0 units
    assert g.area == pytest.approx((200 * 20 + 3.14159 * 100) * ds * ds, rel=0.03)
    assert g.bounds == pytest.approx((*l0(view, 90, 190), *l0(view, 310, 210)), abs=ds)
    # a stroke that starts inside the selected area adds to it instead of making a new annotation
    drag(qtbot, view, [(300, 200), (300, 300)])
    g2 = only(session).geometry
    assert g2.area > g.area and g2.contains(Point(*l0(view, 300, 290)))


def test_points_go_to_one_multipoint_annotation_per_class(qtbot, drawing):
    view, session, tools = drawing
    tools.set_tool("point")
    session.current_class = "Tumour"
    click(qtbot, view, (50, 60))
    click(qtbot, view, (400, 300))
    session.current_class = "Stroma"
    click(qtbot, view, (200, 100))
    session.current_class = "Tumour"
    click(qtbot, view, (300, 300))
    anns = list(session.aset)
    assert [(a.cls, a.kind) for a in anns] == [("Tumour", "MultiPoint"), ("Stroma", "MultiPoint")]
    tumour = [c for g in anns[0].geometry.geoms for c in (g.x, g.y)]
    assert tumour == pytest.approx([*l0(view, 50, 60), *l0(view, 400, 300), *l0(view, 300, 300)])
    assert session.selected == [anns[0].id]
    assert session.undo_stack.count() == 4                 # one undo step per point
    session.undo_stack.undo()
    assert len(session.aset[anns[0].id].geometry.geoms) == 2
    session.undo_stack.undo()
    assert session.aset.ids() == [anns[0].id]
    session.undo_stack.undo()
    session.undo_stack.undo()
    assert len(session.aset) == 0
    session.undo_stack.redo()
    assert len(only(session).geometry.geoms) == 1


def test_right_click_removes_a_point(qtbot, drawing):
    view, session, tools = drawing
    tools.set_tool("point")
    for p in ((50, 60), (400, 300)):
        click(qtbot, view, p)
    qtbot.mouseClick(view, Qt.MouseButton.RightButton, pos=QPoint(402, 301))
    g = only(session).geometry
    assert len(g.geoms) == 1 and (g.geoms[0].x, g.geoms[0].y) == pytest.approx(l0(view, 50, 60))
    qtbot.mouseClick(view, Qt.MouseButton.RightButton, pos=QPoint(50, 60))
    assert len(session.aset) == 0                          # the last point takes the annotation with it
    session.undo_stack.undo()
    session.undo_stack.undo()
    assert len(only(session).geometry.geoms) == 2


def test_points_round_trip_through_geojson(qtbot, drawing, tmp_path):
    view, session, tools = drawing
    tools.set_tool("point")
    session.current_class = "Tumour"
    for p in ((50, 60), (400, 300), (10, 20)):
        click(qtbot, view, p)
    before = only(session)
    session.export_geojson(tmp_path / "points.geojson")
    session.delete(session.aset.ids())
    session.import_geojson(tmp_path / "points.geojson")
    after = only(session)
    assert after.kind == "MultiPoint" and after.cls == "Tumour"
    assert after.geometry.equals(before.geometry)
    click(qtbot, view, (600, 400))                         # the imported annotation keeps collecting points
    assert len(only(session).geometry.geoms) == 4


def test_select_move_edit_vertex_delete_and_undo(qtbot, drawing):
    view, session, tools = drawing
    a = Annotation.create(box(*l0(view, 100, 100), *l0(view, 200, 200)), "Stroma")
    session.aset.add(a)
    tools.set_tool("select")
    click(qtbot, view, (150, 150))
    assert session.selected == [a.id]
    click(qtbot, view, (500, 400))                     # empty space: nothing selected
    assert session.selected == []
    # drag the body: moves by the drag in level-0 px
    drag(qtbot, view, [(150, 150), (170, 160), (190, 170)])
    ds = view.viewport.downsample
    moved = session.aset[a.id].geometry
    assert moved.equals(box(*l0(view, 140, 120), *l0(view, 240, 220)))
    assert moved.bounds[0] - a.geometry.bounds[0] == pytest.approx(40 * ds)
    # drag a vertex handle (the corner at screen (240, 220))
    drag(qtbot, view, [(240, 220), (260, 240), (280, 260)])
    edited = session.aset[a.id].geometry
    assert Point(*l0(view, 280, 260)).distance(edited) < 1e-6
    assert edited.area > moved.area
    # delete with the Delete key, then undo everything in order
    qtbot.keyClick(view, Qt.Key.Key_Delete)
    assert len(session.aset) == 0
    stack = session.undo_stack
    stack.undo()
    assert session.aset[a.id].geometry.equals(edited)
    stack.undo()
    assert session.aset[a.id].geometry.equals(moved)
    stack.undo()
    assert session.aset[a.id].geometry.equals(a.geometry)
    stack.redo()
    stack.redo()
    stack.redo()
    assert len(session.aset) == 0


def test_undo_redo_of_drawing_and_class_change(qtbot, drawing):
    view, session, tools = drawing
    tools.set_tool("rect")
    drag(qtbot, view, [(100, 100), (200, 200)])
    drag(qtbot, view, [(300, 100), (400, 200)])
    first, second = list(session.aset)
    assert first.cls is None
    session.set_class([first.id, second.id], "HER2 2+")
    assert {a.cls for a in session.aset} == {"HER2 2+"}
    assert session.undo_stack.undoText() == "Set class HER2 2+"
    session.undo_stack.undo()
    assert {a.cls for a in session.aset} == {None}
    session.undo_stack.undo()
    assert session.aset.ids() == [first.id]
    session.undo_stack.redo()
    session.undo_stack.redo()
    assert session.aset.ids() == [first.id, second.id] and session.aset[second.id].cls == "HER2 2+"


def test_escape_cancels_a_drag_then_clears_the_selection(qtbot, drawing):
    view, session, tools = drawing
    tools.set_tool("rect")
    qtbot.mousePress(view, Qt.MouseButton.LeftButton, pos=QPoint(100, 100))
    qtbot.mouseMove(view, QPoint(200, 200))
    assert session.layer.draft is not None
    qtbot.keyClick(view, Qt.Key.Key_Escape)
    qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, pos=QPoint(200, 200))
    assert len(session.aset) == 0
    drag(qtbot, view, [(100, 100), (200, 200)])
    assert session.selected
    qtbot.keyClick(view, Qt.Key.Key_Escape)
    assert session.selected == []


def test_pan_tool_leaves_navigation_alone(qtbot, drawing):
    view, session, tools = drawing
    tools.set_tool("pan")
    before = view.viewport.l0_cx
    drag(qtbot, view, [(300, 200), (250, 200), (200, 200)])
    assert len(session.aset) == 0
    assert view.viewport.l0_cx == pytest.approx(before + 100 * view.viewport.downsample)


def test_autosave_after_a_simulated_crash(qtbot, drawing, array_slide, tmp_path):
    from her2viewer.ui.annotations.session import SlideAnnotations

    view, session, tools = drawing
    tools.set_tool("rect")
    session.current_class = "HER2 3+"
    drag(qtbot, view, [(100, 100), (200, 200)])
    tools.set_tool("point")
    click(qtbot, view, (400, 300))
    session.set_class([session.aset.ids()[1]], "Tumour")
    session.edit_classes(_recoloured(session, "Tumour", (1, 2, 3)))
    expected = [(a.id, a.cls, a.geometry.wkt) for a in session.aset]
    # "crash": nothing is closed or flushed; a new process opens the same project folder
    again = AnnotationStore(tmp_path / "proj").load(slide_id(array_slide.path))
    assert [(a.id, a.cls, a.geometry.wkt) for a in again] == expected
    assert again.classes.color("Tumour") == (1, 2, 3)
    reopened, problem = SlideAnnotations.open(array_slide, tmp_path / "proj")
    assert problem is None and reopened.aset.ids() == [e[0] for e in expected]
    reopened.close()


def _recoloured(session, name, rgb):
    from her2viewer.annotations.model import ClassRegistry

    items = [(c.name, rgb if c.name == name else c.color) for c in session.aset.classes]
    return ClassRegistry(items)


def test_unreadable_autosave_is_kept_aside(array_slide, tmp_path):
    from her2viewer.ui.annotations.session import SlideAnnotations

    store = AnnotationStore(tmp_path / "proj")
    path = store.path_for(slide_id(array_slide.path))
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    session, problem = SlideAnnotations.open(array_slide, tmp_path / "proj")
    assert problem and path.name in problem and "kept as" in problem
    kept = [p for p in path.parent.iterdir() if ".unreadable-" in p.name]
    assert len(kept) == 1 and kept[0].read_text() == "{not json"
    assert len(session.aset) == 0
    session.close()
