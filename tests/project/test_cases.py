"""A lab's labelled cases and what they allow: counts, missing classes, leave-one-out, clear refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from her2viewer.project import Project
from her2viewer.project.cases import Case, folder_cases, plan_cases, reviewed_cases, write_cases_csv
from her2viewer.scoring.asco import SCORES3, SCORES4


def test_one_case_is_refused_with_a_sentence():
    plan = plan_cases(["2+"], ["p1"], SCORES4)
    assert not plan.ok and plan.folds == 0
    assert "at least 2 classes" in plan.problem and "there is 1 case of 1 class" in plan.problem
    assert plan.missing == ["0", "1+", "3+"]


def test_a_missing_class_is_reported_not_raised():
    plan = plan_cases(["0", "1+", "3+", "3+"], ["a", "b", "c", "d"], SCORES4)
    assert plan.ok and plan.missing == ["2+"]
    assert plan.counts == {"0": 1, "1+": 1, "2+": 0, "3+": 2}
    assert "No case of 2+" in plan.summary()


def test_fewer_cases_than_folds_gives_leave_one_patient_out():
    plan = plan_cases(["0", "1+", "2+", "3+", "3+", "0"], ["a", "b", "c", "d", "e", "e"], SCORES4)
    assert plan.ok and plan.folds == 5 and plan.scheme.startswith("leave-one-patient-out (5 folds)")
    many = plan_cases(["0", "1+", "2+", "3+"] * 5, [f"p{i}" for i in range(20)], SCORES4)
    assert many.folds == 5 and many.scheme.startswith("5-fold")


def test_cases_of_one_patient_or_one_class_are_refused():
    assert "one patient" in plan_cases(["0", "3+"], ["a", "a"], SCORES4).problem
    assert "of 1 class" in plan_cases(["3+", "3+", "3+"], ["a", "b", "c"], SCORES4).problem


def test_three_way_labels_follow_asco_cap():
    cases = [Case("x", "2+", "a", True), Case("y", "2+", "b", False), Case("z", "1+", "c")]
    assert [c.label_for(SCORES3) for c in cases] == ["High", "Low", "Low"]
    assert [c.label_for(SCORES4) for c in cases] == ["2+", "2+", "1+"]


def test_reviewed_cases_of_a_project_and_a_folder(tmp_path: Path):
    imgs = []
    for name in ("a.png", "b.png", "c.png"):
        p = tmp_path / "slides" / name
        p.parent.mkdir(exist_ok=True)
        p.write_bytes(b"\x89PNG\r\n\x1a\n" + name.encode())
        imgs.append(p)
    proj = Project.create(tmp_path / "proj")
    for p in imgs:
        proj.add_image(p)
    proj.db.save_review(imgs[0], "3+", reviewer="t")
    proj.db.save_review(imgs[1], "2+", ish="positive", reviewer="t")
    proj.db.save_review(imgs[2], "0", reviewer="t")
    imgs[2].unlink()
    cases, problems = reviewed_cases(proj)
    assert [(Path(c.path).name, c.label, c.ish) for c in cases] == [("a.png", "3+", None), ("b.png", "2+", True)]
    assert len(problems) == 1 and "c.png" in problems[0] and "missing" in problems[0]
    csv_path = write_cases_csv(cases, tmp_path / "out" / "cases.csv")
    from training.items import read_items

    items = read_items(csv_path)
    assert [(it.label, it.ish) for it in items] == [("3+", None), ("2+", True)]
    (tmp_path / "slides" / "labels.csv").write_text("file,label\na.png,3\nb.png,2+\nc.png,0\nd.png,7\n")
    cases, problems = folder_cases(tmp_path / "slides")
    assert [(Path(c.path).name, c.label) for c in cases] == [("a.png", "3+"), ("b.png", "2+")]
    assert len(problems) == 2 and any("line 5" in p for p in problems)
    with pytest.raises(OSError):
        folder_cases(tmp_path / "nowhere")
