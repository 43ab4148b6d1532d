"""Projects of many slides: a project folder with its database (images, reviews and their audit trail, scores,
settings, TMA maps), cached score results and annotations; never anything beside the slides."""

from .db import DB_NAME, ProjectDB, ProjectError, ScoreRecord, SlideRecord
from .folder import PROJECT_FILE, ImageEntry, Project
from .locations import default_project_dir, project_dir_for, user_data_dir
from .result_cache import CachedResult, ResultCache, params_for
from .review import AuditEntry, Review

__all__ = ["DB_NAME", "PROJECT_FILE", "AuditEntry", "CachedResult", "ImageEntry", "Project", "ProjectDB",
           "ProjectError", "ResultCache", "Review", "ScoreRecord", "SlideRecord", "default_project_dir",
           "params_for", "project_dir_for", "user_data_dir"]
