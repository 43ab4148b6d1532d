"""A project of many slides: review decisions with their audit trail (SQLite) and cached score results."""

from .db import DB_NAME, ProjectDB, ProjectError, SlideRecord
from .result_cache import CachedResult, ResultCache, params_for
from .review import AuditEntry, Review

__all__ = ["DB_NAME", "AuditEntry", "CachedResult", "ProjectDB", "ProjectError", "ResultCache", "Review",
           "SlideRecord", "params_for"]
