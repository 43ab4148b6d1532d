"""The project database schema and its migrations: `MIGRATIONS[n]` upgrades a database from version n-1 to n.

A new version of the schema adds a function here and bumps `SCHEMA_VERSION`; `ProjectDB.open` backs the file
up before it migrates an existing database, runs each step in one transaction and records it in
`schema_version`. Statements are run one by one (not `executescript`, which would commit early).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

SCHEMA_VERSION = 1

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


MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {1: _create_v1}


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
