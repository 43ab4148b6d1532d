"""The QApplication: create it once, and run its event loop until a condition holds."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence

from PySide6.QtCore import QEventLoop
from PySide6.QtWidgets import QApplication


def ensure_app(argv: Sequence[str] | None = None) -> QApplication:
    """The running QApplication, created when there is none."""
    app = QApplication.instance()
    if app is None:
        # Tile workers hold the GIL in short bursts; a shorter switch interval keeps the UI thread's
        # waits for it well under a frame (the default 5 ms per hand-over adds up over a paint).
        sys.setswitchinterval(0.001)
        app = QApplication(list(argv or ["her2viewer"]))
        app.setApplicationName("HER2 Viewer")
        app.setOrganizationName("her2viewer")
    return app


def wait_until(cond: Callable[[], bool], timeout_s: float) -> bool:
    """Run the event loop until `cond()` is true (True) or the time is up (False)."""
    app = ensure_app()
    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > deadline:
            return False
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 20)
        time.sleep(0.002)
    return True
