"""Where a slide's reviews, results and annotations are kept: its project folder, never the slide's own folder.

A slide opened inside a project uses that project's folder. A slide opened on its own uses the per-user data
folder (`user_data_dir`, from platformdirs, e.g. ~/.local/share/her2viewer; `HER2VIEWER_DATA_DIR` overrides
it), whose `default-project` holds everything such slides produce. Slides may live on read-only or shared
storage: nothing is ever written beside them.
"""

from __future__ import annotations

import os
from pathlib import Path

#: environment variable that moves the per-user data folder (tests, portable installs)
DATA_DIR_ENV = "HER2VIEWER_DATA_DIR"
APP_NAME = "her2viewer"
DEFAULT_PROJECT = "default-project"


def user_data_dir() -> Path:
    """The per-user data folder of HER2 Viewer (not created here)."""
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def default_project_dir() -> Path:
    """The project folder of slides opened without a project."""
    return user_data_dir() / DEFAULT_PROJECT


def user_models_dir() -> Path:
    """Where the viewer keeps the models the user fine-tuned (never beside the slides or the bundled ones)."""
    return user_data_dir() / "models"


def project_dir_for(slide_path: str | os.PathLike[str] | None, project: str | os.PathLike[str] | None = None
                    ) -> Path:
    """The folder that keeps a slide's data: the open project's, else the per-user default project."""
    del slide_path  # every slide of a project shares its folder; the slide's own folder is never used
    return Path(project).expanduser() if project else default_project_dir()
