"""The project database schema and its migrations: `MIGRATIONS[n]` upgrades a database from version n-1 to n.

A new version of the schema adds a function here and bumps `SCHEMA_VERSION`; `ProjectDB.open` backs the file
up before it migrates an existing database, runs each step in one transaction and records it in
`schema_version`. Statements are run one by one (not `executescript`, which would commit early).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

SCHEMA_VERSION = 2

_V1: tuple[str, ...] = (
    """CREATE TABLE slides (
        id TEXT PRIMARY KEY,
        path TEXT NOT NULL,
        name TEXT NOT NULL,
        added TEXT NOT NULL)""",
    """CREATE TABLE reviews (
        slide_id TEXT NOT NULL REFERENCES slides(id),
        core_id TEXT NOT NULL DEFAULT '',
        score TEXT NOT NULL CHECK (score IN ('0', '1+', '2+', '3+')),
        score3 TEXT NOT NULL CHECK (score3 IN ('0', 'Low', 'High')),
        ish TEXT NOT NULL DEFAULT 'not done' CHECK (ish IN ('positive', 'negative', 'not done')),
        comment TEXT NOT NULL DEFAULT '',
        reviewer TEXT NOT NULL,
        time TEXT NOT NULL,
        suggested_score TEXT,
        suggested_method TEXT,
        model_name TEXT,
        model_sha256 TEXT,
        revision INTEGER NOT NULL DEFAULT 1,
        PRIMARY KEY (slide_id, core_id))""",
    """CREATE TABLE audit (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        slide_id TEXT NOT NULL,
        core_id TEXT NOT NULL DEFAULT '',
        action TEXT NOT NULL CHECK (action IN ('create', 'change', 'clear')),
        old TEXT,
        new TEXT,
        user TEXT NOT NULL,
        time TEXT NOT NULL)""",
    "CREATE INDEX audit_by_review ON audit (slide_id, core_id, seq)",
    """CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END""",
    """CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END""",
)


def _create_v1(conn: sqlite3.Connection) -> None:
    """Version 1: slides, current reviews and the append-only audit trail."""
    for statement in _V1:
        conn.execute(statement)


_V2: tuple[str, ...] = (
    # content identity, so a moved slide can be relinked; case fields of the image
    "ALTER TABLE slides ADD COLUMN size INTEGER",
    "ALTER TABLE slides ADD COLUMN hash TEXT",
    "ALTER TABLE slides ADD COLUMN case_id TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE slides ADD COLUMN patient_id TEXT NOT NULL DEFAULT ''",
    # a TMA map: which patient / case each core of a slide belongs to
    """CREATE TABLE tma_map (
        slide_id TEXT NOT NULL REFERENCES slides(id),
        core_id TEXT NOT NULL,
        patient_id TEXT NOT NULL DEFAULT '',
        case_id TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (slide_id, core_id))""",
    # per-slide settings (pixel size, criteria, ...) as JSON values
    """CREATE TABLE slide_settings (
        slide_id TEXT NOT NULL REFERENCES slides(id),
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (slide_id, key))""",
    # the latest outcome of scoring each slide with each method (the result itself is in the result cache)
    """CREATE TABLE scores (
        slide_id TEXT NOT NULL REFERENCES slides(id),
        method TEXT NOT NULL,
        cache_key TEXT,
        score TEXT,
        score3 TEXT,
        confidence REAL,
        qc_status TEXT,
        error TEXT,
        time TEXT NOT NULL,
        PRIMARY KEY (slide_id, method))""",
    # what batches did, append-only: one row per image scored, taken from the cache or failed
    """CREATE TABLE batch_log (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id TEXT NOT NULL,
        slide_id TEXT NOT NULL,
        method TEXT NOT NULL,
        event TEXT NOT NULL CHECK (event IN ('scored', 'cached', 'error')),
        detail TEXT NOT NULL DEFAULT '',
        time TEXT NOT NULL)""",
    # folders whose sidecar data of older versions (database, results, annotations) were imported
    """CREATE TABLE imported_sidecars (
        folder TEXT PRIMARY KEY,
        time TEXT NOT NULL,
        summary TEXT NOT NULL DEFAULT '')""",
)


def _create_v2(conn: sqlite3.Connection) -> None:
    """Version 2: slide size / content hash / case fields, TMA maps, settings, scores, batch log, imports."""
    for statement in _V2:
        conn.execute(statement)


MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {1: _create_v1, 2: _create_v2}


def create_version_table(conn: sqlite3.Connection) -> None:
    """The table that records which schema versions were applied, and when."""
    conn.execute("CREATE TABLE IF NOT EXISTS schema_version "
                 "(version INTEGER PRIMARY KEY, applied TEXT NOT NULL)")


def table_names(conn: sqlite3.Connection) -> set[str]:
    """Names of the tables in the database."""
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def schema_version(conn: sqlite3.Connection) -> int | None:
    """The applied schema version: 0 for an empty database, None for a database that is not ours."""
    tables = table_names(conn) - {"sqlite_sequence"}
    if "schema_version" not in tables:
        return 0 if not tables else None
    row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
    return int(row[0] or 0)
