"""The review panel: accept or override the suggestion, ISH for 2+ sets the 3-way call, saved with user and
time, survives a restart (a new ProjectDB on the same folder), history kept and shown."""

from __future__ import annotations

import pytest

from her2viewer.project import ProjectDB
from her2viewer.scoring.result import CoreResult, ModelInfo, ScoreResult
from her2viewer.ui.review.panel import ReviewPanel


def _suggestion(score: str = "2+") -> ScoreResult:
    core = CoreResult(id="B2", bbox=(0, 0, 100, 100), score="1+", score3="Low",
                      probabilities={"0": 0.1, "1+": 0.7, "2+": 0.1, "3+": 0.1})
    return ScoreResult("slide.tif", "rules", score, {"0": 0.1, "1+": 0.2, "2+": 0.6, "3+": 0.1},
                       ModelInfo("asco-cap-rules", None, "1.0"), cores=[core])


@pytest.fixture
def slide(tmp_path):
    p = tmp_path / "slides" / "slide.tif"
    p.parent.mkdir()
    p.write_bytes(b"not really a slide; reviews only need the path")
    return p


@pytest.fixture
def panel(qtbot):
    w = ReviewPanel()
    qtbot.addWidget(w)
    w.show()
    return w


def test_override_with_ish_is_saved_survives_a_restart_and_keeps_history(qtbot, panel, slide):
    db = ProjectDB.open(slide.parent)
    panel.set_target(db, str(slide), suggestion=_suggestion("2+"))
    assert panel.chosen_score() == "2+" and "Suggested: 2+" in panel.suggested_label.text()
    assert panel.reviewed_label.text() == "Not reviewed"
    assert panel.ish_combo.isEnabled()
    panel.ish_combo.setCurrentText("positive")
    assert panel.score3_label.text() == "High"
    panel.reviewer_edit.setText("dr. a")
    panel.comment_edit.setPlainText("amplified on ISH")
    with qtbot.waitSignal(panel.sigReviewSaved) as sig:
        panel.save_button.click()
    review = sig.args[0]
    assert (review.score, review.score3, review.ish, review.reviewer) == ("2+", "High", "positive", "dr. a")
    assert "Reviewed: 2+ (High)" in panel.reviewed_label.text() and "dr. a" in panel.reviewed_label.text()
    # override to 3+: ISH no longer applies
    panel.score_buttons["3+"].click()
    assert not panel.ish_combo.isEnabled() and panel.score3_label.text() == "High"
    panel.save()
    assert panel.history_list.count() == 2
    db.close()

    # a restart: a new database object on the same folder, a new panel
    db2 = ProjectDB.open(slide.parent)
    again = ReviewPanel()
    qtbot.addWidget(again)
    again.set_target(db2, str(slide), suggestion=_suggestion("2+"))
    current = db2.current_review(slide)
    assert current is not None and current.score == "3+" and current.reviewer == "dr. a"
    assert current.suggested_score == "2+" and current.revision == 2
    assert again.chosen_score() == "3+" and "Reviewed: 3+" in again.reviewed_label.text()
    assert again.comment_edit.toPlainText() == "amplified on ISH"
    history = db2.history(slide)
    assert [e.action for e in history] == ["create", "change"]
    assert history[1].old["score"] == "2+" and history[1].new["score"] == "3+"
    assert again.history_list.count() == 2 and "was 2+" in again.history_list.item(1).text()
    db2.close()


def test_accept_suggestion_for_a_core(qtbot, panel, slide):
    db = ProjectDB.open(slide.parent)
    panel.set_target(db, str(slide), core_id="B2", suggestion=_suggestion())
    assert panel.suggested_score() == "1+" and "core <b>B2</b>" in panel.target_label.text()
    review = panel.accept_suggestion()
    assert review is not None and review.core_id == "B2" and review.score == "1+"
    assert review.agrees_with_suggestion
    assert db.current_review(slide) is None            # the slide itself is not reviewed
    db.close()


