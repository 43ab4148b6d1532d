"""The project database: slides, the current review of each slide or TMA core, and an append-only audit trail.

One SQLite file, `her2viewer.sqlite`, in a project folder (never the slides' folder: see `locations`). WAL journal,
every write in one `BEGIN IMMEDIATE` transaction, one connection guarded by a lock, so the UI thread and a
worker thread can share a `ProjectDB`; other processes wait up to `BUSY_TIMEOUT_S` for the write lock.
A file that is not a healthy SQLite database raises `ProjectError` naming it and is never written to.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..annotations.store import slide_id
from ..scoring.result import ScoreResult
from .records import ProjectError, ScoreRecord, SlideRecord, default_user, now_iso
from .review import AuditEntry, Review, check_score, dumps_values, loads_values, normalise_ish, three_way
from .schema import MIGRATIONS, SCHEMA_VERSION, create_version_table, schema_version

log = logging.getLogger(__name__)

DB_NAME = "her2viewer.sqlite"
BUSY_TIMEOUT_S = 10.0
_SQLITE_MAGIC = b"SQLite format 3\x00"
_REVIEW_COLUMNS = ("slide_id", "core_id", "score", "score3", "ish", "comment", "reviewer", "time",
                   "suggested_score", "suggested_method", "model_name", "model_sha256", "revision")


def _describe(path: Path, e: sqlite3.Error) -> str:
    """A sentence for an SQLite error on `path`."""
    text = str(e).lower()
    if "not a database" in text or "malformed" in text or "corrupt" in text:
        return (f"{path} is damaged or is not a HER2 Viewer project database ({e}); "
                "it was left untouched, move it aside or restore a backup")
    if "locked" in text or "busy" in text:
        return f"{path} is locked by another program (another HER2 Viewer?); close it and try again"
    if "readonly" in text or "read-only" in text:
        return f"{path} is read-only; choose a project folder you can write to"
    if "unable to open" in text:
        return f"cannot open {path}: the folder is missing or not writable"
    return f"{path}: database error: {e}"


class ProjectDB:
    """Reviews and their audit trail for the slides of one project folder (thread-safe)."""

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        """Use `open` or `for_slide`; this wraps an already checked connection."""
        self.path = path
        self._conn: sqlite3.Connection | None = conn
        self._lock = threading.RLock()

    # -- opening ------------------------------------------------------------------------------------
    @classmethod
    def open(cls, folder: str | Path) -> ProjectDB:
        """Open (creating if needed) the project database in `folder`; raises ProjectError."""
        folder = Path(folder).expanduser()
        path = folder / DB_NAME
        if folder.exists() and not folder.is_dir():
            raise ProjectError(f"{folder} is a file, not a project folder")
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ProjectError(f"cannot create the project folder {folder}: {e.strerror or e}") from e
        _check_header(path)
        try:
            conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None,
                                   check_same_thread=False)
        except sqlite3.Error as e:
            raise ProjectError(_describe(path, e)) from e
        db = cls(path, conn)
        try:
            with db._errors():
                db._configure()
                db._migrate()
        except BaseException:
            conn.close()
            raise
        return db

    @classmethod
    def for_slide(cls, slide_path: str | Path, project: str | Path | None = None) -> ProjectDB:
        """The database of a slide's project: `project`, else the per-user default (never beside the slide)."""
        from .locations import project_dir_for

        return cls.open(project_dir_for(slide_path, project))

    @property
    def folder(self) -> Path:
        """The project folder."""
        return self.path.parent

    def close(self) -> None:
        """Close the database (later calls raise ProjectError)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> ProjectDB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _configure(self) -> None:
        conn = self._connection()
        ok = conn.execute("PRAGMA quick_check").fetchone()
        if not ok or ok[0] != "ok":
            raise ProjectError(f"{self.path} is damaged ({ok[0] if ok else 'no answer'}); it was left "
                               "untouched, move it aside or restore a backup")
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            log.warning("%s: WAL journal not available (%s); using %s", self.path, mode, mode)
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")

    def _migrate(self) -> None:
        conn = self._connection()
        version = schema_version(conn)
        if version is None:
            raise ProjectError(f"{self.path} is an SQLite database of another program, not a HER2 Viewer "
                               "project; it was left untouched")
        if version > SCHEMA_VERSION:
            raise ProjectError(f"{self.path} was written by a newer HER2 Viewer (schema {version}, this "
                               f"version reads up to {SCHEMA_VERSION}); update HER2 Viewer to open it")
        if version == SCHEMA_VERSION:
            return  # up to date: opening takes no write lock
        if version > 0:
            self.backup(self.path.with_name(f"{self.path.name}.v{version}.bak"))
        with self._write() as conn:
            version = schema_version(conn)  # again, inside the lock: another process may have migrated
            if version is None:
                raise ProjectError(f"{self.path} changed while it was being opened; try again")
            create_version_table(conn)
            for v in range(version + 1, SCHEMA_VERSION + 1):
                MIGRATIONS[v](conn)
                conn.execute("INSERT INTO schema_version (version, applied) VALUES (?, ?)", (v, now_iso()))
                log.info("%s: schema upgraded to version %d", self.path, v)

    def backup(self, dest: str | Path) -> Path:
        """Copy the database consistently to `dest` (SQLite online backup)."""
        dest = Path(dest)
        with self._lock, self._errors():
            target = sqlite3.connect(dest)
            try:
                self._connection().backup(target)
            finally:
                target.close()
        return dest

    # -- plumbing -----------------------------------------------------------------------------------
    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise ProjectError(f"{self.path} is closed")
        return self._conn

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """Turn SQLite errors into ProjectError naming the file."""
        try:
            yield
        except sqlite3.Error as e:
            raise ProjectError(_describe(self.path, e)) from e

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock, self._errors():
            yield self._connection()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (taken at once, so concurrent writers queue instead of deadlocking)."""
        with self._lock, self._errors():
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    # -- slides -------------------------------------------------------------------------------------
    def add_slide(self, slide_path: str | Path) -> str:
        """Record a slide in the project; returns its stable id."""
        with self._write() as conn:
            return self._upsert_slide(conn, slide_path)

    def slides(self) -> list[SlideRecord]:
        """Every slide of the project, in the order they were added."""
        with self._read() as conn:
            rows = conn.execute(f"SELECT {_SLIDE_COLUMNS} FROM slides ORDER BY added, rowid").fetchall()
        return [SlideRecord(*r) for r in rows]

    def slide(self, sid: str) -> SlideRecord | None:
        """One slide of the project by id, or None."""
        with self._read() as conn:
            row = conn.execute(f"SELECT {_SLIDE_COLUMNS} FROM slides WHERE id = ?", (sid,)).fetchone()
        return SlideRecord(*row) if row else None

    def remove_slide(self, sid: str) -> None:
        """Forget a slide's entry, scores, settings and TMA map (reviews and the audit trail are kept)."""
        with self._write() as conn:
            for table in ("scores", "slide_settings", "tma_map"):
                conn.execute(f"DELETE FROM {table} WHERE slide_id = ?", (sid,))
            if not conn.execute("SELECT 1 FROM reviews WHERE slide_id = ?", (sid,)).fetchone():
                conn.execute("DELETE FROM slides WHERE id = ?", (sid,))

    def relink(self, sid: str, new_path: str | Path) -> None:
        """Point a slide's entry at a new path (the caller checked the content hash)."""
        p = Path(new_path).expanduser().resolve()
        with self._write() as conn:
            conn.execute("UPDATE slides SET path = ?, name = ? WHERE id = ?", (str(p), p.name, sid))

    def set_case(self, sid: str, *, case_id: str | None = None, patient_id: str | None = None) -> None:
        """Set a slide's case and patient ids."""
        with self._write() as conn:
            if case_id is not None:
                conn.execute("UPDATE slides SET case_id = ? WHERE id = ?", (case_id, sid))
            if patient_id is not None:
                conn.execute("UPDATE slides SET patient_id = ? WHERE id = ?", (patient_id, sid))

    @staticmethod
    def _upsert_slide(conn: sqlite3.Connection, slide_path: str | Path) -> str:
        from .identity import content_hash

        p = Path(slide_path).expanduser().resolve()
        sid = _sid(conn, p)
        try:
            size: int | None = p.stat().st_size
        except OSError:
            size = None
        conn.execute("INSERT INTO slides (id, path, name, added, size, hash) VALUES (?, ?, ?, ?, ?, ?) "
                     "ON CONFLICT (id) DO UPDATE SET path = excluded.path, name = excluded.name, "
                     "size = COALESCE(excluded.size, size), hash = COALESCE(excluded.hash, hash)",
                     (sid, str(p), p.name, now_iso(), size, content_hash(p)))
        return sid

    # -- settings, TMA maps, scores, batch log ------------------------------------------------------------
    def set_setting(self, slide_path: str | Path, key: str, value: Any) -> None:
        """Store one per-slide setting (a JSON value; None removes it)."""
        with self._write() as conn:
            sid = self._upsert_slide(conn, slide_path)
            if value is None:
                conn.execute("DELETE FROM slide_settings WHERE slide_id = ? AND key = ?", (sid, key))
            else:
                conn.execute("INSERT OR REPLACE INTO slide_settings VALUES (?, ?, ?)",
                             (sid, key, json.dumps(value)))

    def settings(self, slide_path: str | Path) -> dict[str, Any]:
        """Every stored setting of a slide."""
        with self._read() as conn:
            rows = conn.execute("SELECT key, value FROM slide_settings WHERE slide_id = ?",
                                (_sid(conn, slide_path),)).fetchall()
        return {k: json.loads(v) for k, v in rows}

    def set_tma_map(self, slide_path: str | Path, cores: dict[str, tuple[str, str]]) -> str:
        """Replace a slide's TMA map: core id -> (patient id, case id); returns the slide id."""
        with self._write() as conn:
            sid = self._upsert_slide(conn, slide_path)
            conn.execute("DELETE FROM tma_map WHERE slide_id = ?", (sid,))
            conn.executemany("INSERT INTO tma_map VALUES (?, ?, ?, ?)",
                             [(sid, core, pat, case) for core, (pat, case) in cores.items()])
        return sid

    def tma_map(self, sid: str | Path) -> dict[str, tuple[str, str]]:
        """A slide's TMA map (by slide id or path): core id -> (patient id, case id) (empty when it has none)."""
        with self._read() as conn:
            sid = sid if conn.execute("SELECT 1 FROM slides WHERE id = ?", (sid,)).fetchone() else _sid(conn, sid)
            rows = conn.execute("SELECT core_id, patient_id, case_id FROM tma_map WHERE slide_id = ?",
                                (str(sid),)).fetchall()
        return {c: (p, k) for c, p, k in rows}

    def record_score(self, slide_path: str | Path, method: str, *, cache_key: str | None = None,
                     result: ScoreResult | None = None, error: str | None = None, run_id: str = "",
                     event: str | None = None) -> str:
        """Store the outcome of scoring a slide (a result or an error), and log it when `event` is given."""
        qc = (result.qc or {}).get("status") if result is not None else None
        with self._write() as conn:
            sid = self._upsert_slide(conn, slide_path)
            t = now_iso()
            conn.execute("INSERT OR REPLACE INTO scores VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         (sid, method, cache_key, result.score if result else None,
                          result.score3 if result else None, result.confidence if result else None, qc, error, t))
            if event:
                conn.execute("INSERT INTO batch_log (run_id, slide_id, method, event, detail, time) "
                             "VALUES (?, ?, ?, ?, ?, ?)", (run_id, sid, method, event, error or "", t))
        return sid

    def scores(self, method: str | None = None) -> list[ScoreRecord]:
        """The latest scoring outcome of every slide (for one method, or all)."""
        q, args = "SELECT * FROM scores", ()
        if method:
            q, args = q + " WHERE method = ?", (method,)
        with self._read() as conn:
            return [ScoreRecord(*r) for r in conn.execute(q + " ORDER BY time", args).fetchall()]

    def batch_log(self, run_id: str | None = None) -> list[tuple[str, str, str, str, str]]:
        """(run id, slide id, method, event, detail) of every batch event, oldest first."""
        q, args = "SELECT run_id, slide_id, method, event, detail FROM batch_log", ()
        if run_id:
            q, args = q + " WHERE run_id = ?", (run_id,)
        with self._read() as conn:
            return list(conn.execute(q + " ORDER BY seq", args).fetchall())

    def mark_imported(self, folder: str | Path, summary: str) -> bool:
        """Record that a folder's sidecar data was imported; False when it already was."""
        with self._write() as conn:
            cur = conn.execute("INSERT OR IGNORE INTO imported_sidecars VALUES (?, ?, ?)",
                               (str(folder), now_iso(), summary))
            return cur.rowcount > 0

    def was_imported(self, folder: str | Path) -> bool:
        """Whether a folder's sidecar data was imported already."""
        with self._read() as conn:
            return conn.execute("SELECT 1 FROM imported_sidecars WHERE folder = ?",
                                (str(folder),)).fetchone() is not None

    # -- reviews ------------------------------------------------------------------------------------
    def save_review(self, slide_path: str | Path, score: str, *, ish: str | bool | None = None,
                    comment: str = "", reviewer: str | None = None, core_id: str | None = None,
                    suggestion: ScoreResult | None = None) -> Review:
        """Create or change the review of a slide (or one of its cores) and append it to the audit trail.

        Saving the same values again records nothing and returns the stored review.
        """
        check_score(score)
        ish_name = normalise_ish(ish)
        user = reviewer or default_user()
        sugg_score, method, model_name, sha = _suggested(suggestion, core_id)
        with self._write() as conn:
            sid = self._upsert_slide(conn, slide_path)
            old = self._select(conn, sid, core_id)
            new = Review(slide_id=sid, slide_path=str(Path(slide_path).expanduser().resolve()),
                         core_id=core_id, score=score, score3=three_way(score, ish_name), ish=ish_name,
                         comment=comment, reviewer=user, time=now_iso(), suggested_score=sugg_score,
                         suggested_method=method, model_name=model_name, model_sha256=sha,
                         revision=old.revision + 1 if old else 1)
            if old is not None and _same(old, new):
                return old
            row = {k: getattr(new, k) for k in _REVIEW_COLUMNS}
            row["core_id"] = core_id or ""
            conn.execute(f"INSERT OR REPLACE INTO reviews ({', '.join(row)}) "
                         f"VALUES ({', '.join('?' * len(row))})", tuple(row.values()))
            self._audit(conn, sid, core_id, "change" if old else "create", old, new, user, new.time)
        log.info("review of %s%s: %s (%s) by %s", new.slide_path, f" core {core_id}" if core_id else "",
                 score, new.score3, user)
        return new

    def clear_review(self, slide_path: str | Path, core_id: str | None = None, *,
                     reviewer: str | None = None) -> bool:
        """Remove the current review (the audit trail keeps it); False when there was none."""
        user = reviewer or default_user()
        with self._write() as conn:
            sid = _sid(conn, slide_path)
            old = self._select(conn, sid, core_id)
            if old is None:
                return False
            conn.execute("DELETE FROM reviews WHERE slide_id = ? AND core_id = ?", (sid, core_id or ""))
            self._audit(conn, sid, core_id, "clear", old, None, user, now_iso())
        return True

    def current_review(self, slide_path: str | Path, core_id: str | None = None) -> Review | None:
        """The review of a slide (core_id None) or of one of its cores; None when not reviewed."""
        with self._read() as conn:
            return self._select(conn, _sid(conn, slide_path), core_id)

    def reviews_for_slide(self, slide_path: str | Path) -> list[Review]:
        """Every current review of a slide: the slide-level one first, then its cores by id."""
        with self._read() as conn:
            rows = conn.execute(f"{_SELECT} WHERE r.slide_id = ? ORDER BY r.core_id",
                                (_sid(conn, slide_path),)).fetchall()
        return [_review_from_row(r) for r in rows]

    def history(self, slide_path: str | Path, core_id: str | None = None, *,
                all_cores: bool = False) -> list[AuditEntry]:
        """The audit trail of a review (or of every review of the slide), oldest first."""
        query = "SELECT seq, slide_id, core_id, action, old, new, user, time FROM audit WHERE slide_id = ?"
        with self._read() as conn:
            args: tuple[Any, ...] = (_sid(conn, slide_path),)
            if not all_cores:
                query += " AND core_id = ?"
                args += (core_id or "",)
            rows = conn.execute(query + " ORDER BY seq", args).fetchall()
        return [AuditEntry(seq, sid, core or None, action, loads_values(old), loads_values(new), user, time)
                for seq, sid, core, action, old, new, user, time in rows]

    @staticmethod
    def _select(conn: sqlite3.Connection, sid: str, core_id: str | None) -> Review | None:
        row = conn.execute(f"{_SELECT} WHERE r.slide_id = ? AND r.core_id = ?",
                           (sid, core_id or "")).fetchone()
        return _review_from_row(row) if row else None

    @staticmethod
    def _audit(conn: sqlite3.Connection, sid: str, core_id: str | None, action: str, old: Review | None,
               new: Review | None, user: str, time: str) -> None:
        conn.execute("INSERT INTO audit (slide_id, core_id, action, old, new, user, time) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?)",
                     (sid, core_id or "", action, dumps_values(old.audited_values() if old else None),
                      dumps_values(new.audited_values() if new else None), user, time))


