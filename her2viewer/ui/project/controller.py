"""The current project of the window: File > New / Open / Close Project and Open Recent Project, the Project
dock with its case list, next / previous case, adding images, Score All, and where scoring and annotations of
the window are kept (the project folder; without a project, the per-user one)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDockWidget, QFileDialog, QMainWindow, QMenu

from her2viewer.batch import BatchSettings
from her2viewer.project import Project, ProjectError

from .panel import ProjectPanel
from .score_all import ScoreAllJob
from .thumbnails import ThumbnailLoader

log = logging.getLogger(__name__)

MAX_RECENT_PROJECTS = 8
NEXT_CASE, PREVIOUS_CASE = "Alt+Right", "Alt+Left"


def _menu(window: QMainWindow, title: str) -> QMenu:
    bar = window.menuBar()
    for act in bar.actions():
        if act.menu() is not None and act.text().replace("&", "") == title.replace("&", ""):
            return act.menu()
    return bar.addMenu(title)


class ProjectController(QObject):
    """Owns the window's open project (or None) and the Project dock."""

    def __init__(self, window: QMainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.project: Project | None = None
        self.job: ScoreAllJob | None = None
        self.panel = ProjectPanel()
        self.dock = QDockWidget("Project", window)
        self.dock.setObjectName("dock_project")
        self.dock.setWidget(self.panel)
        window.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.dock)
        score = getattr(getattr(window, "scoring", None), "docks", {}).get("Score")
        if score is not None:   # the case list and the score of the case shown share the top left
            window.tabifyDockWidget(score, self.dock)
            score.raise_()
        self.dock.hide()   # shown when a project opens (or from Project > Project)
        self.thumbs = ThumbnailLoader(self)
        self.thumbs.sigReady.connect(self.panel.model.set_thumbnail)
        self._refresh_timer = QTimer(self, singleShot=True, interval=150)
        self._refresh_timer.timeout.connect(self.refresh)
        self.panel.sigOpen.connect(self.open_image)
        self.panel.sigAddImages.connect(self.add_images_dialog)
        self.panel.sigAddFolder.connect(self.add_folder_dialog)
        self.panel.sigScoreAll.connect(self.score_all)
        self.panel.sigCancel.connect(self.cancel_score_all)
        window.sigSlideOpened.connect(self._slide_opened)
        scoring = getattr(window, "scoring", None)
        if scoring is not None:
            scoring.engine.sigFinished.connect(self._scored_in_viewer)
            scoring.review_panel.sigReviewSaved.connect(lambda _r: self._refresh_timer.start())
        self._build_menus()

    # -- menus --------------------------------------------------------------------------------------------
    def _action(self, menu: QMenu, text: str, slot: Any, shortcut: Any = None,
                before: QAction | None = None) -> QAction:
        act = QAction(text, self.window)
        if shortcut is not None:
            act.setShortcut(QKeySequence(shortcut))
        act.triggered.connect(slot)
        menu.insertAction(before, act) if before is not None else menu.addAction(act)
        return act

    def _build_menus(self) -> None:
        file = _menu(self.window, "&File")
        first = file.actions()[0] if file.actions() else None
        self._action(file, "&New Project...", self.new_project_dialog, "Ctrl+Shift+N", before=first)
        self._action(file, "Open &Project...", self.open_project_dialog, "Ctrl+Shift+O", before=first)
        self.recent_menu = QMenu("Open Recent P&roject", self.window)
        file.insertMenu(first, self.recent_menu) if first is not None else file.addMenu(self.recent_menu)
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        self.close_action = self._action(file, "Close Pro&ject", self.close_project, before=first)
        file.insertSeparator(first) if first is not None else None
        menu = _menu(self.window, "&Project")
        self.project_actions = [
            self._action(menu, "Add &Images...", self.add_images_dialog),
            self._action(menu, "Add &Folder...", self.add_folder_dialog),
            self._action(menu, "&Score All Images", self.score_all, "Ctrl+Shift+B"),
        ]
        self.cancel_action = self._action(menu, "&Cancel Score All", self.cancel_score_all)
        menu.addSeparator()
        self._action(menu, "Import &TMA Map for This Slide...", self.import_tma_map_dialog)
        menu.addSeparator()
        self.project_actions += [
            self._action(menu, "&Next Case", lambda: self.step_case(+1), NEXT_CASE),
            self._action(menu, "&Previous Case", lambda: self.step_case(-1), PREVIOUS_CASE),
        ]
        menu.addSeparator()
        menu.addAction(self.dock.toggleViewAction())
        self._update_actions()

    def _update_actions(self) -> None:
        is_open = self.project is not None
        busy = self.job is not None and self.job.running
        for act in [*self.project_actions, self.close_action]:
            act.setEnabled(is_open)
        self.project_actions[2].setEnabled(is_open and not busy)
        self.cancel_action.setEnabled(busy)
        self.recent_menu.menuAction().setEnabled(bool(self.recent_projects()))
        self.panel.set_project_open(is_open)
        self.panel.set_busy(busy)

    def recent_projects(self) -> list[str]:
        """Recently opened project folders, newest first."""
        value = self.window.settings.value("recent_projects", [])
        return [str(v) for v in ([value] if isinstance(value, str) else (value or []))]

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        for folder in self.recent_projects():
            act = QAction(folder, self.recent_menu)
            act.triggered.connect(lambda _=False, f=folder: self.open_project(f))
            self.recent_menu.addAction(act)

    def _remember(self, folder: Path) -> None:
        items = [str(folder)] + [f for f in self.recent_projects() if f != str(folder)]
        self.window.settings.setValue("recent_projects", items[:MAX_RECENT_PROJECTS])
        self.window.settings.sync()

    # -- the project ----------------------------------------------------------------------------------------
    def new_project_dialog(self) -> None:
        """Ask for an (empty or new) folder and make it a project."""
        folder = QFileDialog.getExistingDirectory(self.window, "New project: choose an empty folder")
        if folder:
            self.open_project(folder, create=True)

    def open_project_dialog(self) -> None:
        """Ask for a project folder and open it."""
        folder = QFileDialog.getExistingDirectory(self.window, "Open project folder")
        if folder:
            self.open_project(folder)

    def open_project(self, folder: str | Path, *, create: bool = False) -> Project | None:
        """Open (or with `create`, make) the project in `folder`; errors are shown, the current one is kept."""
        try:
            project = Project.create(folder) if create else Project.open(folder)
        except ProjectError as e:
            self.window.show_error("Cannot open project", str(e))
            return None
        self.close_project()
        self.project = project
        self._route(project.folder)
        self._remember(project.folder)
        self.dock.show()
        self.dock.raise_()
        self.window.resizeDocks([self.dock], [470], Qt.Orientation.Horizontal)
        self.refresh()
        return project

    def close_project(self) -> None:
        """Close the project (Score All is cancelled first); slides opened later use the per-user folder."""
        if self.job is not None and self.job.running:
            self.job.cancel()
            self.job.wait(60)
        if self.project is not None:
            self.project.close()
        self.project = None
        self._route(None)
        self.panel.model.set_entries([])
        self.panel.title.setText("No project open: File > New Project or Open Project")
        self._update_actions()

    def _route(self, folder: Path | None) -> None:
        """Where the window's scoring results, reviews and annotations go from now on."""
        scoring = getattr(self.window, "scoring", None)
        if scoring is not None:
            scoring.project_folder = folder
        annotations = getattr(self.window, "annotations", None)
        if annotations is not None:
            annotations.project_dir = folder

    def refresh(self) -> None:
        """Reload the case list from the project database."""
        if self.project is None:
            return
        try:
            entries = self.project.images()
        except ProjectError as e:
            self.panel.status_label.setText(str(e))
            return
        selected = self._current_path()
        self.panel.model.set_entries(entries)
        counts: dict[str, int] = {}
        for e in entries:
            counts[e.status] = counts.get(e.status, 0) + 1
        summary = ", ".join(f"{n} {s}" for s, n in counts.items())
        self.panel.title.setText(f"<b>{self.project.name}</b> &mdash; {len(entries)} images"
                                 + (f": {summary}" if summary else ""))
        for e in entries:
            if e.status != "missing":
                self.thumbs.request(e.slide.id, e.slide.path, self.project.folder / "thumbnails")
        if selected:
            self.panel.select_path(selected)
        self._update_actions()

    # -- images ------------------------------------------------------------------------------------------------
    def add_images_dialog(self) -> None:
        """Ask for slide files and add them to the project."""
        from her2viewer.project.folder import SLIDE_SUFFIXES

        pattern = " ".join(f"*{s}" for s in SLIDE_SUFFIXES)
        paths, _ = QFileDialog.getOpenFileNames(self.window, "Add images to the project", "",
                                                f"Slides and images ({pattern});;All files (*)")
        self.add_paths(paths)

    def add_folder_dialog(self) -> None:
        """Ask for a folder and add its slide files."""
        folder = QFileDialog.getExistingDirectory(self.window, "Add a folder of images")
        if folder:
            self.add_paths([folder])

    def add_paths(self, paths: list[str]) -> int:
        """Add files and folders to the project; problems are shown; how many were added."""
        if self.project is None or not paths:
            return 0
        added, problems = self.project.add_images(paths)
        if problems:
            self.window.show_error("Some images were not added", "\n".join(problems[:20]))
        self.refresh()
        return len(added)

    def _current_path(self) -> str | None:
        tab = self.window.current_tab()
        return str(Path(tab.path).resolve()) if tab is not None and getattr(tab, "path", "") else None

    def open_image(self, path: str) -> None:
        """Show an image: its tab when it is open, else open it."""
        for i, tab in enumerate(self.window.slide_tabs()):
            if getattr(tab, "path", "") and Path(tab.path).resolve() == Path(path):
                self.window.tabs.setCurrentIndex(i)
                self.panel.select_path(path)
                return
        self.window.open_paths([path])

    def step_case(self, step: int) -> str | None:
        """Open the next (+1) or previous (-1) case of the list as shown; the path opened, or None."""
        paths = self.panel.visible_paths()
        if not paths:
            return None
        current = self._current_path()
        i = paths.index(current) + step if current in paths else (0 if step > 0 else len(paths) - 1)
        if not 0 <= i < len(paths):
            self.window.statusBar().showMessage("No more cases in this direction", 3000)
            return None
        self.open_image(paths[i])
        self.panel.select_path(paths[i])
        return paths[i]

    def _slide_opened(self, tab: Any) -> None:
        path = getattr(tab, "path", "")
        if self.project is None or not path or not Path(path).is_file():
            return
        try:
            self.project.add_image(path)
        except ProjectError as e:
            log.warning("%s", e)
        self.refresh()
        self.panel.select_path(str(Path(path).resolve()))

    def _scored_in_viewer(self, job_id: int, result: Any) -> None:
        scoring = self.window.scoring
        job = scoring.engine.job(job_id)
        if self.project is None or job is None or job.scope != "auto" or not getattr(job.source, "path", ""):
            return
        try:
            self.project.db.record_score(job.source.path, result.method, result=result)
        except ProjectError as e:
            log.warning("%s", e)
        self._refresh_timer.start()

    def import_tma_map_dialog(self) -> None:
        """Ask for a TMA map CSV (core id -> patient / case id) for the slide shown."""
        tab = self.window.current_tab()
        if tab is None:
            self.window.statusBar().showMessage("Open a TMA slide first", 3000)
            return
        path, _ = QFileDialog.getOpenFileName(self.window, "TMA map (CSV: core_id, patient_id, case_id)", "",
                                              "CSV files (*.csv);;All files (*)")
        if path:
            self.import_tma_map(tab, path)

    def import_tma_map(self, tab: Any, csv_path: str) -> bool:
        """Store a TMA map for a slide tab's slide; the core table then shows each core's patient."""
        from her2viewer.project.tma_map import read_tma_map

        scoring = self.window.scoring
        st = scoring.state(tab)
        try:
            cores = read_tma_map(csv_path)
            if st.db is None:
                raise ProjectError(st.db_error or f"no project database for {tab.path}")
            st.db.set_tma_map(tab.path, cores)
        except ProjectError as e:
            self.window.show_error("Cannot import the TMA map", str(e))
            return False
        scoring.show_reviewed()   # the core table shows the patients
        self.window.statusBar().showMessage(f"TMA map: {len(cores)} cores", 5000)
        self._refresh_timer.start()
        return True

    # -- Score All -------------------------------------------------------------------------------------------
    def score_all(self) -> ScoreAllJob | None:
        """Score every image of the project with the Scoring panel's method, in the background."""
        if self.project is None or (self.job is not None and self.job.running):
            return None
        paths = [e.slide.path for e in self.project.images() if e.status != "missing"]
        if not paths:
            self.panel.status_label.setText("The project has no images to score.")
            return None
        scoring = self.window.scoring
        method = scoring.controls.method_combo.currentText() or "rules"
        settings = BatchSettings(method, options=scoring.controls.options(), workers=2)
        self.job = ScoreAllJob(self.project.folder, paths, settings, self)
        self.job.sigProgress.connect(self.panel.show_progress)
        self.job.sigItem.connect(lambda *_: self._refresh_timer.start())
        self.job.sigFinished.connect(self._score_all_done)
        self.job.sigFailed.connect(self._score_all_failed)
        self.job.start()
        self._update_actions()
        self.panel.status_label.setText(f"Scoring {len(paths)} images with {method}...")
        return self.job

    def cancel_score_all(self) -> None:
        """Stop Score All after the images being scored now."""
        if self.job is not None and self.job.running:
            self.job.cancel()
            self.panel.status_label.setText("Cancelling after the images being scored now...")
            self.panel.cancel_button.setEnabled(False)

    def _score_all_done(self, text: str) -> None:
        self.panel.status_label.setText(text)
        QTimer.singleShot(0, self._after_job)

    def _score_all_failed(self, message: str) -> None:
        self.window.show_error("Score All failed", message)
        QTimer.singleShot(0, self._after_job)

    def _after_job(self) -> None:
        if self.job is not None:
            self.job.wait(5)
        self.refresh()
        self._update_actions()

    def close(self) -> None:
        """Stop background work and close the project (window closing)."""
        self.thumbs.close()
        self.close_project()


def install_project(window: QMainWindow) -> ProjectController:
    """Add the Project dock and menus to the main window."""
    return ProjectController(window)