def test_saving_without_a_score_or_database_says_why(qtbot, panel, slide):
    panel.set_target(None, None)
    assert panel.save() is None and "Open a slide" in panel.message_label.text()
    db = ProjectDB.open(slide.parent)
    panel.set_target(db, str(slide), suggestion=None)
    assert panel.chosen_score() is None and not panel.accept_button.isEnabled()
    assert panel.save() is None and "Choose a score" in panel.message_label.text()
    db.close()


def test_a_review_saved_in_the_window_updates_the_core_table(qtbot, tmp_path, slide):
    from her2viewer.ui.scoring.score_panel import ScorePanel

    db = ProjectDB.open(slide.parent)
    sugg = _suggestion()
    score_panel, review = ScorePanel(), ReviewPanel()
    qtbot.addWidget(score_panel)
    qtbot.addWidget(review)
    score_panel.set_result(sugg)
    review.sigReviewSaved.connect(lambda r: score_panel.set_reviewed({r.core_id: r.score}))
    review.set_target(db, str(slide), core_id="B2", suggestion=sugg)
    review.score_buttons["0"].click()
    review.save()
    assert score_panel.table.item(0, 3).text() == "0"
    db.close()


def test_a_database_error_is_retried_then_shown_by_the_window(qtbot, panel, slide, monkeypatch):
    from her2viewer.project import ProjectError

    db = ProjectDB.open(slide.parent / "proj")
    panel.set_target(db, str(slide), suggestion=_suggestion())
    panel.score_buttons["1+"].click()
    real = db.save_review
    calls = []

    def flaky(*a, **k):
        calls.append(1)
        if len(calls) < 2:
            raise ProjectError(f"{db.path}: database error: disk I/O error")
        return real(*a, **k)

    monkeypatch.setattr(db, "save_review", flaky)
    assert panel.save() is not None and len(calls) == 2               # a transient error: saved on retry
    shown = []
    panel.sigDatabaseError.connect(shown.append)
    monkeypatch.setattr(db, "save_review", lambda *a, **k: (_ for _ in ()).throw(
        ProjectError(f"{db.path}: database error: disk I/O error")))
    assert panel.save() is None
    assert shown and "disk I/O error" in shown[0] and "slide.tif" in shown[0]
    assert "tried 3 times" in panel.message_label.text()
    db.close()


def test_a_report_never_says_not_reviewed_when_the_reviews_cannot_be_read(tmp_path, slide):
    from her2viewer.cli import main
    from her2viewer.project import DB_NAME

    proj = tmp_path / "broken"
    proj.mkdir()
    (proj / DB_NAME).write_bytes(b"this is not sqlite" * 10)
    result = _suggestion()
    (tmp_path / "r.json").write_text(result.to_json())
    code = main(["report", str(slide), "--result", str(tmp_path / "r.json"), "--project", str(proj),
                 "--out", str(tmp_path / "r.pdf")])
    assert code == 2 and not (tmp_path / "r.pdf").exists()


def test_a_three_way_suggestion_is_not_preselected_as_a_four_way_score(qtbot, panel, slide):
    from her2viewer.scoring.result import ModelInfo, ScoreResult

    db = ProjectDB.open(slide.parent / "proj3")
    r = ScoreResult(str(slide), "lowres", None, {"0": 0.1, "Low": 0.2, "High": 0.7}, ModelInfo("lowres", None, "1"),
                    score3="High", confidence=0.7)
    panel.set_target(db, str(slide), suggestion=r)
    assert "3-way only" in panel.suggested_label.text() and "High" in panel.suggested_label.text()
    assert panel.chosen_score() is None and not panel.accept_button.isEnabled()
    db.close()


def test_a_2_plus_without_ish_is_shown_as_equivocal(qtbot):
    from her2viewer.ui.scoring.score_panel import ScorePanel

    p = ScorePanel()
    qtbot.addWidget(p)
    p.set_result(_suggestion("2+"))
    assert "equivocal: ISH required" in p.call3_label.text()
    assert "probability the result gives its own call" in p.confidence_label.toolTip()
