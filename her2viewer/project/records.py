"""The records the project database hands out (slides and scoring outcomes), its error, and time / user helpers."""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from datetime import datetime


class ProjectError(Exception):
    """The project database cannot be used; the message names the file and says why."""


@dataclass(frozen=True)
class SlideRecord:
    """A slide known to the project."""

    id: str
    path: str
    name: str
    added: str
    size: int | None = None
    hash: str | None = None
    case_id: str = ""
    patient_id: str = ""


@dataclass(frozen=True)
class ScoreRecord:
    """The latest outcome of scoring a slide with a method (the result itself is in the result cache)."""

    slide_id: str
    method: str
    cache_key: str | None
    score: str | None
    score3: str | None
    confidence: float | None
    qc_status: str | None
    error: str | None
    time: str


def now_iso() -> str:
    """The local time now as ISO 8601 with its UTC offset, to the second."""
    return datetime.now().astimezone().isoformat(timespec="seconds")


def default_user() -> str:
    """The operating-system user name ("unknown" when it cannot be found)."""
    try:
        return getpass.getuser() or "unknown"
    except (OSError, KeyError, ImportError):
        return "unknown"
