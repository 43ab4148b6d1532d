"""The main window: slides as tabs, menus, overview / layers / display docks, status bar, recent files."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtGui import QAction, QActionGroup, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QInputDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QTabWidget,
    QWidget,
)

from .annotations.actions import install_annotations
from .common.help import install_help
from .project import install_project
from .scoring.dock import install_scoring
from .viewer.display_panel import DisplayPanel
from .viewer.layers_panel import LayersPanel
from .viewer.opener import SlideOpener
from .viewer.overview import OverviewWidget
from .viewer.properties_dialog import PropertiesDialog
from .viewer.slide_tab import SlideTab
from .viewer.snapshot import SNAPSHOT_FILTER, render_snapshot, save_image
from .viewer.tissue_layers import OverlayJobs
from .viewer.viewport import MAGNIFICATION_PRESETS

log = logging.getLogger(__name__)

MAX_RECENT = 10
SNAPSHOT_MAGNIFICATIONS = (2.5, 5.0, 10.0, 20.0, 40.0)
SLIDE_FILTER = ("Slides and images (*.svs *.ndpi *.mrxs *.scn *.tif *.tiff *.ome.tif *.ome.tiff *.vms "
                "*.vmu *.bif *.svslide *.jpg *.jpeg *.png *.bmp);;All files (*)")


#: what the status bar and the properties add to a pixel size that is not known for sure
UNSURE_MPP = {"estimated": " (est.)", "assumed": " (assumed)"}


def pixel_size_key(path: str | Path) -> str:
    """The settings key of the pixel size the user set for a slide (by its absolute path)."""
    p = Path(path).expanduser()
    try:
        p = p.resolve()
    except OSError:
        p = p.absolute()
    return "pixel_size/" + hashlib.sha1(str(p).encode("utf-8")).hexdigest()


def app_settings() -> QSettings:
    """The application's persistent settings (recent files, window layout)."""
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, "her2viewer", "her2viewer")


def _alive_and_visible(widget: QWidget) -> bool:
    try:
        return widget.isVisible()
    except RuntimeError:  # deleted on close
        return False


