"""Project folders: create / open, images and their status, relinking a moved slide, settings, TMA maps, and the
one-time import of what older versions wrote beside the slides, which are never written to."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from her2viewer.project import DB_NAME, PROJECT_FILE, Project, ProjectDB, ProjectError
from her2viewer.project.tma_map import read_tma_map


def _slides(folder: Path, n: int = 3) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        p = folder / f"case{i}.png"
        Image.fromarray(np.full((64, 64, 3), 200 + i, np.uint8)).save(p)
        out.append(p)
    return out


def _tree(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


def test_create_open_and_refusals(tmp_path):
    proj = Project.create(tmp_path / "p", "Cohort A")
    assert (tmp_path / "p" / PROJECT_FILE).is_file() and (tmp_path / "p" / DB_NAME).is_file()
    proj.close()
    with Project.open(tmp_path / "p") as again:
        assert again.name == "Cohort A"
    with pytest.raises(ProjectError, match="not a HER2 Viewer project"):
        Project.open(tmp_path)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / PROJECT_FILE).write_text("{nope")
    with pytest.raises(ProjectError, match=r"bad.*not valid JSON"):
        Project.open(tmp_path / "bad")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ProjectError, match="is a file"):
        Project.create(tmp_path / "file")


def test_default_project_is_per_user(user_data_dir):
    with Project.default() as proj:
        assert proj.folder == (user_data_dir / "default-project").resolve()


def test_images_status_and_nothing_beside_the_slides(tmp_path):
    slides = _slides(tmp_path / "slides")
    before = _tree(tmp_path / "slides")
    with Project.create(tmp_path / "p") as proj:
        added, problems = proj.add_images([tmp_path / "slides", tmp_path / "missing.svs"])
        assert len(added) == 3 and len(problems) == 1 and "missing.svs" in problems[0]
        assert all(r.size and r.hash for r in added)
        assert [e.status for e in proj.images()] == ["not scored"] * 3
        proj.db.save_review(slides[0], "2+", reviewer="dr")
        proj.db.record_score(slides[1], "rules", error="broken")
        statuses = {Path(e.slide.path).name: e.status for e in proj.images()}
        assert statuses == {"case0.png": "reviewed", "case1.png": "error", "case2.png": "not scored"}
    assert _tree(tmp_path / "slides") == before


def test_a_moved_slide_is_relinked_by_its_content(tmp_path):
    slides = _slides(tmp_path / "old")
    with Project.create(tmp_path / "p") as proj:
        proj.add_images([tmp_path / "old"])
        proj.db.save_review(slides[2], "3+", reviewer="dr")
        shutil.move(tmp_path / "old", tmp_path / "moved")
        assert sum(e.status == "missing" for e in proj.images()) == 3
        assert proj.relink_from(tmp_path / "moved") == 3
        moved = tmp_path / "moved" / "case2.png"
        assert proj.db.current_review(moved).score == "3+"
        assert {e.status for e in proj.images()} == {"reviewed", "not scored"}


def test_settings_and_case_fields(tmp_path):
    (slide,) = _slides(tmp_path / "s", 1)
    with Project.create(tmp_path / "p") as proj:
        rec = proj.add_image(slide)
        proj.db.set_setting(slide, "mpp", 0.25)
        proj.db.set_setting(slide, "criteria", "gastric")
        assert proj.db.settings(slide) == {"mpp": 0.25, "criteria": "gastric"}
        proj.db.set_setting(slide, "mpp", None)
        assert proj.db.settings(slide) == {"criteria": "gastric"}
        proj.db.set_case(rec.id, case_id="C-1", patient_id="P-9")
        assert (proj.db.slide(rec.id).case_id, proj.db.slide(rec.id).patient_id) == ("C-1", "P-9")


def test_sidecars_of_older_versions_are_imported_once_and_never_touched(tmp_path):
    slides = _slides(tmp_path / "slides", 2)
    with ProjectDB.open(tmp_path / "slides") as old:   # what an older version wrote beside the slides
        old.save_review(slides[0], "1+", reviewer="old", comment="from v1")
    (tmp_path / "slides" / "annotations").mkdir()
    (tmp_path / "slides" / "annotations" / "abc.geojson").write_text('{"type": "FeatureCollection", "features": []}')
    (tmp_path / "slides" / "results").mkdir()
    (tmp_path / "slides" / "results" / "k.json").write_text("{}")
    os.chmod(tmp_path / "slides", 0o555)   # read-only, as on a shared slide store
    try:
        before = _tree(tmp_path / "slides")
        with Project.create(tmp_path / "p") as proj:
            proj.add_image(slides[0])
            proj.add_image(slides[1])   # same folder: not imported twice
            r = proj.db.current_review(slides[0])
            assert (r.score, r.comment) == ("1+", "from v1")
            assert len(proj.db.history(slides[0])) == 1
            assert (proj.annotations_dir / "abc.geojson").is_file()
            assert (proj.folder / "results" / "k.json").is_file()
            assert proj.db.was_imported((tmp_path / "slides").resolve())
        assert _tree(tmp_path / "slides") == before
    finally:
        os.chmod(tmp_path / "slides", 0o755)


def test_tma_map(tmp_path):
    f = tmp_path / "map.csv"
    f.write_text("Core_ID,Patient_ID,case\nA1,P1,C1\nA2,P2,\n")
    assert read_tma_map(f) == {"A1": ("P1", "C1"), "A2": ("P2", "")}
    f.write_text("core_id,patient_id\nA1,P1\nA1,P2\n")
    with pytest.raises(ProjectError, match=r"map.csv, line 3: core 'A1' is listed twice"):
        read_tma_map(f)
    f.write_text("x,y\n1,2\n")
    with pytest.raises(ProjectError, match="needs a core_id column"):
        read_tma_map(f)
    with pytest.raises(ProjectError, match="no such TMA map"):
        read_tma_map(tmp_path / "nope.csv")
    (slide,) = _slides(tmp_path / "s", 1)
    with Project.create(tmp_path / "p") as proj:
        sid = proj.db.set_tma_map(slide, {"A1": ("P1", "C1")})
        assert proj.db.tma_map(sid) == {"A1": ("P1", "C1")}
    assert json.loads((tmp_path / "p" / PROJECT_FILE).read_text())["format"] == "her2viewer-project/1"
