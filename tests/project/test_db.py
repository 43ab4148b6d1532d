"""Project database: reviews survive a restart, the audit trail keeps every change, bad files are refused."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from her2viewer.project.db import DB_NAME, ProjectDB, ProjectError, default_user
from her2viewer.project.schema import MIGRATIONS, SCHEMA_VERSION
from her2viewer.report.model import ReviewInfo
from her2viewer.scoring.result import CoreResult, ModelInfo, ScoreResult


def _probs(score: str) -> dict[str, float]:
    return {s: (1.0 if s == score else 0.0) for s in ("0", "1+", "2+", "3+")}


def _suggestion(slide: str) -> ScoreResult:
    cores = [CoreResult("A1", (0, 0, 10, 10), "3+", "High", _probs("3+")),
             CoreResult("A2", (10, 0, 10, 10), "1+", "Low", _probs("1+"))]
    return ScoreResult(slide, "pss", "3+", _probs("3+"), ModelInfo("pss-densenet", "ab" * 32), cores=cores)


@pytest.fixture
def slide(tmp_path):
    p = tmp_path / "slides" / "case1.svs"
    p.parent.mkdir()
    p.write_bytes(b"slide bytes")
    return p


def test_review_survives_restart_and_history_keeps_every_change(tmp_path, slide):
    proj = tmp_path / "proj"
    with ProjectDB.open(proj) as db:
        r1 = db.save_review(slide, "2+", comment="equivocal", reviewer="alice", suggestion=_suggestion(str(slide)))
        assert (r1.score, r1.score3, r1.ish, r1.revision) == ("2+", "Low", "not done", 1)
        assert (r1.suggested_score, r1.suggested_method, r1.model_sha256) == ("3+", "pss", "ab" * 32)
        assert r1.agrees_with_suggestion is False
        db.save_review(slide, "2+", ish="positive", comment="ISH amplified", reviewer="bob")
        db.save_review(slide, "3+", ish=True, reviewer="bob")
    # a new instance reads the same file: the "restart"
    with ProjectDB.open(proj) as db:
        cur = db.current_review(slide)
        assert cur is not None
        assert (cur.score, cur.score3, cur.ish, cur.reviewer, cur.revision) == ("3+", "High", "positive", "bob", 3)
        assert cur.slide_path == str(slide.resolve())
        hist = db.history(slide)
    assert [h.action for h in hist] == ["create", "change", "change"]
    assert [h.user for h in hist] == ["alice", "bob", "bob"]
    assert hist[0].old is None and hist[0].new["score"] == "2+" and hist[0].new["comment"] == "equivocal"
    assert hist[1].old == hist[0].new  # every change chains old -> new
    assert hist[1].new["ish"] == "positive" and hist[1].new["score3"] == "High"
    assert hist[2].old == hist[1].new and hist[2].new["score"] == "3+"
    assert "score" in hist[2].changed_fields() and "ish" not in hist[2].changed_fields()
    assert [h.seq for h in hist] == sorted(h.seq for h in hist)
    assert (proj / DB_NAME).is_file()


def test_ish_positive_2plus_is_high_and_negative_is_low(tmp_path, slide):
    with ProjectDB.open(tmp_path) as db:
        assert db.save_review(slide, "2+", ish="positive", reviewer="a").score3 == "High"
        assert db.save_review(slide, "2+", ish="negative", reviewer="a").score3 == "Low"
        assert db.save_review(slide, "2+", ish=None, reviewer="a").score3 == "Low"
        assert db.save_review(slide, "1+", reviewer="a").score3 == "Low"
        assert db.save_review(slide, "0", reviewer="a").score3 == "0"
        with pytest.raises(ValueError, match="not one of"):
            db.save_review(slide, "4+")
        with pytest.raises(ValueError, match="ISH"):
            db.save_review(slide, "2+", ish="maybe")
        assert db.current_review(slide).score == "0"  # the refused saves changed nothing


def test_report_info_conversion(tmp_path, slide):
    with ProjectDB.open(tmp_path) as db:
        r = db.save_review(slide, "2+", ish="positive", comment="amplified", reviewer="carol")
    info = r.to_report_info()
    assert isinstance(info, ReviewInfo)
    assert (info.score, info.ish_positive, info.reviewer, info.comment, info.score3) == (
        "2+", True, "carol", "amplified", "High")
    assert info.time == r.time and "T" in info.time


def test_cores_are_reviewed_separately(tmp_path, slide):
    sugg = _suggestion(str(slide))
    with ProjectDB.open(tmp_path) as db:
        db.save_review(slide, "1+", core_id="A2", suggestion=sugg, reviewer="a")
        db.save_review(slide, "2+", core_id="A1", suggestion=sugg, reviewer="a")
        db.save_review(slide, "3+", reviewer="a")
        a2 = db.current_review(slide, "A2")
        assert a2.suggested_score == "1+" and a2.agrees_with_suggestion  # the core's own suggestion
        assert [(r.core_id, r.score) for r in db.reviews_for_slide(slide)] == [(None, "3+"), ("A1", "2+"),
                                                                                ("A2", "1+")]
        assert len(db.history(slide, "A1")) == 1 and len(db.history(slide, all_cores=True)) == 3
        assert [s.name for s in db.slides()] == ["case1.svs"]


def test_unchanged_save_adds_nothing_and_clear_is_audited(tmp_path, slide):
    with ProjectDB.open(tmp_path) as db:
        first = db.save_review(slide, "1+", comment="x", reviewer="a")
        again = db.save_review(slide, "1+", comment="x", reviewer="a")
        assert again == first and len(db.history(slide)) == 1
        assert db.clear_review(slide, reviewer="b") is True
        assert db.current_review(slide) is None
        assert db.clear_review(slide) is False
        hist = db.history(slide)
    assert [h.action for h in hist] == ["create", "clear"]
    assert hist[1].old["score"] == "1+" and hist[1].new is None and hist[1].user == "b"


def test_reviewer_defaults_to_os_user(tmp_path, slide):
    with ProjectDB.open(tmp_path) as db:
        assert db.save_review(slide, "0").reviewer == default_user() != ""


def test_audit_trail_is_append_only(tmp_path, slide):
    with ProjectDB.open(tmp_path) as db:
        db.save_review(slide, "1+", reviewer="a")
    conn = sqlite3.connect(tmp_path / DB_NAME)
    try:
        for sql in ("UPDATE audit SET user = 'mallory'", "DELETE FROM audit"):
            with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                conn.execute(sql)
        assert conn.execute("SELECT user FROM audit").fetchall() == [("a",)]
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] == SCHEMA_VERSION
    finally:
        conn.close()


@pytest.mark.parametrize("content", [b"this is not a database at all" * 10,
                                     b"SQLite format 3\x00" + b"\xff" * 4000])
def test_corrupt_file_is_refused_and_left_untouched(tmp_path, content):
    path = tmp_path / DB_NAME
    path.write_bytes(content)
    with pytest.raises(ProjectError) as err:
        ProjectDB.open(tmp_path)
    assert str(path) in str(err.value)
    assert path.read_bytes() == content
    assert not (tmp_path / f"{DB_NAME}-wal").exists() or (tmp_path / f"{DB_NAME}-wal").stat().st_size == 0


def test_foreign_sqlite_database_is_refused(tmp_path):
    conn = sqlite3.connect(tmp_path / DB_NAME)
    conn.execute("CREATE TABLE patients (name TEXT)")
    conn.commit()
    conn.close()
    with pytest.raises(ProjectError, match="another program"):
        ProjectDB.open(tmp_path)


def test_newer_schema_is_refused(tmp_path):
    ProjectDB.open(tmp_path).close()
    conn = sqlite3.connect(tmp_path / DB_NAME)
    conn.execute("INSERT INTO schema_version VALUES (?, 'later')", (SCHEMA_VERSION + 1,))
    conn.commit()
    conn.close()
    with pytest.raises(ProjectError, match="newer HER2 Viewer"):
        ProjectDB.open(tmp_path)


def test_project_path_that_is_a_file_and_closed_db(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(ProjectError, match="not a project folder"):
        ProjectDB.open(f)
    db = ProjectDB.open(tmp_path / "p")
    db.close()
    with pytest.raises(ProjectError, match="closed"):
        db.current_review(f)


def test_locked_database_gives_project_error(tmp_path, slide, monkeypatch):
    monkeypatch.setattr("her2viewer.project.db.BUSY_TIMEOUT_S", 0.1)
    db = ProjectDB.open(tmp_path)
    blocker = sqlite3.connect(tmp_path / DB_NAME, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")  # another program holds the write lock
    try:
        with pytest.raises(ProjectError, match="locked") as err:
            db.save_review(slide, "1+", reviewer="a")
        assert str(tmp_path / DB_NAME) in str(err.value)
        with ProjectDB.open(tmp_path) as reader:  # reading still works while another program writes
            assert reader.current_review(slide) is None
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert db.save_review(slide, "1+", reviewer="a").revision == 1  # usable again once the lock is gone
    db.close()


def test_concurrent_writes_from_two_threads(tmp_path, slide):
    """A UI thread and a worker thread (one shared instance) plus a second instance all write at once."""
    shared = ProjectDB.open(tmp_path)
    other = ProjectDB.open(tmp_path)
    n = 40
    errors: list[BaseException] = []

    def writer(db: ProjectDB, name: str) -> None:
        try:
            for i in range(n):
                db.save_review(slide, ("0", "1+", "2+", "3+")[i % 4], comment=f"{name} {i}", reviewer=name)
                db.save_review(slide, "1+", core_id=f"{name}-{i % 5}", comment=str(i), reviewer=name)
                db.current_review(slide)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(db, name))
               for db, name in ((shared, "ui"), (shared, "worker"), (other, "second"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    shared.close()
    other.close()
    assert errors == []
    with ProjectDB.open(tmp_path) as db:
        hist = db.history(slide)
        cur = db.current_review(slide)
        assert len(db.reviews_for_slide(slide)) == 1 + 3 * 5
    assert len(hist) == 3 * n and cur.revision == 3 * n
    for prev, nxt in zip(hist, hist[1:], strict=False):  # one unbroken chain of changes
        assert nxt.old == prev.new
    assert hist[-1].new == cur.audited_values()
    conn = sqlite3.connect(tmp_path / DB_NAME)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()


def test_migration_hook_upgrades_and_backs_up_first(tmp_path, slide, monkeypatch):
    with ProjectDB.open(tmp_path) as db:
        db.save_review(slide, "2+", reviewer="a")
    applied = []

    def to_v2(conn: sqlite3.Connection) -> None:
        applied.append(True)
        conn.execute("ALTER TABLE reviews ADD COLUMN stain_batch TEXT")

    monkeypatch.setattr("her2viewer.project.db.SCHEMA_VERSION", SCHEMA_VERSION + 1)
    monkeypatch.setitem(MIGRATIONS, SCHEMA_VERSION + 1, to_v2)
    with ProjectDB.open(tmp_path) as db:
        assert db.current_review(slide).score == "2+"
    with ProjectDB.open(tmp_path) as db:  # applied once only
        assert db.current_review(slide).score == "2+"
    assert applied == [True]
    backup = tmp_path / f"{DB_NAME}.v{SCHEMA_VERSION}.bak"
    conn = sqlite3.connect(backup)
    assert conn.execute("SELECT score FROM reviews").fetchall() == [("2+",)]
    assert conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] == SCHEMA_VERSION
    conn.close()


def test_for_slide_uses_the_per_user_project_never_the_slides_folder(slide, user_data_dir):
    before = sorted(p.name for p in slide.parent.iterdir())
    with ProjectDB.for_slide(slide) as db:
        assert db.folder == user_data_dir / "default-project"
        db.save_review(slide, "0", reviewer="a")
    assert (user_data_dir / "default-project" / DB_NAME).is_file()
    assert sorted(p.name for p in slide.parent.iterdir()) == before


def test_for_slide_uses_the_chosen_project(slide, tmp_path):
    with ProjectDB.for_slide(slide, tmp_path / "proj") as db:
        assert db.folder == tmp_path / "proj"
