"""Annotations in the main window: tools and undo actions, the list panel, the class editor, GeoJSON import
and export, labelled patches and the PDF report from the GUI functions."""

from __future__ import annotations

import csv
import json

import pytest
from PySide6.QtCore import QSettings
from shapely.geometry import Point, box

from her2viewer.annotations.model import Annotation
from her2viewer.slide.writer import write_pyramidal_tiff

from .conftest import textured_image


@pytest.fixture
def window(qtbot, tmp_path):
    from her2viewer.ui.main_window import MainWindow

    win = MainWindow(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    win.annotations.project_dir = tmp_path / "proj"
    qtbot.addWidget(win)
    win.resize(1100, 700)
    win.show()
    yield win
    win.close()


@pytest.fixture
def tab(qtbot, window, tmp_path):
    path = write_pyramidal_tiff(tmp_path / "slide.tif", textured_image(2400, 1600), mpp=0.5, tile_size=256)
    window.open_paths([str(path)])
    qtbot.waitUntil(lambda: window.tabs.count() == 1, timeout=10_000)
    return window.current_tab()


def add_two(session):
    a = Annotation.create(box(100, 100, 500, 300), "HER2 2+", name="invasive")
    b = Annotation.create(Point(1500, 900), "Tumour")
    session.aset.add(a)
    session.aset.add(b)
    return a, b


def test_session_per_tab_tools_and_undo_actions(qtbot, window, tab):
    m = window.annotations
    s = m.current()
    assert s is not None and s.layer in tab.layers.layers
    assert s.save_path.parent == window.annotations.project_dir / "annotations"
    m.tool_actions["rect"].trigger()
    assert m.tools_for(tab).tool == "rect"
    s.add(box(10, 10, 60, 60))
    assert m.undo_action.isEnabled()
    m.undo_action.trigger()
    assert len(s.aset) == 0
    m.redo_action.trigger()
    assert len(s.aset) == 1
    assert {k.toString() for k in m.redo_action.shortcuts()} == {"Ctrl+Shift+Z", "Ctrl+Y"}
    assert m.undo_action.shortcut().toString() == "Ctrl+Z"
    assert m.tool_actions["polygon"].shortcut().toString() == "P"


def test_list_panel_shows_area_navigates_and_changes_class(qtbot, window, tab):
    m = window.annotations
    s = m.current()
    a, b = add_two(s)
    panel = m.panel
    assert panel.table.rowCount() == 2
    assert panel.table.item(0, 0).text() == "invasive"
    assert panel.table.item(0, 1).text() == "HER2 2+"
    assert panel.table.item(0, 2).text() == "20,000 \u00b5m\u00b2"      # 400 x 200 px at 0.5 um/px
    assert panel.table.item(1, 2).text() == "1 point"
    tab.view.set_downsample(1.0)
    panel._on_cell_clicked(1, 0)
    assert s.selected == [b.id]
    assert (tab.view.viewport.l0_cx, tab.view.viewport.l0_cy) == pytest.approx((1500, 900))
    panel.table.selectRow(0)
    assert s.selected == [a.id]
    panel.set_class.setCurrentIndex(panel.set_class.findData("Stroma"))
    panel.set_class.activated.emit(panel.set_class.currentIndex())
    assert s.aset[a.id].cls == "Stroma" and panel.table.item(0, 1).text() == "Stroma"
    s.undo_stack.undo()
    assert s.aset[a.id].cls == "HER2 2+"
    panel.table.item(0, 0).setText("renamed")
    assert s.aset[a.id].name == "renamed"
    panel.new_class.setCurrentIndex(panel.new_class.findData("Ignore"))
    assert s.current_class == "Ignore"
    s.select([a.id])
    panel.delete_button.click()
    assert s.aset.ids() == [b.id]


def test_class_editor_renames_recolours_and_adds(qtbot, window, tab):
    from her2viewer.ui.annotations.classes import ClassesDialog

    s = window.annotations.current()
    a, _ = add_two(s)
    dlg = ClassesDialog(s, window)
    qtbot.addWidget(dlg)
    items = {dlg.list.item(i).text(): dlg.list.item(i) for i in range(dlg.list.count())}
    assert {"HER2 0", "HER2 1+", "HER2 2+", "HER2 3+", "Tumour", "Stroma", "Ignore"} <= set(items)
    items["HER2 2+"].setText("Equivocal")
    dlg.set_color(items["Tumour"], (9, 8, 7))
    dlg.add_class("Necrosis", (50, 50, 50))
    dlg.accept()
    assert s.aset[a.id].cls == "Equivocal"
    assert s.aset.classes.color("Tumour") == (9, 8, 7) and "Necrosis" in s.aset.classes
    saved = json.loads(s.save_path.read_text())
    assert {"name": "Necrosis", "color": [50, 50, 50]} in saved["her2viewer"]["classes"]
    s.undo_stack.undo()                                  # one step undoes the whole edit
    assert s.aset[a.id].cls == "HER2 2+" and "Necrosis" not in s.aset.classes
    assert s.aset.classes.color("Tumour") == (200, 0, 0)


def test_geojson_export_import_round_trip_and_bad_file(qtbot, window, tab, tmp_path):
    m = window.annotations
    s = m.current()
    a, b = add_two(s)
    s.aset.classes.set("Necrosis", (1, 2, 3))
    s.aset.add(Annotation.create(box(700, 700, 900, 800), "Necrosis"))
    out = m.export_file(tmp_path / "out.geojson")
    data = json.loads(out.read_text())
    assert data["type"] == "FeatureCollection" and len(data["features"]) == 3
    assert data["features"][0]["properties"]["classification"] == {"name": "HER2 2+", "color": [255, 165, 0]}
    assert data["features"][0]["properties"]["objectType"] == "annotation"
    before = [(x.cls, x.geometry.wkt) for x in s.aset]
    s.delete(s.aset.ids())
    s.aset.classes.remove("Necrosis")
    assert m.import_file(out) == 3
    assert [(x.cls, x.geometry.wkt) for x in s.aset] == before
    assert s.aset.classes.color("Necrosis") == (1, 2, 3)
    s.undo_stack.undo()                                  # an import is one undoable step
    assert len(s.aset) == 0
    bad = tmp_path / "bad.geojson"
    bad.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [10, 0], [10, 10], [0, 0]]]},
         "properties": {"objectType": "annotation"}},
        {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": "oops"}, "properties": {}}]}))
    with qtbot.waitSignal(window.sigError) as sig:
        assert m.import_file(bad) == 0
    assert "bad.geojson" in sig.args[0] and "Nothing was imported" in sig.args[0]
    assert len(s.aset) == 0


def test_export_patches_in_the_background(qtbot, window, tab, tmp_path):
    m = window.annotations
    s = m.current()
    s.aset.add(Annotation.create(box(0, 0, 448, 448), "HER2 3+"))
    s.aset.add(Annotation.create(box(1200, 800, 1648, 1248), "Stroma"))
    job = m.export_patches(tmp_path / "patches", dialog=False)
    qtbot.waitUntil(lambda: job.finished, timeout=20_000)
    assert job.state == "done", job.message
    rows = list(csv.DictReader(open(tmp_path / "patches" / "labels.csv")))
    labels = {r["label"] for r in rows}
    assert labels == {"3+", "Stroma"}
    assert all((tmp_path / "patches" / r["path"]).is_file() for r in rows)


def test_export_report_with_the_shown_result(qtbot, window, tab, tmp_path):
    from pypdf import PdfReader

    from her2viewer.scoring.result import ModelInfo, ScoreResult

    m = window.annotations
    sha = "ab" * 32
    result = ScoreResult(slide=tab.path, method="pss", score="2+",
                         probabilities={"0": 0.05, "1+": 0.15, "2+": 0.7, "3+": 0.1},
                         model=ModelInfo("pss-test", sha, "1.0"))
    m.result_for = lambda t: result if t is tab else None
    job = m.export_report(tmp_path / "r.pdf", dialog=False)
    qtbot.waitUntil(lambda: job.finished, timeout=30_000)
    assert job.state == "done", job.message
    text = "".join(p.extract_text() for p in PdfReader(tmp_path / "r.pdf").pages)
    assert "2+" in text and sha in text.replace("\n", "") and "slide.tif" in text


def test_export_report_of_a_tma_prints_the_core_reviews_saved_in_the_viewer(qtbot, window, tab, tmp_path):
    from pypdf import PdfReader

    from tests.report._results import tma_result

    result = tma_result()
    window.annotations.result_for = lambda t: result if t is tab else None
    db = window.scoring.state(tab).db
    db.save_review(tab.path, "1+", core_id=result.cores[0].id, reviewer="Dr. Haas")
    job = window.annotations.export_report(tmp_path / "r.pdf", dialog=False)
    qtbot.waitUntil(lambda: job.finished, timeout=30_000)
    assert job.state == "done", job.message
    text = " ".join(" ".join((p.extract_text() or "").split()) for p in PdfReader(tmp_path / "r.pdf").pages)
    assert "1 of 40 cores reviewed" in text and "Not reviewed" not in text and "Dr. Haas" in text


def test_case_details_edited_in_the_viewer_go_into_the_report(qtbot, window, tab, tmp_path):
    from pypdf import PdfReader

    from her2viewer.scoring.result import ModelInfo, ScoreResult

    dlg = window.scoring.case_details_dialog()
    dlg.edits["case_id"].setText("C-77")
    dlg.edits["antibody_clone"].setText("4B5")
    assert dlg.save()
    again = window.scoring.case_details_dialog()                    # stored with the slide
    assert again.edits["case_id"].text() == "C-77"
    again.reject()
    result = ScoreResult(slide=tab.path, method="rules", score="1+", probabilities={"1+": 1.0},
                         model=ModelInfo("asco-cap-rules", None, "1"))
    window.annotations.result_for = lambda t: result if t is tab else None
    job = window.annotations.export_report(tmp_path / "r.pdf", dialog=False)
    qtbot.waitUntil(lambda: job.finished, timeout=30_000)
    assert job.state == "done", job.message
    text = " ".join(" ".join((p.extract_text() or "").split()) for p in PdfReader(tmp_path / "r.pdf").pages)
    assert "C-77" in text and "Antibody clone 4B5" in text


def test_scoring_region_for_the_scoring_ui(qtbot, window, tab):
    m = window.annotations
    s = m.current()
    assert m.scoring_region(tab) is None                # nothing to restrict: score as usual
    inv = Annotation.create(box(200, 200, 1000, 800), "Tumour")
    s.aset.add(inv)
    s.aset.add(Annotation.create(box(600, 200, 1000, 800), "Ignore"))
    region = m.scoring_region(tab, within=inv.id)
    x, y, w, h = region.l0_bbox
    assert (x, y, w, h) == (200, 200, 400, 600)         # the Ignore half is cut off
    assert region.mask.fraction_in(250, 250, 100, 100) > 0.0 or region.mask.mask.any()


def test_selected_annotation_is_the_scoring_scope_and_the_report_uses_the_shown_result(qtbot, window, tab):
    s = window.annotations.current()
    inv = Annotation.create(box(200, 200, 1000, 800), "Tumour", name="invasive")
    s.aset.add(inv)
    s.aset.add(Annotation.create(box(600, 200, 1000, 800), "Ignore"))
    with pytest.raises(ValueError, match="No region is selected"):
        window.scoring.job_for(tab, "rules", None, "selection")
    s.select([inv.id])
    job = window.scoring.job_for(tab, "rules", None, "selection")
    assert job.scope.l0_bbox == (200, 200, 400, 600)    # the selected annotation minus the Ignore box
    assert job.scope.id == "invasive"
    assert window.annotations.current_result(tab) is None  # nothing scored yet: the report scores first


def real_double_click(widget, pos):
    """What a mouse sends for a double-click: press, release, double-click, release."""
    from PySide6.QtCore import QEvent, QPointF, Qt
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtWidgets import QApplication

    left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
    for typ, buttons in ((QEvent.Type.MouseButtonPress, left), (QEvent.Type.MouseButtonRelease, none),
                         (QEvent.Type.MouseButtonDblClick, left), (QEvent.Type.MouseButtonRelease, none)):
        ev = QMouseEvent(typ, QPointF(pos), QPointF(widget.mapToGlobal(pos)), left, buttons,
                         Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(widget, ev)


def name_editor(panel):
    from PySide6.QtWidgets import QAbstractItemView

    table = panel.table
    if table.state() != QAbstractItemView.State.EditingState:
        return None
    index = table.currentIndex()
    return table.indexWidget(index), index.row(), index.column()


def test_one_double_click_renames_and_enter_commits_an_undoable_rename(qtbot, window, tab):
    from PySide6.QtCore import Qt

    s = window.annotations.current()
    a, b = add_two(s)
    panel = window.annotations.panel
    cell = panel.table.visualItemRect(panel.table.item(1, 1)).center()    # the Class column of b's row
    real_double_click(panel.table.viewport(), cell)
    editor, row, col = name_editor(panel)
    assert (row, col) == (1, 0) and s.selected == [b.id]
    editor.selectAll()
    qtbot.keyClicks(editor, "cell cluster")
    qtbot.keyClick(editor, Qt.Key.Key_Return)            # the delegate commits on the next event loop pass
    qtbot.waitUntil(lambda: name_editor(panel) is None)
    assert s.aset[b.id].name == "cell cluster" and panel.table.item(1, 0).text() == "cell cluster"
    assert name_editor(panel) is None
    assert s.undo_stack.undoText() == "Rename"
    s.undo_stack.undo()
    assert s.aset[b.id].name == "" and panel.table.item(1, 0).text() == ""


def test_the_double_click_survives_the_list_being_rebuilt_after_its_first_click(qtbot, window, tab):
    from PySide6.QtCore import QEvent, QPointF, Qt
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtWidgets import QApplication

    s = window.annotations.current()
    add_two(s)
    panel = window.annotations.panel
    vp = panel.table.viewport()
    pos = panel.table.visualItemRect(panel.table.item(0, 0)).center()
    for typ, buttons in ((QEvent.Type.MouseButtonPress, Qt.MouseButton.LeftButton),
                         (QEvent.Type.MouseButtonRelease, Qt.MouseButton.NoButton)):
        QApplication.sendEvent(vp, QMouseEvent(typ, QPointF(pos), QPointF(vp.mapToGlobal(pos)),
                                               Qt.MouseButton.LeftButton, buttons, Qt.KeyboardModifier.NoModifier))
    s.sigChanged.emit()                                   # e.g. an edit elsewhere rebuilds the list
    QApplication.sendEvent(vp, QMouseEvent(QEvent.Type.MouseButtonDblClick, QPointF(pos), QPointF(vp.mapToGlobal(pos)),
                                           Qt.MouseButton.LeftButton, Qt.MouseButton.LeftButton,
                                           Qt.KeyboardModifier.NoModifier))
    assert name_editor(panel)[1:] == (0, 0)


def test_f2_and_edit_rename_open_the_editor_of_the_selected_annotation(qtbot, window, tab):
    from PySide6.QtCore import Qt

    s = window.annotations.current()
    a, b = add_two(s)
    panel = window.annotations.panel
    assert window.annotations.rename_selected() is False              # nothing selected
    s.select([b.id])
    edit_menu = next(act.menu() for act in window.menuBar().actions() if act.text() == "&Edit")
    rename = next(act for act in edit_menu.actions() if act.text() == "Re&name Annotation")
    assert rename.shortcut().toString() == "F2"
    rename.trigger()
    editor, row, col = name_editor(panel)
    assert (row, col) == (1, 0) and s.selected == [b.id]
    editor.setText("second")
    qtbot.keyClick(editor, Qt.Key.Key_Enter)
    qtbot.waitUntil(lambda: s.aset[b.id].name == "second")
