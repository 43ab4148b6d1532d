"""Finding the main window's menus by title, so each room can add its actions to the shared menus."""

from __future__ import annotations

from PySide6.QtWidgets import QMainWindow, QMenu


def find_menu(window: QMainWindow, title: str) -> QMenu:
    """The menu bar's menu called `title` (ignoring '&'), created at the end when missing."""
    bar = window.menuBar()
    plain = title.replace("&", "")
    for act in bar.actions():
        if act.menu() is not None and act.text().replace("&", "") == plain:
            return act.menu()
    return bar.addMenu(title)
