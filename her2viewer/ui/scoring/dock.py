"""Scoring in the main window: `install_scoring(window)` adds the Score, Scoring, Review, Heatmap and
Measurements docks, a Score menu and the engine to a `MainWindow` through what the window exposes (its tabs,
`current_tab()`, `slide_tabs()`, `sigSlideOpened`, the menu bar)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QMainWindow,
    QScrollArea,
    QWidget,
)

from ..common.menus import find_menu
from .attention_panel import install_attention_panel
from .controller import ScoringController


def _dock(window: QMainWindow, title: str, widget: QWidget, area: Qt.DockWidgetArea, scroll: bool) -> QDockWidget:
    dock = QDockWidget(title, window)
    dock.setObjectName(f"dock_{title.lower().replace(' ', '_')}")
    if scroll:
        area_widget = QScrollArea()
        area_widget.setWidgetResizable(True)
        area_widget.setWidget(widget)
        dock.setWidget(area_widget)
    else:
        dock.setWidget(widget)
    window.addDockWidget(area, dock)
    return dock


def install_scoring(window: QMainWindow, *, project_folder: str | Path | None = None) -> ScoringController:
    """Add the scoring docks, the Score menu and the engine to a main window; returns the controller."""
    ctl = ScoringController(window, project_folder=project_folder)
    left = Qt.DockWidgetArea.LeftDockWidgetArea
    docks = {
        "Score": _dock(window, "Score", ctl.score_panel, left, True),
        "Scoring": _dock(window, "Scoring", ctl.controls, left, False),
        "Review": _dock(window, "Review", ctl.review_panel, left, True),
    }
    window.tabifyDockWidget(docks["Scoring"], docks["Review"])
    docks["Heatmap"] = install_attention_panel(window, ctl)
    docks["Measurements"] = _dock(window, "Measurements", ctl.measurements_panel,
                                  Qt.DockWidgetArea.BottomDockWidgetArea, False)
    docks["Measurements"].hide()       # View it from the Score menu; it opens itself on a rules result
    docks["Scoring"].raise_()
    window.resizeDocks([docks["Score"]], [390], Qt.Orientation.Horizontal)
    window.resizeDocks([docks["Score"], docks["Scoring"]], [600, 380], Qt.Orientation.Vertical)
    ctl.docks = docks
    window.sigSlideOpened.connect(ctl.slide_opened)
    window.tabs.currentChanged.connect(lambda _i: ctl.update_panels())
    menu = window.menuBar().addMenu("&Score")
    actions = []

    def add(text: str, slot, shortcut: str | None = None) -> QAction:
        act = QAction(text, window)
        if shortcut:
            act.setShortcut(QKeySequence(shortcut))
        act.triggered.connect(slot)
        menu.addAction(act)
        actions.append(act)
        return act

    add("&Run Scorer", lambda: ctl.run(), "Ctrl+R")
    add("Score with R&ules (ASCO/CAP)", lambda: ctl.run(method="rules"), "Ctrl+Shift+U")
    add("Score with &PSS", lambda: ctl.run(method="pss"), "Ctrl+Shift+P")
    add("Re-run (ignore the cache)", lambda: ctl.run(use_cache=False), "Ctrl+Shift+R")
    add("Compare &All Methods", lambda: ctl.compare_methods(), "Ctrl+Shift+M")
    add("&Cancel Scoring", ctl.cancel, "Ctrl+.")
    menu.addSeparator()
    add("&Accept Suggestion", lambda: ctl.review_panel.accept_suggestion(), "Ctrl+Return")
    add("Case &Details...", ctl.case_details_dialog, "Ctrl+Shift+D")
    add("Show &Whole Slide Result", lambda: ctl.score_panel.show_slide(), "Ctrl+Shift+W")
    menu.addSeparator()
    for dock in docks.values():
        menu.addAction(dock.toggleViewAction())
    ctl.menu, ctl.actions = menu, actions
    calibrate = QAction("&Calibrate Scoring Thresholds...", window)
    calibrate.triggered.connect(ctl.calibrate_dialog)
    find_menu(window, "&Tools").addAction(calibrate)
    actions.append(calibrate)
    finetune = QAction("&Fine-tune Model...", window)
    finetune.setShortcut(QKeySequence("Ctrl+Shift+F"))
    finetune.triggered.connect(ctl.finetune_dialog)
    find_menu(window, "&Tools").addAction(finetune)
    actions.append(finetune)
    ctl.load_saved_profiles()
    window.installEventFilter(ctl)
    for tab in window.slide_tabs():
        ctl.slide_opened(tab)
    ctl.update_panels()
    return ctl
