"""Scoring in the main window: the controller that ties the controls (`controls`), the score, review and
measurements panels to the current slide tab and the inference engine; per slide tab it keeps the shown
result, the project database and the active core. `dock.install_scoring(window)` builds it into a window.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QDockWidget,
    QMainWindow,
    QWidget,
)

from her2viewer.project import ProjectDB, ProjectError, ResultCache
from her2viewer.scoring.base import ScoreOptions
from her2viewer.scoring.result import CoreResult, ScoreResult
from her2viewer.slide.region import Region

from ..review.panel import ReviewPanel
from .controls import SCOPES, PanelState, ScoringControls
from .engine import InferenceEngine, ScoreJob
from .measurements_panel import MeasurementsPanel
from .result_layers import CORES, CoreScoreLayer, install_result_layers
from .score_panel import ScorePanel

log = logging.getLogger(__name__)


def with_pixel_size(options: ScoreOptions, source: Any) -> ScoreOptions:
    """The options with the pixel size the user set for the slide (the scoring process opens the slide
    itself: it reads the file's value or estimates the same one, but cannot know the user's)."""
    if options.mpp is None and getattr(source, "mpp_source", None) == "user" and source.mpp:
        return replace(options, mpp=float(source.mpp))
    return options


def result_mpp_matches(result: ScoreResult, source: Any) -> bool:
    """Whether a (cached) result was scored at the slide's current pixel size (True when it does not say)."""
    qc = result.qc if isinstance(result.qc, dict) else {}
    mpp = qc.get("mpp", result.params.get("mpp") if isinstance(result.params, dict) else None)
    current = getattr(source, "mpp", None)
    if not isinstance(mpp, (int, float)) or not current:
        return True
    return abs(float(mpp) - float(current)) <= 1e-3 * float(current)  # qc.mpp is rounded to 4 decimals

@dataclass
class TabState:
    """What the scoring UI keeps for one open slide."""

    result: ScoreResult | None = None
    from_cache: bool = False
    core_id: str | None = None
    db: ProjectDB | None = None
    db_error: str | None = None
    jobs: list[int] = field(default_factory=list)
    criteria: tuple[str, str] = ("breast", "resection")   # chosen per slide
    comparison: Any = None   # the last ComparisonRun of this slide (the report prints it)
    panel: PanelState = field(default_factory=PanelState)   # the Scoring panel while another tab is shown


