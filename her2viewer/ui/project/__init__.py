"""The project panel: a project's case list (thumbnail, status, suggested and reviewed score), next / previous
case, adding images and folders, Score All in the background, and File > New / Open Project."""

from .controller import ProjectController, install_project

__all__ = ["ProjectController", "install_project"]