_SLIDE_COLUMNS = "id, path, name, added, size, hash, case_id, patient_id"
_SELECT = (f"SELECT s.path, {', '.join('r.' + c for c in _REVIEW_COLUMNS)} "
           "FROM reviews r JOIN slides s ON s.id = r.slide_id")


def _sid(conn: sqlite3.Connection, slide_path: str | Path) -> str:
    """The id of a slide: that of the project's entry for this path (kept when a slide is relinked), else new."""
    p = str(Path(slide_path).expanduser().resolve())
    row = conn.execute("SELECT id FROM slides WHERE path = ? ORDER BY rowid DESC LIMIT 1", (p,)).fetchone()
    return row[0] if row else slide_id(p)


def _review_from_row(row: tuple[Any, ...]) -> Review:
    values = dict(zip(_REVIEW_COLUMNS, row[1:], strict=True))
    values["core_id"] = values["core_id"] or None
    return Review(slide_path=row[0], **values)


def _same(old: Review, new: Review) -> bool:
    """Whether a save changes nothing but the time."""
    return replace(old, time="").audited_values() == replace(new, time="").audited_values()


def _suggested(result: ScoreResult | None,
               core_id: str | None) -> tuple[str | None, str | None, str | None, str | None]:
    """(suggested score, method, model name, model sha256) for a slide or one core of a result."""
    if result is None:
        return None, None, None, None
    score = result.score
    if core_id is not None:
        score = next((c.score for c in result.cores if c.id == core_id), score)
    return score, result.method, result.model.name, result.model.sha256


def _check_header(path: Path) -> None:
    """Refuse (without touching it) a file that exists but does not start like an SQLite database."""
    try:
        with path.open("rb") as f:
            head = f.read(100)
    except FileNotFoundError:
        return
    except OSError as e:
        raise ProjectError(f"cannot read {path}: {e.strerror or e}") from e
    if head and not head.startswith(_SQLITE_MAGIC):
        raise ProjectError(f"{path} is not an SQLite database (it may be damaged or another kind of file); "
                           "it was left untouched, move it aside or restore a backup")
