"""The Project dock: a project's case list with thumbnails and statuses, next / previous case, filter and sort,
Score All in the background with Cancel, Open Recent for slides and projects; and nothing is ever written in a
folder that holds an input slide while it is opened, scored, annotated and reviewed."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QSettings
from shapely.geometry import box

from her2viewer.synth.dataset import write_dataset


def _tree(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


@pytest.fixture
def cores(tmp_path):
    write_dataset(tmp_path / "slides", n_cores=3, seed=11, diameter_px=420)
    return sorted((tmp_path / "slides" / "cores").glob("*.png"))


@pytest.fixture
def window(qtbot, tmp_path):
    from her2viewer.ui.main_window import MainWindow

    win = MainWindow(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(win)
    win.resize(1300, 800)
    win.show()
    yield win
    win.close()


def test_case_list_statuses_navigation_and_nothing_beside_the_slides(qtbot, window, cores, tmp_path):
    slide_folders = {c.parent for c in cores} | {c.parent.parent for c in cores}
    before = {f: _tree(f) for f in slide_folders}
    ctl = window.project
    assert not ctl.dock.isVisible() and not ctl.project_actions[0].isEnabled()
    assert ctl.open_project(tmp_path / "proj", create=True) is not None
    assert ctl.dock.isVisible() and ctl.project_actions[0].isEnabled()
    assert ctl.add_paths([str(cores[0].parent)]) == 3
    model = ctl.panel.model
    assert [e.status for e in model.entries] == ["not scored"] * 3
    qtbot.waitUntil(lambda: len(model.thumbs) == 3, timeout=20_000)       # thumbnails, kept in the project
    assert len(list((tmp_path / "proj" / "thumbnails").glob("*.png"))) == 3

    # next case opens the first of the list as shown, then the second; previous goes back
    assert ctl.step_case(+1) == str(cores[0])
    qtbot.waitUntil(lambda: window.current_tab() is not None, timeout=20_000)
    assert ctl.step_case(+1) == str(cores[1])
    qtbot.waitUntil(lambda: window.tabs.count() == 2, timeout=20_000)
    assert ctl.step_case(-1) == str(cores[0]) and window.tabs.count() == 2   # its tab, not a second one
    assert Path(window.current_tab().path).name == cores[0].name

    # score in the viewer: the row says "scored" with the suggestion
    job = window.scoring.run(method="rules")
    assert job is not None
    kind, _ = window.scoring.wait_result(job, 300)
    assert kind == "finished"
    qtbot.waitUntil(lambda: model.entries[model.row_of(str(cores[0]))].status in ("scored", "QC failed"),
                    timeout=10_000)
    # annotate and review it
    session = window.annotations.current()
    session.add(box(20, 20, 120, 120))
    assert session.save_path.is_relative_to(tmp_path / "proj")
    tab = window.current_tab()
    st = window.scoring.state(tab)
    st.db.save_review(tab.path, "2+", reviewer="tester")
    window.scoring.review_panel.sigReviewSaved.emit(None)
    qtbot.waitUntil(lambda: model.entries[model.row_of(str(cores[0]))].status == "reviewed", timeout=10_000)
    assert model.entries[model.row_of(str(cores[0]))].reviewed == "2+"

    # filter by status, then by name
    ctl.panel.status_combo.setCurrentIndex(ctl.panel.status_combo.findData("reviewed"))
    assert ctl.panel.visible_paths() == [str(cores[0])]
    ctl.panel.status_combo.setCurrentIndex(0)
    ctl.panel.filter_edit.setText(cores[2].stem)
    assert ctl.panel.visible_paths() == [str(cores[2])]
    ctl.panel.filter_edit.clear()

    # Score All scores the rest in the background and keeps the review
    score_all = ctl.score_all()
    assert score_all is not None and ctl.cancel_action.isEnabled()
    qtbot.waitUntil(lambda: not score_all.running, timeout=300_000)
    qtbot.waitUntil(lambda: ctl.panel.cancel_button.isEnabled() is False, timeout=10_000)
    statuses = {Path(e.slide.path).name: e.status for e in model.entries}
    assert statuses[cores[0].name] == "reviewed"
    assert all(statuses[c.name] in ("scored", "QC failed") for c in cores[1:])
    assert "3 already scored" in ctl.panel.status_label.text() or "scored" in ctl.panel.status_label.text()

    window.close()
    assert {f: _tree(f) for f in slide_folders} == before      # nothing new or changed beside the slides


def test_score_all_cancel_keeps_what_was_scored(qtbot, window, tmp_path):
    write_dataset(tmp_path / "many", n_cores=8, seed=3, diameter_px=420)
    ctl = window.project
    ctl.open_project(tmp_path / "proj", create=True)
    ctl.add_paths([str(tmp_path / "many" / "cores")])
    job = ctl.score_all()
    qtbot.waitUntil(lambda: ctl.panel.progress.value() > 0, timeout=120_000)
    ctl.cancel_score_all()
    qtbot.waitUntil(lambda: not job.running, timeout=120_000)
    qtbot.waitUntil(lambda: "cancelled" in ctl.panel.status_label.text(), timeout=10_000)
    scored = [e for e in ctl.project.images() if e.status != "not scored"]
    assert 0 < len(scored) < 8
    # the actions follow once the job's thread has ended (a queued call after its last signal)
    qtbot.waitUntil(lambda: ctl.project_actions[2].isEnabled() and not ctl.cancel_action.isEnabled(),
                    timeout=10_000)


def test_open_recent_slides_and_projects(qtbot, window, cores, tmp_path):
    assert not window.recent_menu.menuAction().isEnabled()
    window.open_paths([str(c) for c in cores])
    qtbot.waitUntil(lambda: window.tabs.count() == 3, timeout=20_000)
    assert window.recent_menu.menuAction().isEnabled()
    window._fill_recent()
    # opened in parallel: newest first in the order they finished opening
    assert sorted(a.text() for a in window.recent_menu.actions()[:3]) == [str(c) for c in cores]
    ctl = window.project
    ctl.open_project(tmp_path / "p1", create=True)
    ctl.open_project(tmp_path / "p2", create=True)
    assert ctl.recent_projects()[:2] == [str(tmp_path / "p2"), str(tmp_path / "p1")]
    assert ctl.recent_menu.menuAction().isEnabled()
    ctl._fill_recent()
    ctl.recent_menu.actions()[1].trigger()
    assert ctl.project is not None and ctl.project.folder == tmp_path / "p1"


def test_opening_a_folder_that_is_not_a_project_says_so(qtbot, window, tmp_path):
    (tmp_path / "plain").mkdir()
    errors = []
    window.sigError.connect(errors.append)
    assert window.project.open_project(tmp_path / "plain") is None
    assert errors and "plain" in errors[0] and "not a HER2 Viewer project" in errors[0]
    assert window.project.project is None


def test_tma_map_puts_patients_in_the_core_table(qtbot, window, cores, tmp_path):
    from tests.report._results import tma_result

    ctl = window.project
    ctl.open_project(tmp_path / "proj", create=True)
    window.open_paths([str(cores[0])])
    qtbot.waitUntil(lambda: window.current_tab() is not None, timeout=20_000)
    tab = window.current_tab()
    result = tma_result()
    window.scoring.show_result(tab, result)
    table = window.scoring.score_panel.table
    assert table.isColumnHidden(4)
    tma_map = tmp_path / "map.csv"
    tma_map.write_text("core_id,patient_id\n" + "".join(f"{c.id},PAT-{i % 2}\n" for i, c in enumerate(result.cores)))
    assert ctl.import_tma_map(tab, str(tma_map))
    assert not table.isColumnHidden(4)
    assert [table.item(r, 4).text() for r in range(2)] == ["PAT-0", "PAT-1"]
    errors = []
    window.sigError.connect(errors.append)
    bad = tmp_path / "bad.csv"
    bad.write_text("x,y\n1,2\n")
    assert not ctl.import_tma_map(tab, str(bad))
    assert errors and "bad.csv" in errors[0]


def test_images_sharing_a_file_name_are_told_apart_by_their_folders():
    from pathlib import Path

    from her2viewer.ui.project.table import display_names

    names = display_names([Path("/s/lab1/cores/c1.png"), Path("/s/lab2/cores/c1.png"), Path("/s/lab1/cores/c2.png")])
    assert names[2] == "c2.png" and len(set(names)) == 3
    assert names[0] == "c1.png (lab1/cores)" and names[1] == "c1.png (lab2/cores)"