class ScoringController(QObject):
    """Connects the controls, panels and engine to the main window's slide tabs."""

    sigResultShown = Signal(object)   # ScoreResult shown for the current tab (None: cleared)

    def __init__(self, window: QMainWindow, *, engine: InferenceEngine | None = None,
                 project_folder: str | Path | None = None) -> None:
        super().__init__(window)
        self.window = window
        self.project_folder = Path(project_folder) if project_folder else None
        self.engine = engine or InferenceEngine(window, cache_for=self.cache_for)
        self.controls = ScoringControls()
        self.score_panel = ScorePanel()
        self.measurements_panel = MeasurementsPanel()
        self.measurements_panel.sigRegionActivated.connect(self._activate_region)
        self.review_panel = ReviewPanel()
        self.selection_provider: Callable[[], Region | None] = lambda: None
        #: the open project (a her2viewer.project.Project) or None; set by the main window
        self.project_provider: Callable[[], Any] | None = None
        self.docks: dict[str, QDockWidget] = {}
        self.menu = None
        self.actions: list[QAction] = []
        self.states: dict[int, TabState] = {}
        self._tabs_by_key: dict[int, QWidget] = {}
        self._job_tabs: dict[int, int] = {}       # every job (runs and comparisons) -> its tab's key
        self._shown_key: int | None = None        # the tab whose panel state the controls show
        self.controls.sigRun.connect(self.run)
        self.controls.sigCancel.connect(self.cancel)
        self.controls.sigCriteriaChanged.connect(self._criteria_changed)
        self.engine.sigStarted.connect(self._on_started)
        self.engine.sigProgress.connect(self._on_progress)
        self.engine.sigFinished.connect(self._on_finished)
        self.engine.sigFailed.connect(self._on_failed)
        self.engine.sigCancelled.connect(self._on_cancelled)
        self.engine.sigIdle.connect(self._on_idle)
        self.engine.sigDevice.connect(lambda d: self.controls.device_label.setText(f"Device: {d}"))
        self.engine.sigCachedFound.connect(self._on_cached)
        self.engine.sigMethods.connect(self.controls.set_methods)
        self.score_panel.sigCoreActivated.connect(self.activate_core)
        self.score_panel.sigSlideActivated.connect(lambda: self.activate_core(None))
        self.score_panel.sigForceRequested.connect(self.score_anyway)
        self.review_panel.sigReviewSaved.connect(lambda _r: self.show_reviewed())
        self.review_panel.sigDatabaseError.connect(
            lambda message: self.window.show_error("Review not saved", message))
        self.engine.probe_device()
        self.engine.list_methods()

    # -- project ------------------------------------------------------------------------------------------
    def project_dir(self, slide_path: str) -> Path:
        """The project folder of a slide: the chosen one, else the per-user default project (never the
        slide's own folder)."""
        from her2viewer.project import project_dir_for

        return self.project_folder or project_dir_for(slide_path)

    def cache_for(self, slide_path: str) -> ResultCache | None:
        """The result cache of a slide's project (None for an in-memory slide)."""
        return ResultCache(self.project_dir(slide_path)) if slide_path else None

    def result_for(self, tab: QWidget) -> ScoreResult | None:
        """The result shown for a slide tab, if it has one (used by the report export)."""
        st = self.states.get(id(tab))
        return st.result if st is not None else None

    def state(self, tab: QWidget) -> TabState:
        """The scoring state of a slide tab (created on first use, with its project database)."""
        key = id(tab)
        st = self.states.get(key)
        if st is None:
            st = self.states[key] = TabState()
            self._tabs_by_key[key] = tab
            path = getattr(tab, "path", "")
            if path:
                try:
                    st.db = ProjectDB.open(self.project_dir(path))
                except ProjectError as exc:
                    st.db_error = str(exc)
        return st

    def _tab_for_job(self, job_id: int) -> QWidget | None:
        key = self._job_tabs.get(job_id)
        if key is None or key not in {id(t) for t in self.window.slide_tabs()}:
            return None
        return self._tabs_by_key.get(key)

    def panel(self, tab: QWidget | None) -> ScoringControls | PanelState:
        """Where a tab's status, progress and errors go: the controls while it is shown, else its kept
        state (shown again when the user comes back to the tab)."""
        if tab is None or (id(tab) == self._shown_key and tab is self.window.current_tab()):
            return self.controls
        return self.state(tab).panel

    def submit(self, tab: QWidget, job: ScoreJob, *, show: bool = True) -> int:
        """Queue a job for a tab; with `show` its result becomes the tab's shown result."""
        job_id = self.engine.submit(job)
        self._job_tabs[job_id] = id(tab)
        if show:
            self.state(tab).jobs.append(job_id)
        self.panel(tab).set_busy(True)
        return job_id

    def _refresh_busy(self, tab: QWidget | None) -> None:
        if tab is None:
            return
        active = {j.id for j in self.engine.active_jobs()}
        self.panel(tab).set_busy(any(self._job_tabs.get(j) == id(tab) for j in active))

    def forget_closed_tabs(self) -> None:
        """Drop the state of tabs that were closed (closing their databases)."""
        open_tabs = {id(t) for t in self.window.slide_tabs()}
        for key in [k for k in self.states if k not in open_tabs]:
            st = self.states.pop(key)
            self._tabs_by_key.pop(key, None)
            if key == self._shown_key:
                self._shown_key = None
            for job_id in [j for j, k in self._job_tabs.items() if k == key]:
                self.engine.cancel(job_id)
                self._job_tabs.pop(job_id, None)
            if st.db is not None:
                st.db.close()

    # -- running ------------------------------------------------------------------------------------------
    def job_for(self, tab: QWidget, method: str | None = None, options: ScoreOptions | None = None,
                scope_key: str | None = None) -> ScoreJob:
        """The job the controls describe for a tab; ValueError with a sentence when the scope is unusable."""
        method = method or self.controls.method_combo.currentText()
        options = options or self.controls.options()
        key = scope_key or self.controls.scope_key()
        st = self.state(tab)
        label = dict(SCOPES)[key]
        scope: str | Region
        if key in ("auto", "slide", "cores"):
            scope = key
        elif key == "core":
            core = self._core(st, st.core_id)
            if core is None:
                raise ValueError("No TMA core is selected: score the slide first, then pick a core in the "
                                 "table of cores.")
            scope = Region(tuple(int(v) for v in core.bbox), None, core.id)
            label = f"core {core.id}"
        elif key == "view":
            W, H = tab.source.dimensions
            r = tab.view.l0_rect()
            x0, y0 = max(0, int(r.left())), max(0, int(r.top()))
            x1, y1 = min(int(W), int(r.right())), min(int(H), int(r.bottom()))
            if x1 - x0 < 32 or y1 - y0 < 32:
                raise ValueError("The current view shows too little of the slide to score; zoom out or move "
                                 "the view onto the tissue.")
            scope = Region((x0, y0, x1 - x0, y1 - y0), None, "view")
        else:
            region = self.selection_provider()
            if region is None:
                raise ValueError("No region is selected: draw or select an annotation first, or choose "
                                 "another scope.")
            scope = region
        # the selected annotation's region has its Ignore annotations cut out already
        exclude = self.ignore_area(tab) if key != "selection" else None
        if exclude is not None:
            label += " without Ignore areas"
        return ScoreJob(tab.source, method, with_pixel_size(options, tab.source), scope, label=label,
                        exclude=exclude)

    def ignore_area(self, tab: QWidget) -> Any:
        """The union of the tab's Ignore annotations (shapely, level-0 px), or None: cheap on the main thread
        (no tissue mask; the scoring process cuts it out of each region's mask)."""
        from her2viewer.annotations.model import IGNORE_CLASS
        from her2viewer.annotations.regions import polygonal_union

        manager = getattr(self.window, "annotations", None)
        session = manager.session_for(tab) if manager is not None else None
        if session is None:
            return None
        return polygonal_union(a.geometry for a in session.aset if a.cls == IGNORE_CLASS)

    def run(self, method: str | None = None, options: ScoreOptions | None = None,
            scope_key: str | None = None, *, use_cache: bool = True) -> int | None:
        """Queue a scoring job for the current slide; returns its id (None when it could not start)."""
        tab = self.window.current_tab()
        if tab is None:
            self.controls.show_error("Open a slide before scoring.")
            return None
        try:
            job = self.job_for(tab, method, options, scope_key)
        except ValueError as exc:
            self.panel(tab).show_error(str(exc))
            return None
        job.use_cache = use_cache
        if method:
            if self.controls.method_combo.findText(method) < 0:
                self.controls.method_combo.addItem(method)
            self.controls.method_combo.setCurrentText(method)
        if "Scoring" in self.docks:
            self.docks["Scoring"].raise_()
        job_id = self.submit(tab, job)
        self.panel(tab).set_status(f"Queued: {job.method} on {job.label}")
        return job_id

    def case_details_dialog(self) -> QWidget | None:
        """Edit the current slide's case fields (stored in its project, printed in its report)."""
        from ..review.case_dialog import CaseDialog

        tab = self.window.current_tab()
        if tab is None:
            return None
        st = self.state(tab)
        if st.db is None:
            self.window.show_error("No project database", st.db_error or f"no project database for {tab.path}")
            return None
        dlg = CaseDialog(st.db, tab.path, self.window)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        dlg.show()
        return dlg

    def compare_methods(self, methods: list[str] | None = None) -> Any:
        """Score the current target (the Scope of the panel) with every method and show them side by side;
        the ComparisonRun, or None without a slide."""
        from .compare import ComparisonDialog, ComparisonRun

        tab = self.window.current_tab()
        if tab is None:
            self.controls.show_error("Open a slide before comparing methods.")
            return None
        combo = self.controls.method_combo
        methods = methods or [combo.itemText(i) for i in range(combo.count())]
        run = ComparisonRun(self, tab, methods)
        self.state(tab).comparison = run
        dlg = ComparisonDialog(run, f"Compare methods \u2014 {Path(tab.path).name}", self.window)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        dlg.show()
        self.comparison_dialog = dlg
        run.start()
        return run

    def _activate_region(self, name: str) -> None:
        st = self.state(self.window.current_tab()) if self.window.current_tab() is not None else None
        core = self._core(st, name) if st is not None else None
        self.activate_core(core)

    def _hover_current(self, l0_point: Any) -> None:
        tab = self.window.current_tab()      # the view under the mouse is the current tab's
        if tab is not None:
            self.hover_cell(tab, l0_point)

    def hover_cell(self, tab: QWidget, l0_point: Any) -> str | None:
        """Show the measurements of the cell under the cursor as a tooltip; returns its text (None: no cell)."""
        from PySide6.QtGui import QCursor
        from PySide6.QtWidgets import QToolTip

        from .result_layers import CELLS

        layer = tab.layers.find(CELLS)
        ds = tab.view.viewport.downsample
        if l0_point is None or layer is None or not layer.visible or not layer.shown_at(ds):
            QToolTip.hideText()
            return None
        cell = layer.nearest(float(l0_point[0]), float(l0_point[1]), max(6.0 * ds, 0.5 * layer.spacing))
        if cell is None:
            QToolTip.hideText()
            return None
        text = cell_tooltip(cell)
        QToolTip.showText(QCursor.pos(), text, tab.view)
        return text

    def calibrate_dialog(self) -> QWidget:
        """Tools > Calibrate scoring thresholds (a saved profile becomes the Scoring panel's choice)."""
        from .calibrate_dialog import CalibrateDialog

        dlg = CalibrateDialog(self.window, on_saved=self.controls.add_profile)
        dlg.show()
        self._calibrate_dialog = dlg
        return dlg

    def finetune_dialog(self) -> QWidget:
        """Tools > Fine-tune Model (the open project's reviewed cases; a saved model becomes the panel's choice)."""
        from .finetune_dialog import FinetuneDialog

        def saved(stem: Path) -> None:
            from her2viewer.models.checkpoint import read_card

            self.controls.method_combo.setCurrentText(read_card(stem).method)
            self.controls.fill_models()
            self.controls.choose_model(stem)

        project = self.project_provider() if self.project_provider is not None else None
        dlg = FinetuneDialog(self.window, project=project, on_saved=saved, on_calibrate=self.calibrate_dialog)
        dlg.show()
        self._finetune_dialog = dlg
        return dlg

    def load_saved_profiles(self) -> None:
        """Offer the stain profiles saved earlier (a broken one is logged and left out)."""
        from her2viewer.scoring.rules.profile import ProfileError

        from .calibrate_dialog import profiles_folder

        folder = profiles_folder()
        current = self.controls.profile_combo.currentIndex()
        for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
            try:
                self.controls.add_profile(path)
            except ProfileError as e:
                log.warning("%s", e)
        self.controls.profile_combo.setCurrentIndex(current)

    def _criteria_changed(self, value: tuple[str, str]) -> None:
        tab = self.window.current_tab()
        if tab is not None:
            self.state(tab).criteria = tuple(value)

    def score_anyway(self, method: str) -> int | None:
        """Score the current slide with `method` although the input checks found it not assessable."""
        return self.run(method, replace(self.controls.options(), force=True))

    def cancel(self) -> None:
        """Cancel the queued and running jobs of the current slide (every job when no slide is open)."""
        tab = self.window.current_tab()
        if tab is None:
            self.engine.cancel_all()
            return
        for job in self.engine.active_jobs():
            if self._job_tabs.get(job.id) == id(tab):
                self.engine.cancel(job.id)

    # -- engine signals ---------------------------------------------------------------------------------------
    def _on_started(self, job_id: int) -> None:
        job = self.engine.job(job_id)
        tab = self._tab_for_job(job_id)
        if tab is None:
            return
        panel = self.panel(tab)
        panel.set_busy(True)
        if job is not None:
            panel.set_status(f"Running {job.method} on {job.slide_name} ({job.label})")

    def _on_progress(self, job_id: int, fraction: float, message: str, eta_s: float) -> None:
        tab = self._tab_for_job(job_id)
        if tab is not None:
            self.panel(tab).show_progress(fraction, message, eta_s)

    def _on_finished(self, job_id: int, result: ScoreResult) -> None:
        job = self.engine.job(job_id)
        tab = self._tab_for_job(job_id)
        if tab is None:
            return
        from_cache = bool(job and job.from_cache)
        when = "loaded from the cache" if from_cache else f"in {result.elapsed_s:.1f} s"
        call = (result.score or result.score3) if result.assessable else "not assessable"
        self.panel(tab).show_done(f"{result.method}: {call} ({when})")
        self._refresh_busy(tab)
        if job_id in self.state(tab).jobs:
            self.show_result(tab, result, from_cache=from_cache)
            if "Review" in self.docks and not self.engine.busy and tab is self.window.current_tab():
                self.docks["Review"].raise_()

    def _on_failed(self, job_id: int, message: str) -> None:
        tab = self._tab_for_job(job_id)
        panel = self.panel(tab)
        panel.show_error(message)
        panel.set_status("Failed.")
        self._refresh_busy(tab)

    def _on_cancelled(self, job_id: int) -> None:
        tab = self._tab_for_job(job_id)
        if tab is not None:
            self.panel(tab).set_status("Cancelled.")
            self._refresh_busy(tab)

    def _on_idle(self) -> None:
        self.controls.set_busy(False)
        for st in self.states.values():
            st.panel.set_busy(False)

    def _on_cached(self, slide_path: str, found: list) -> None:
        for tab in self.window.slide_tabs():
            st = self.state(tab)
            if tab.path == slide_path and st.result is None and found:
                # newest first; prefer one scored at the pixel size the slide has now
                same = [c for c in found if result_mpp_matches(c.result, tab.source)]
                self.show_result(tab, (same or found)[0].result, from_cache=True)

    def slide_opened(self, tab: QWidget) -> None:
        """A slide was opened: look for its cached results; hovering a cell shows its measurements."""
        self.state(tab)
        tab.view.sigCursorMoved.connect(self._hover_current)
        if tab.path:
            self.engine.load_cached(tab.path)

    # -- showing ----------------------------------------------------------------------------------------------
    def show_result(self, tab: QWidget, result: ScoreResult, *, from_cache: bool = False) -> None:
        """Make `result` the shown result of a tab: overlays on its layer stack, panels when it is current."""
        st = self.state(tab)
        st.result, st.from_cache, st.core_id = result, from_cache, None
        install_result_layers(tab.layers, result, tuple(tab.source.dimensions))
        if tab is self.window.current_tab():
            self.update_panels()

    def update_panels(self) -> None:
        """Show the current tab's result and review target in the panels."""
        self.forget_closed_tabs()
        tab = self.window.current_tab()
        self._switch_panel_state(tab)
        if tab is None:
            self.score_panel.set_result(None)
            self.measurements_panel.set_result(None)
            self.review_panel.set_target(None, None)
            self.sigResultShown.emit(None)
            return
        st = self.state(tab)
        self.controls.set_criteria(st.criteria)
        self.score_panel.set_result(st.result, from_cache=st.from_cache)
        self.measurements_panel.set_result(st.result, tab.path)
        dock = self.docks.get("Measurements") if hasattr(self, "docks") else None
        if dock is not None and st.result is not None and not getattr(self, "_measurements_opened", False) \
                and (st.result.cells or any(c.cells for c in st.result.cores)):
            self._measurements_opened = True      # once: the user may close it after
            dock.show()
        if st.core_id and st.result is not None:
            self.score_panel.show_core(st.core_id)
        self.review_panel.set_target(st.db, tab.path, core_id=st.core_id, suggestion=st.result)
        if st.db_error:
            self.review_panel._error(st.db_error)
        self.show_reviewed()
        self.sigResultShown.emit(st.result)

    def _switch_panel_state(self, tab: QWidget | None) -> None:
        """Keep what the Scoring panel shows for the tab left, show the kept state of the tab come to."""
        key = id(tab) if tab is not None else None
        if key == self._shown_key:
            return
        if self._shown_key in self.states:
            self.states[self._shown_key].panel = self.controls.panel_state()
        self._shown_key = key
        self.controls.restore_panel_state(self.state(tab).panel if tab is not None else PanelState())

    def _core(self, st: TabState, core_id: str | None) -> CoreResult | None:
        if st.result is None or core_id is None:
            return None
        return next((c for c in st.result.cores if c.id == core_id), None)

    def activate_core(self, core: CoreResult | None) -> None:
        """Show one core (None: the whole slide): move the view there and review it."""
        tab = self.window.current_tab()
        if tab is None:
            return
        st = self.state(tab)
        st.core_id = core.id if core is not None else None
        layer = tab.layers.find(CORES)
        if isinstance(layer, CoreScoreLayer):
            layer.set_highlighted(st.core_id)
        if core is not None:
            x, y, w, h = core.bbox
            m = 0.08 * max(w, h)
            tab.view.fit_rect(x - m, y - m, w + 2 * m, h + 2 * m)
        self.review_panel.set_target(st.db, tab.path, core_id=st.core_id, suggestion=st.result)

    def show_reviewed(self) -> None:
        """Put the reviewed core scores into the table and the core badges."""
        tab = self.window.current_tab()
        if tab is None:
            return
        st = self.state(tab)
        reviewed: dict[str, str] = {}
        patients: dict[str, str] = {}
        if st.db is not None and tab.path:
            try:
                reviewed = {r.core_id: r.score for r in st.db.reviews_for_slide(tab.path) if r.core_id}
                patients = {c: p or k for c, (p, k) in st.db.tma_map(tab.path).items()}
            except ProjectError as exc:
                self.review_panel._error(str(exc))
        self.score_panel.set_reviewed(reviewed)
        self.score_panel.set_patients(patients)
        layer = tab.layers.find(CORES)
        if isinstance(layer, CoreScoreLayer):
            layer.set_reviewed(reviewed)

    def wait_result(self, job_id: int, timeout_s: float = 300.0) -> tuple[str, object]:
        """Run the event loop until a job ends: ("finished", result) | ("failed", message) | ("cancelled",
        None) | ("timeout", None). For the screenshot command and scripts."""
        from ..common.qapp import wait_until

        out: list[tuple[str, object]] = []
        conns = [
            (self.engine.sigFinished, lambda i, r: i == job_id and out.append(("finished", r))),
            (self.engine.sigFailed, lambda i, m: i == job_id and out.append(("failed", m))),
            (self.engine.sigCancelled, lambda i: i == job_id and out.append(("cancelled", None))),
        ]
        for sig, slot in conns:
            sig.connect(slot)
        try:
            if not wait_until(lambda: bool(out), timeout_s):
                return "timeout", None
            return out[0]
        finally:
            for sig, slot in conns:
                sig.disconnect(slot)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        """Stop the engine when the window closes."""
        if obj is self.window and event.type() == QEvent.Type.Close:
            self.close()
        return False

    def close(self) -> None:
        """Stop the engine and close the project databases."""
        self.engine.close()
        for st in self.states.values():
            if st.db is not None:
                st.db.close()
        self.states.clear()


def cell_tooltip(cell: dict) -> str:
    """The hover text of one cell's measurements."""
    lines = [("Tumour cell" if cell["tumour"] else "Not a tumour cell (not counted)"),
             f"Membrane: {cell['class']}, {'complete' if cell['complete'] else 'incomplete'}"]
    if cell.get("membrane_od") is not None:
        lines.append(f"Membrane DAB OD: {cell['membrane_od']:.3f}")
    if cell.get("completeness") is not None:
        lines.append(f"Ring stained: {cell['completeness']:.0%}")
    lines.append(f"at x {cell['x']:,.0f}  y {cell['y']:,.0f} px")
    return "\n".join(lines)