class MainWindow(QMainWindow):
    """The viewer window; `open_paths` opens files as tabs, errors show a dialog naming the file."""

    sigError = Signal(str)          # every message shown to the user in an error dialog
    sigSlideOpened = Signal(object)  # SlideTab
    sigPixelSizeChanged = Signal(object)  # SlideTab whose source's pixel size changed after it opened

    def __init__(self, settings: QSettings | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._pending_tabs: list[tuple[QDockWidget, QDockWidget]] | None = []   # None once shown
        self.settings = settings or app_settings()
        self.setWindowTitle("HER2 Viewer")
        self.resize(1400, 900)
        self.setAcceptDrops(True)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.setTabsClosable(True)
        self.tabs.setMovable(True)
        self.tabs.tabCloseRequested.connect(self.close_tab)
        self.tabs.currentChanged.connect(self._on_current_tab)
        self.setCentralWidget(self.tabs)
        self.opener = SlideOpener(self)
        self.opener.sigOpened.connect(self._on_opened)
        self.opener.sigFailed.connect(lambda path, msg: self.show_error("Cannot open slide", msg))
        self.opener.sigResolved.connect(self._on_resolved)
        self.overlays = OverlayJobs(self)
        for sig in (self.overlays.sigFinished, self.overlays.sigFailed):
            sig.connect(lambda *_: self.overlays.running == 0 and self.statusBar().clearMessage())
        self.overlays.sigFailed.connect(
            lambda name, msg: self.show_error("Overlay failed", f"Cannot compute the {name} overlay: {msg}"))
        self.overview = OverviewWidget()
        self.overview.setMaximumHeight(260)
        self.layers_panel = LayersPanel()
        self.layers_panel.list.setMaximumHeight(180)
        self.display_panel = DisplayPanel()
        self.display_panel.sigDisplayChanged.connect(self._on_display)
        self.docks = {}
        for title, widget, area in (("Overview", self.overview, Qt.DockWidgetArea.RightDockWidgetArea),
                                    ("Layers", self.layers_panel, Qt.DockWidgetArea.RightDockWidgetArea),
                                    ("Display", self.display_panel, Qt.DockWidgetArea.RightDockWidgetArea)):
            dock = QDockWidget(title, self)
            dock.setObjectName(f"dock_{title.lower()}")
            dock.setWidget(widget)
            self.addDockWidget(area, dock)
            self.docks[title] = dock
        self.cursor_label = QLabel()
        self.zoom_label = QLabel()
        self.statusBar().addWidget(self.cursor_label, 1)
        self.statusBar().addPermanentWidget(self.zoom_label)
        self.error_boxes: list[QMessageBox] = []
        self._dialogs: list[QWidget] = []
        self._build_menus()
        self._on_current_tab(-1)
        self.annotations = install_annotations(self)
        self.scoring = install_scoring(self)
        self.scoring.selection_provider = self.annotations.selected_region
        self.annotations.result_for = self.scoring.result_for
        self.project = install_project(self)
        self.scoring.project_provider = lambda: self.project.project
        self.help_menu = install_help(self)

    # -- menus ----------------------------------------------------------------------------------------
    def _action(self, menu, text: str, slot, shortcut=None, checkable: bool = False) -> QAction:
        act = QAction(text, self, checkable=checkable)
        if shortcut is not None:
            act.setShortcut(QKeySequence(shortcut))
        act.triggered.connect(slot)
        menu.addAction(act)
        return act

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file = bar.addMenu("&File")
        self._action(file, "&Open...", self.open_dialog, QKeySequence.StandardKey.Open)
        self.recent_menu = file.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        self._fill_recent()
        self.slide_actions = [
            self._action(file, "&Properties...", self.show_properties, "Ctrl+I"),
            self._action(file, "Export &Snapshot...", self.export_snapshot_dialog, "Ctrl+Shift+E"),
            self._action(file, "&Close Slide", lambda: self.close_tab(self.tabs.currentIndex()),
                         QKeySequence.StandardKey.Close),
        ]
        file.addSeparator()
        self._action(file, "&Quit", self.close, QKeySequence.StandardKey.Quit)

        view = bar.addMenu("&View")
        tab = self.current_tab
        self.slide_actions += [
            self._action(view, "Zoom to &Fit", lambda: tab() and tab().view.fit(), "0"),
            self._action(view, "&1:1 (full resolution)", lambda: tab() and tab().view.one_to_one(), "1"),
            self._action(view, "Zoom &In", lambda: tab() and tab().view.zoom_by(2**0.5), "+"),
            self._action(view, "Zoom &Out", lambda: tab() and tab().view.zoom_by(2**-0.5), "-"),
        ]
        self.zoom_rect_action = self._action(view, "Zoom to &Rectangle Tool (or Shift+drag)",
                                             self._on_zoom_tool, "Z", checkable=True)
        mags = view.addMenu("&Magnification")
        self.mag_actions = []
        group = QActionGroup(self)
        for mag in MAGNIFICATION_PRESETS:
            act = self._action(mags, f"{mag:g}x", lambda _=False, m=mag: tab() and tab().view.set_magnification(m))
            group.addAction(act)
            self.mag_actions.append(act)
        view.addSeparator()
        for dock in self.docks.values():
            view.addAction(dock.toggleViewAction())

        overlays = bar.addMenu("&Overlays")
        self.slide_actions += [
            self._action(overlays, "Show &Tissue Mask", lambda: self.start_overlay("tissue")),
            self._action(overlays, "Show TMA &Grid", lambda: self.start_overlay("tma")),
        ]

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        files = self.recent_files()
        for path in files:
            act = QAction(path, self)
            act.triggered.connect(lambda _=False, p=path: self.open_paths([p]))
            self.recent_menu.addAction(act)
        if files:
            self.recent_menu.addSeparator()
            clear = QAction("Clear List", self)
            clear.triggered.connect(self._clear_recent)
            self.recent_menu.addAction(clear)
        # the menu's own action: a disabled QMenu never shows, so it could never refill itself
        self.recent_menu.menuAction().setEnabled(bool(files))

    def _clear_recent(self) -> None:
        self.settings.setValue("recent_files", [])
        self._fill_recent()

    # -- recent files -----------------------------------------------------------------------------------
    def recent_files(self) -> list[str]:
        """Recently opened slides, newest first."""
        value = self.settings.value("recent_files", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or [])]

    def _add_recent(self, path: str) -> None:
        path = str(Path(path).resolve()) if Path(path).exists() else path
        files = [path] + [p for p in self.recent_files() if p != path]
        self.settings.setValue("recent_files", files[:MAX_RECENT])
        self.settings.sync()
        self._fill_recent()

    # -- opening ------------------------------------------------------------------------------------------
    def open_dialog(self) -> None:
        """Ask for slide files and open them."""
        start = str(Path(self.recent_files()[0]).parent) if self.recent_files() else ""
        paths, _ = QFileDialog.getOpenFileNames(self, "Open slides", start, SLIDE_FILTER)
        self.open_paths(paths)

    def open_paths(self, paths) -> None:
        """Open files as tabs (in the background); failures show an error dialog."""
        for p in paths:
            self.opener.open(str(p), user_mpp=self.remembered_pixel_size(str(p)))

    # -- pixel size -------------------------------------------------------------------------------------
    def remembered_pixel_size(self, path: str) -> float | None:
        """The pixel size (um/px) the user set for this slide earlier, or None."""
        value = self.settings.value(pixel_size_key(path))
        try:
            mpp = float(value) if value not in (None, "") else None
        except (TypeError, ValueError):
            return None
        return mpp if mpp and mpp > 0 else None

    def set_pixel_size(self, tab: SlideTab, mpp: float | None) -> None:
        """Use `mpp` (um/px, set by the user) for a slide and remember it; None goes back to the file's
        value, else to an estimate (made in the background), and forgets the remembered one."""
        source = tab.source
        key = pixel_size_key(tab.path)
        if mpp is not None:
            if getattr(source, "mpp_source", None) in ("file", "estimated", "assumed", None):
                tab.auto_pixel_size = (source.mpp, getattr(source, "mpp_source", None),
                                       getattr(source, "mpp_uncertainty", None))
            source.set_pixel_size(float(mpp), "user")
            self.settings.setValue(key, float(mpp))
        else:
            self.settings.remove(key)
            source.set_pixel_size(None)
            auto = getattr(tab, "auto_pixel_size", None)
            if not source.mpp:
                if auto is not None and auto[0] and auto[1] in ("estimated", "assumed"):
                    source.set_pixel_size(auto[0], auto[1], auto[2])
                else:
                    self.opener.resolve(source)     # estimate: sigResolved follows
        self.settings.sync()
        self._pixel_size_changed(tab)

    def _on_resolved(self, source) -> None:
        for tab in self.slide_tabs():
            if tab.source is source:
                self._pixel_size_changed(tab)

    def _pixel_size_changed(self, tab: SlideTab) -> None:
        tab.view.pixel_size_changed()
        if tab is self.current_tab():
            self._on_current_tab(self.tabs.currentIndex())
        for dlg in list(self._dialogs):
            try:
                if isinstance(dlg, PropertiesDialog) and dlg.source is tab.source:
                    dlg.refresh()
            except RuntimeError:  # closed and deleted
                self._dialogs.remove(dlg)
        self.sigPixelSizeChanged.emit(tab)

    def _on_opened(self, path: str, source) -> None:
        tab = SlideTab(source)
        tab.view.sigViewChanged.connect(self._update_zoom_label)
        tab.view.sigCursorMoved.connect(self._update_cursor_label)
        index = self.tabs.addTab(tab, Path(path).name)
        self.tabs.setTabToolTip(index, path)
        self.tabs.setCurrentIndex(index)
        self._add_recent(path)
        tab.view.setFocus()
        self.sigSlideOpened.emit(tab)

    def show_error(self, title: str, message: str) -> None:
        """Tell the user what went wrong, in a window-modal box that does not block the event loop."""
        log.debug("%s: %s", title, message)   # shown in the box (and by --screenshot): not printed twice
        box = QMessageBox(QMessageBox.Icon.Critical, title, message, QMessageBox.StandardButton.Ok, self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        box.finished.connect(lambda _=0, b=box: self.error_boxes.remove(b) if b in self.error_boxes else None)
        self.error_boxes.append(box)
        box.open()
        self.sigError.emit(message)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        self.open_paths(paths)
        event.acceptProposedAction()

    # -- tabs ------------------------------------------------------------------------------------------------
    def current_tab(self) -> SlideTab | None:
        """The slide shown now, or None."""
        w = self.tabs.currentWidget()
        return w if isinstance(w, SlideTab) else None

    def slide_tabs(self) -> list[SlideTab]:
        """All open slides in tab order."""
        return [self.tabs.widget(i) for i in range(self.tabs.count())]

    def close_tab(self, index: int) -> None:
        """Close the slide in tab `index`."""
        tab = self.tabs.widget(index)
        if isinstance(tab, SlideTab):
            self.tabs.removeTab(index)
            tab.dispose()
            tab.deleteLater()

    def _on_current_tab(self, _index: int) -> None:
        tab = self.current_tab()
        self.overview.set_view(tab.view if tab else None)
        self.layers_panel.set_stack(tab.layers if tab else None)
        if tab is not None:
            self.display_panel.set_settings(tab.display)
            tab.view.tool = "zoom_rect" if self.zoom_rect_action.isChecked() else "pan"
            self.setWindowTitle(f"{Path(tab.path).name} - HER2 Viewer")
        else:
            self.setWindowTitle("HER2 Viewer")
        for act in self.slide_actions + self.mag_actions:
            act.setEnabled(tab is not None)
        if tab is not None and tab.view.base_mag is None:
            for act in self.mag_actions:
                act.setEnabled(False)
        self.display_panel.setEnabled(tab is not None)
        self._update_zoom_label()
        self.cursor_label.setText("")

    # -- status bar ----------------------------------------------------------------------------------------
    def _update_zoom_label(self) -> None:
        tab = self.current_tab()
        if tab is None:
            self.zoom_label.setText("")
            return
        v = tab.view
        mag = v.magnification
        mag_text = f"{mag:.3g}x" if mag is not None else f"{100.0 / v.downsample:.3g}%"
        ds = tab.source.level_downsamples[v.level]
        self.zoom_label.setText(f"{mag_text}  |  level {v.level} (downsample {ds:.3g})")

    def _update_cursor_label(self, pos) -> None:
        tab = self.current_tab()
        if pos is None or tab is None:
            self.cursor_label.setText("")
            return
        x, y = pos
        text = f"x {x:,.0f}  y {y:,.0f} px"
        mpp = tab.source.mpp
        if mpp:
            text += f"   |   x {x * mpp:,.1f}  y {y * mpp:,.1f} \u00b5m"
            text += UNSURE_MPP.get(getattr(tab.source, "mpp_source", None) or "", "")
        self.cursor_label.setText(text)

    # -- actions ---------------------------------------------------------------------------------------------
    def show_properties(self) -> PropertiesDialog | None:
        """Open the properties dialog of the current slide."""
        tab = self.current_tab()
        if tab is None:
            return None
        dlg = PropertiesDialog(tab.source, self, on_pixel_size=lambda mpp, t=tab: self.set_pixel_size(t, mpp))
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        self._dialogs = [d for d in self._dialogs if _alive_and_visible(d)] + [dlg]
        dlg.show()
        return dlg

    def export_snapshot_dialog(self) -> None:
        """Ask for a resolution and a file, then save the current view with its overlays (PNG or TIFF)."""
        tab = self.current_tab()
        if tab is None:
            return
        base = tab.view.base_mag
        choices = ["Screen resolution"] + [f"{m:g}x" for m in SNAPSHOT_MAGNIFICATIONS if base and m <= base * 1.01]
        choice, ok = QInputDialog.getItem(self, "Export snapshot", "Resolution of the current view:", choices, 0,
                                          False)
        if not ok:
            return
        folder = self.scoring.project_dir(tab.path) / "snapshots"
        folder.mkdir(parents=True, exist_ok=True)          # offered in the project, never beside the slide
        path, _ = QFileDialog.getSaveFileName(self, "Export snapshot", str(folder / f"{Path(tab.path).stem}.png"),
                                              SNAPSHOT_FILTER)
        if path:
            self.export_snapshot(path, None if choice.startswith("Screen") else float(choice.rstrip("x")))

    def export_snapshot(self, path: str | Path, magnification: float | None = None) -> Path | None:
        """Save the current view (at screen resolution, or at `magnification`) with its overlays, legends and
        scale bar; an error dialog names the file when it cannot."""
        tab = self.current_tab()
        if tab is None:
            return None
        r = tab.view.l0_rect()
        ds = tab.view.downsample
        if magnification is not None and tab.view.base_mag:
            ds = tab.view.base_mag / magnification
        self.statusBar().showMessage(f"Rendering the snapshot {Path(path).name}...")
        try:
            out = save_image(render_snapshot(tab, (r.x(), r.y(), r.width(), r.height()), ds), path)
        except (ValueError, TimeoutError, OSError) as e:
            self.show_error("Cannot export the snapshot", f"{path}: {e}")
            return None
        self.statusBar().showMessage(f"Snapshot saved to {out}", 8000)
        return out

    def start_overlay(self, name: str) -> None:
        """Compute an overlay ("tissue" or "tma") for the current slide in the background."""
        tab = self.current_tab()
        if tab is not None:
            self.overlays.start(name, tab.source, tab.layers)
            self.statusBar().showMessage(f"Computing the {name} overlay...")

    def _on_zoom_tool(self, checked: bool) -> None:
        for tab in self.slide_tabs():
            tab.view.tool = "zoom_rect" if checked else "pan"

    def _on_display(self, settings) -> None:
        tab = self.current_tab()
        if tab is not None:
            tab.set_display(settings)

    def tabifyDockWidget(self, first: QDockWidget, second: QDockWidget) -> None:  # noqa: N802 (Qt's name)
        """Tab `second` onto `first`. Before the window is first shown this is kept for the first show: Qt 6.11
        tabifying two groups before then leaves a stale copy of a tab bar drawn over the docks."""
        if self._pending_tabs is None:
            super().tabifyDockWidget(first, second)
        else:
            self._pending_tabs.append((first, second))

    def showEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        """On the first show, tab the docks that were tabified before it (the first of each pair in front)."""
        super().showEvent(event)
        pending, self._pending_tabs = self._pending_tabs, None
        for first, second in pending or []:
            super().tabifyDockWidget(first, second)
        for first, _second in pending or []:
            first.raise_()

    def closeEvent(self, event) -> None:
        for tab in self.slide_tabs():
            tab.dispose()
        self.project.close()
        self.opener.close()
        self.overlays.close()
        super().closeEvent(event)
