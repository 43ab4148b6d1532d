"""Annotations in the main window: one `SlideAnnotations` per slide tab, the tool bar and menus, the list
dock, GeoJSON import / export, the PDF report and labelled-patch export (both off the main thread).

`install_annotations(window)` wires everything into a `MainWindow` and returns the `AnnotationManager`;
the window keeps it as `window.annotations`. Other panels reach a slide's annotations through
`manager.session_for(tab)` / `manager.current()`; the scoring UI gets its annotation-aware region from
`manager.scoring_region(tab, within=...)` (see her2viewer/annotations/regions.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QKeySequence, QUndoGroup
from PySide6.QtWidgets import QDockWidget, QFileDialog

from her2viewer.annotations.geojson import AnnotationIOError
from her2viewer.progress import Task
from her2viewer.scoring.result import ScoreResult
from her2viewer.slide.region import Region

from ..common.jobs import BackgroundJob
from ..common.menus import find_menu
from .classes import ClassesDialog
from .panel import AnnotationPanel
from .session import SlideAnnotations
from .toolbar import AnnotationToolBar
from .tools import AnnotationTools

log = logging.getLogger(__name__)

GEOJSON_FILTER = "GeoJSON (*.geojson *.json);;All files (*)"
PATCH_SIZE, PATCH_MPP = 224, 0.5


def review_for(slide_path: str, project_folder: Path | None = None):
    """The slide's current review from its project database as a report ReviewInfo, or None (never creates a
    database)."""
    from her2viewer.project.report_reviews import stored_reviews

    return stored_reviews(slide_path, project_folder)[0]


class AnnotationManager(QObject):
    """Owns the annotation sessions of a window's slide tabs and the annotation actions."""

    def __init__(self, window, project_dir: str | Path | None = None) -> None:
        super().__init__(window)
        self.window = window
        self.project_dir = project_dir
        self.sessions: dict[int, tuple[Any, SlideAnnotations, AnnotationTools]] = {}
        self.undo_group = QUndoGroup(self)
        self.jobs: list[BackgroundJob] = []
        self.last_patch_message = ""
        self.tool = "pan"
        #: set by the scoring UI: the result shown for a tab (used by File > Export report)
        self.result_for: Callable[[Any], ScoreResult | None] | None = None
        self.panel = AnnotationPanel()
        self.panel.sigEditClasses.connect(self.edit_classes)
        self.dock = QDockWidget("Annotations", window)
        self.dock.setObjectName("dock_annotations")
        self.dock.setWidget(self.panel)
        window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.dock)
        self._build_actions()
        window.sigSlideOpened.connect(self.attach)
        window.tabs.currentChanged.connect(self._on_current_tab)
        for tab in window.slide_tabs():
            self.attach(tab)
        self._on_current_tab()

    # -- sessions ---------------------------------------------------------------------------------------
    def attach(self, tab) -> SlideAnnotations:
        """Load a newly opened slide's annotations and put its layer and tools on the tab's view."""
        if id(tab) in self.sessions:
            return self.sessions[id(tab)][1]
        session, problem = SlideAnnotations.open(tab.source, self.project_dir, parent=tab)
        if problem:
            self.window.show_error("Annotations not loaded", problem)
        tab.layers.add(session.layer)
        self._keep_on_top(tab.layers, session.layer)
        tools = AnnotationTools(tab.view, session, parent=tab)
        tools.set_brush_px(self.toolbar.brush_px)
        tools.set_tool(self.tool)
        session.sigMessage.connect(lambda msg: self.window.statusBar().showMessage(msg, 5000))
        self.undo_group.addStack(session.undo_stack)
        key = id(tab)
        self.sessions[key] = (tab, session, tools)
        tab.destroyed.connect(lambda _=None, k=key: self._forget(k))
        if tab is self.window.current_tab():
            self._on_current_tab()
        return session

    @staticmethod
    def _keep_on_top(stack, layer) -> None:
        """Keep annotations above overlays added later (heatmaps, masks); the user may still move them."""
        count = [len(stack)]

        def on_layers() -> None:
            grew = len(stack) > count[0]
            count[0] = len(stack)
            layers = stack.layers
            if grew and layer in layers and layers[-1] is not layer:
                stack.move(layer, len(layers) - 1)

        stack.sigLayersChanged.connect(on_layers)

    def _forget(self, key: int) -> None:
        entry = self.sessions.pop(key, None)
        if entry is not None:
            entry[1].close()

    def session_for(self, tab) -> SlideAnnotations | None:
        """The annotations of a slide tab."""
        entry = self.sessions.get(id(tab)) if tab is not None else None
        return entry[1] if entry else None

    def tools_for(self, tab) -> AnnotationTools | None:
        """The drawing tools of a slide tab."""
        entry = self.sessions.get(id(tab)) if tab is not None else None
        return entry[2] if entry else None

    def current(self) -> SlideAnnotations | None:
        """The annotations of the slide shown now."""
        return self.session_for(self.window.current_tab())

    def _on_current_tab(self, _index: int = -1) -> None:
        for key, (tab, _s, _t) in list(self.sessions.items()):
            if tab not in self.window.slide_tabs():
                self._forget(key)
        session = self.current()
        self.panel.set_session(session)
        self.undo_group.setActiveStack(session.undo_stack if session else None)
        for act in self.slide_actions:
            act.setEnabled(session is not None)

    # -- actions -----------------------------------------------------------------------------------------
    def _action(self, menu, text: str, slot, shortcut=None, checkable: bool = False) -> QAction:
        act = QAction(text, self.window, checkable=checkable)
        if shortcut is not None:
            act.setShortcut(QKeySequence(shortcut))
        act.triggered.connect(slot)
        if menu is not None:
            menu.addAction(act)
        return act

    def _build_actions(self) -> None:
        w = self.window
        edit = find_menu(w, "&Edit")
        undo = self.undo_group.createUndoAction(w, "&Undo")
        undo.setShortcut(QKeySequence.StandardKey.Undo)
        redo = self.undo_group.createRedoAction(w, "&Redo")
        redo.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        edit.addActions([undo, redo])
        self.undo_action, self.redo_action = undo, redo
        edit.addSeparator()
        self.slide_actions = [
            self._action(edit, "&Delete Annotation", lambda: self.current() and self.current().delete(),
                         QKeySequence.StandardKey.Delete),
            self._action(edit, "Select &All Annotations", self._select_all, "Ctrl+Shift+A"),
            self._action(edit, "Re&name Annotation", self.rename_selected, "F2"),
            self._action(edit, "Annotation &Classes...", self.edit_classes),
        ]
        annotate = find_menu(w, "&Annotate")
        self.toolbar = AnnotationToolBar(w, annotate, getattr(w, "settings", None))
        w.addToolBar(self.toolbar)
        self.toolbar.sigToolChosen.connect(self.set_tool)
        self.toolbar.sigBrushSizeChanged.connect(self.set_brush_px)
        self.tool_actions: dict[str, QAction] = self.toolbar.tool_actions
        annotate.addSeparator()
        annotate.addAction(self.dock.toggleViewAction())
        file = find_menu(w, "&File")
        quit_act = next((a for a in file.actions() if a.text().replace("&", "") == "Quit"), None)
        file_actions = [
            self._action(None, "&Import Annotations (GeoJSON)...", self.import_dialog),
            self._action(None, "&Export Annotations (GeoJSON)...", self.export_dialog),
            self._action(None, "Export &Report (PDF)...", self.report_dialog),
        ]
        sep = QAction(w)
        sep.setSeparator(True)
        if quit_act is not None:
            before = file.actions()[file.actions().index(quit_act) - 1]
            file.insertActions(before if before.isSeparator() else quit_act, file_actions + [sep])
        else:
            file.addActions([sep] + file_actions)
        tools_menu = find_menu(w, "&Tools")
        file_actions.append(self._action(tools_menu, "Export &Labelled Patches...", self.patches_dialog))
        self.slide_actions += file_actions + list(self.tool_actions.values())
        self.file_actions = file_actions

    def set_tool(self, name: str) -> None:
        """Use a tool on every open slide ("pan", "select", "rect", ...)."""
        self.tool = name
        for _tab, _s, tools in self.sessions.values():
            tools.set_tool(name)
        self.toolbar.check_tool(name)

    def set_brush_px(self, px: int) -> None:
        """Use a brush radius (screen pixels) on every open slide."""
        for _tab, _s, tools in self.sessions.values():
            tools.set_brush_px(px)

    def rename_selected(self) -> bool:
        """Open the name editor of the selected annotation in the list (shown if it was hidden)."""
        self.dock.show()
        self.dock.raise_()
        return self.panel.rename_selected()

    def _select_all(self) -> None:
        s = self.current()
        if s is not None:
            s.select(s.aset.ids())

    def edit_classes(self) -> ClassesDialog | None:
        """Open the class editor for the current slide."""
        s = self.current()
        if s is None:
            return None
        dlg = ClassesDialog(s, self.window)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        dlg.open()
        return dlg

    # -- GeoJSON -----------------------------------------------------------------------------------------
    def import_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.window, "Import annotations", "", GEOJSON_FILTER)
        if path:
            self.import_file(path)

    def import_file(self, path: str | Path) -> int:
        """Add a GeoJSON file's annotations to the current slide (undoable); errors go to a dialog."""
        s = self.current()
        if s is None:
            return 0
        try:
            res = s.import_geojson(path)
        except AnnotationIOError as e:
            self.window.show_error("Cannot import annotations", f"Nothing was imported. {e}")
            return 0
        notes = [f"Imported {len(res.annotations)} annotations from {Path(path).name}"]
        if res.skipped:
            notes.append(f"{res.skipped} non-annotation objects skipped")
        if res.repaired:
            notes.append(f"{len(res.repaired)} self-intersecting shapes repaired")
        self.window.statusBar().showMessage("; ".join(notes) + ".", 8000)
        return len(res.annotations)

    def export_dialog(self) -> None:
        s = self.current()
        if s is None:
            return
        start = str(Path(s.source.path).with_suffix(".geojson")) if Path(s.source.path).suffix else ""
        path, _ = QFileDialog.getSaveFileName(self.window, "Export annotations", start, GEOJSON_FILTER)
        if path:
            self.export_file(path)

    def export_file(self, path: str | Path) -> Path | None:
        """Write the current slide's annotations as GeoJSON; errors go to a dialog."""
        s = self.current()
        if s is None:
            return None
        try:
            out = s.export_geojson(path)
        except AnnotationIOError as e:
            self.window.show_error("Cannot export annotations", str(e))
            return None
        self.window.statusBar().showMessage(f"{len(s.aset)} annotations written to {out}.", 8000)
        return out

    # -- scoring regions -----------------------------------------------------------------------------------
    def scoring_region(self, tab=None, *, within: str | None = None, exclude_ignore: bool = True,
                       task: Task | None = None) -> Region | None:
        """What to score on a slide given its annotations: inside annotation `within` (an id), else the
        tissue without Ignore annotations; None when there is nothing to restrict (no Ignore annotations and
        no `within`), meaning: score as usual. Computes a tissue mask: call it off the main thread."""
        from her2viewer.annotations.model import IGNORE_CLASS
        from her2viewer.annotations.regions import scoring_region

        tab = tab or self.window.current_tab()
        s = self.session_for(tab)
        if s is None:
            return None
        anns = list(s.aset)
        if within is None and not (exclude_ignore and any(a.cls == IGNORE_CLASS for a in anns)):
            return None
        return scoring_region(s.source, anns, within=s.aset.get(within) if within else None,
                              exclude_ignore=exclude_ignore)

    def selected_region(self, tab=None) -> Region | None:
        """The scoring region of the selected annotation (Ignore annotations cut out); None if none is
        selected. Rasterises the polygon only (no tissue detection), so it is cheap on the main thread."""
        from her2viewer.annotations.regions import annotation_region

        tab = tab or self.window.current_tab()
        s = self.session_for(tab)
        if s is None:
            return None
        chosen = [a for a in s.selected_annotations() if a.geometry.area > 0]
        if not chosen:
            return None
        return annotation_region(chosen[0], s.source.dimensions, annotations=list(s.aset),
                                 region_id=chosen[0].name or "annotation")

    # -- report ------------------------------------------------------------------------------------------
    def current_result(self, tab) -> ScoreResult | None:
        """The result the scoring UI shows for a tab, if any."""
        if self.result_for is not None:
            return self.result_for(tab)
        return getattr(tab, "result", None)

    def report_dialog(self) -> None:
        tab = self.window.current_tab()
        if tab is None:
            return
        scoring = getattr(self.window, "scoring", None)
        folder = scoring.project_dir(tab.path) / "reports" if scoring is not None else Path.home()
        folder.mkdir(parents=True, exist_ok=True)        # offered in the project, never beside the slide
        start = str(folder / f"{Path(tab.path).stem or 'slide'}_report.pdf")
        path, _ = QFileDialog.getSaveFileName(self.window, "Export report", start, "PDF (*.pdf)")
        if path:
            self.export_report(path)

    def export_report(self, path: str | Path, tab=None, *, method: str = "rules",
                      dialog: bool = True) -> BackgroundJob | None:
        """Write the PDF report of a slide in the background: with the shown result, else after scoring it with
        `method` (respecting Ignore annotations)."""
        from her2viewer.report.pdf import write_report

        tab = tab or self.window.current_tab()
        if tab is None:
            return None
        source, result = tab.source, self.current_result(tab)
        from her2viewer.project import ProjectError
        from her2viewer.project.report_reviews import stored_case_fields, stored_reviews
        from her2viewer.report.model import case_from_source

        scoring = getattr(self.window, "scoring", None)
        folder = scoring.project_dir(tab.path) if scoring is not None else None
        try:
            review, core_reviews = stored_reviews(tab.path, folder)
            case = case_from_source(source, **stored_case_fields(tab.path, folder))
        except ProjectError as e:
            self.window.show_error("Cannot write the report", f"The reviews of {tab.path} cannot be read, so the "
                                   f"report would say 'Not reviewed': {e}")
            return None
        session = self.session_for(tab)
        anns = list(session.aset) if session else []
        run = scoring.state(tab).comparison if scoring is not None else None
        comparison = run.ordered_results() if run is not None else None

        def work(task: Task) -> Path:
            res = result
            if res is None:
                res = self._score_for_report(source, anns, method, task.sub(0.0, 0.9))
            task.report(0.92, "writing the report")
            return write_report(path, res, source=source, case=case, review=review, core_reviews=core_reviews,
                                comparison=comparison)

        return self._run(f"Report for {Path(tab.path).name}", work,
                         lambda out: self.window.statusBar().showMessage(f"Report written to {out}.", 8000),
                         "Cannot write the report", dialog)

    @staticmethod
    def _score_for_report(source, anns, method: str, task: Task) -> ScoreResult:
        from her2viewer.annotations.model import IGNORE_CLASS
        from her2viewer.annotations.regions import scoring_region
        from her2viewer.scoring.driver import score_slide

        scope: str | Region = "auto"
        if any(a.cls == IGNORE_CLASS for a in anns):
            scope = scoring_region(source, anns)
        return score_slide(source, method, scope=scope, task=task)

    # -- patches -----------------------------------------------------------------------------------------
    def patches_dialog(self) -> None:
        tab = self.window.current_tab()
        if tab is None:
            return
        out = QFileDialog.getExistingDirectory(self.window, "Folder for the labelled patches")
        if out:
            self.export_patches(out)

    def export_patches(self, out_dir: str | Path, tab=None, *, size: int = PATCH_SIZE, mpp: float = PATCH_MPP,
                       dialog: bool = True) -> BackgroundJob | None:
        """Cut the open slide into patches labelled by its annotations (DIR/<slide>/<label>/, DIR/labels.csv),
        in the background; appends to an existing labels.csv."""
        from her2viewer.annotations.patches import export_patches

        tab = tab or self.window.current_tab()
        session = self.session_for(tab)
        if tab is None or session is None:
            return None
        if not any(a.area_px > 0 for a in session.aset):
            self.window.show_error("Cannot export patches",
                                   f"{Path(tab.path).name} has no area annotations to label patches with.")
            return None
        source, anns = tab.source, list(session.aset)
        stem = Path(tab.path).stem or "slide"

        def work(task: Task):
            if not source.mpp or getattr(source, "mpp_source", None) is None:
                from her2viewer.qc.pixel_size import resolve_pixel_size

                task.report(0.0, "estimating the pixel size")
                resolve_pixel_size(source)    # the same value the scale bar and the scorers use
            return export_patches(source, anns, out_dir, size=size, mpp=mpp, slide_name=stem, append=True,
                                  task=task)

        def done(res) -> None:
            summary = ", ".join(f"{k or 'unlabelled'}: {v}" for k, v in sorted(res.counts.items())) or "none"
            note = patch_scale_note(source)
            self.last_patch_message = (f"{len(res.rows)} patches ({summary}) -> {res.csv_path}"
                                       + (f"  \u2014  {note}" if note else ""))
            self.window.statusBar().showMessage(self.last_patch_message, 20000)

        return self._run(f"Patches of {Path(tab.path).name}", work, done, "Cannot export patches", dialog)

    def _run(self, title: str, work, done, error_title: str, dialog: bool) -> BackgroundJob:
        job = BackgroundJob(title, work, done, lambda msg: self.window.show_error(error_title, msg),
                            self.window, dialog=dialog)
        self.jobs = [j for j in self.jobs if not j.finished] + [job]
        return job.start()


def patch_scale_note(source) -> str:
    """What the patch export says about the slide's pixel size when it is not known for sure ('' else)."""
    kind = getattr(source, "mpp_source", None)
    if kind == "estimated":
        rel = getattr(source, "mpp_uncertainty", None)
        unc = f" \u00b1{100 * rel:.0f}%" if rel is not None else ""
        return (f"the slide's pixel size was estimated from the nuclei ({source.mpp:.3g} \u00b5m/px{unc}): "
                "the patches' scale is approximate")
    if kind == "assumed":
        return (f"the slide's pixel size is unknown and ASSUMED to be {source.mpp:.3g} \u00b5m/px: the "
                "patches' scale may be wrong (set it in File > Properties)")
    return ""


def install_annotations(window, project_dir: str | Path | None = None) -> AnnotationManager:
    """Add annotation tools, menus and the list dock to a MainWindow; returns the manager."""
    return AnnotationManager(window, project_dir)
