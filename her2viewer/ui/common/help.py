"""Help menu: Keyboard Shortcuts (every action of the window that has one, by menu) and About (version,
licence note, and each bundled model with what its card says it was trained on and measured)."""

from __future__ import annotations

import html
from typing import Any

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QMainWindow,
    QMenu,
    QTableWidget,
    QTableWidgetItem,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)


def shortcut_rows(window: QMainWindow) -> list[tuple[str, str, str]]:
    """(menu, action, shortcut) of every menu action of the window with a shortcut, in menu order."""
    rows: list[tuple[str, str, str]] = []

    def walk(menu: QMenu, path: str) -> None:
        for act in menu.actions():
            if act.menu() is not None:
                walk(act.menu(), f"{path} > {act.text().replace('&', '')}")
            elif not act.isSeparator() and not act.shortcut().isEmpty():
                rows.append((path, act.text().replace("&", ""),
                             act.shortcut().toString(QKeySequence.SequenceFormat.NativeText)))

    for act in window.menuBar().actions():
        if act.menu() is not None:
            walk(act.menu(), act.text().replace("&", ""))
    seen = {r[2] for r in rows}
    for act in window.findChildren(QAction):     # toolbar-only actions (annotation tools)
        key = act.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
        if key and key not in seen and act.text():
            rows.append(("Tools", act.text().replace("&", ""), key))
            seen.add(key)
    return rows


def _dialog(parent: QWidget, title: str, body: QWidget) -> QDialog:
    dlg = QDialog(parent)
    dlg.setWindowTitle(title)
    lay = QVBoxLayout(dlg)
    lay.addWidget(body)
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
    buttons.rejected.connect(dlg.reject)
    lay.addWidget(buttons)
    dlg.resize(620, 520)
    return dlg


def shortcuts_dialog(window: QMainWindow) -> QDialog:
    """A table of the window's keyboard shortcuts."""
    rows = shortcut_rows(window)
    table = QTableWidget(len(rows), 3)
    table.setHorizontalHeaderLabels(["Menu", "Action", "Shortcut"])
    for r, values in enumerate(rows):
        for c, text in enumerate(values):
            table.setItem(r, c, QTableWidgetItem(text))
    table.resizeColumnsToContents()
    table.verticalHeader().hide()
    return _dialog(window, "Keyboard Shortcuts", table)


def about_html() -> str:
    """The About text: version, the research-use statement, and the bundled models' cards in brief."""
    from her2viewer import __version__
    from her2viewer.models.checkpoint import RESOURCES_MODELS, CheckpointError, read_card

    parts = [f"<h2>HER2 Viewer {html.escape(__version__)}</h2>",
             "<p><b>Research use only; not a medical device.</b> Suggested scores must be reviewed by a "
             "qualified pathologist.</p><h3>Bundled models</h3><ul>"]
    for card_file in sorted(RESOURCES_MODELS.glob("*_default.json")):
        try:
            card = read_card(card_file)
        except CheckpointError as e:
            parts.append(f"<li>{html.escape(card_file.name)}: cannot read its card ({html.escape(str(e))})</li>")
            continue
        train = card.training_data.get("train") if isinstance(card.training_data.get("train"), dict) else {}
        data = card.description or ""
        if train:
            data += (f" ({train.get('n_items', '?')} items, {train.get('generator_version', 'real')}"
                     f"{', seeds ' + str(train['seeds']) if train.get('seeds') else ''})")
        test = card.metrics.get("test") if isinstance(card.metrics.get("test"), dict) else {}
        metrics = (f"test accuracy {test['accuracy']:.1%} on {test.get('n', '?')} items"
                   if isinstance(test.get("accuracy"), (int, float)) else "")
        parts.append(f"<li><b>{html.escape(card.name)}</b> ({html.escape(card.method)}, "
                     f"{html.escape(str(card.architecture.get('name', '')))}; sha256 {card.sha256[:12]})"
                     + (f"<br>trained on: {html.escape(str(data))}" if data else "")
                     + (f"<br>measured: {html.escape(metrics)}" if metrics else "") + "</li>")
    parts.append(f"</ul><p>Model cards: {html.escape(str(RESOURCES_MODELS))}</p>")
    return "".join(parts)


def about_dialog(window: QMainWindow) -> QDialog:
    """The About box."""
    text = QTextBrowser()
    text.setHtml(about_html())
    return _dialog(window, "About HER2 Viewer", text)


def install_help(window: Any) -> QMenu:
    """Add the Help menu (Keyboard Shortcuts: F1 / Ctrl+/; About) as the last menu of the window."""
    menu = window.menuBar().addMenu("&Help")
    dialogs: list[QDialog] = []

    def show(make) -> None:  # noqa: ANN001
        dlg = make(window)
        dialogs[:] = [d for d in dialogs if d.isVisible()] + [dlg]
        dlg.show()

    act = QAction("&Keyboard Shortcuts", window)
    act.setShortcuts([QKeySequence("F1"), QKeySequence("Ctrl+/")])
    act.triggered.connect(lambda: show(shortcuts_dialog))
    menu.addAction(act)
    about = QAction("&About HER2 Viewer", window)
    about.triggered.connect(lambda: show(about_dialog))
    menu.addAction(about)
    return menu
