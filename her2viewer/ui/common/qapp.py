"""The QApplication: create it once, and run its event loop until a condition holds."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence

from PySide6.QtCore import QEventLoop
from PySide6.QtWidgets import QApplication


def ensure_app(argv: Sequence[str] | None = None) -> QApplication:
    """The running QApplication, created when there is none, collecting garbage in its own thread."""
    app = QApplication.instance()
    if app is None:
        # Tile workers hold the GIL in short bursts; a shorter switch interval keeps the UI thread's
        # waits for it well under a frame (the default 5 ms per hand-over adds up over a paint).
        sys.setswitchinterval(0.001)
        app = QApplication(list(argv or ["her2viewer"]))
        app.setApplicationName("HER2 Viewer")
        app.setOrganizationName("her2viewer")
    collect_garbage_in_gui_thread(app)
    return app


def collect_garbage_in_gui_thread(app: QApplication) -> None:
    """Turn Python's automatic garbage collection off and collect on a timer in the GUI thread instead
    (pyqtgraph's GarbageCollector), once per application.

    Automatic collection runs in whichever thread allocates when a threshold is crossed. When that was a
    tile-decoding thread and the garbage held a closed window's widgets, the thread ran their C++ destructors:
    it took a QObject's lock and waited for the GIL, while the GUI thread, holding the GIL, waited for that
    lock (a deadlock seen in the test suite: a worker inside gc_collect_main -> QMenu::~QMenu ->
    Shiboken::GilState::acquire; the main thread in QObject::~QObject -> QBasicMutex::lockInternal)."""
    if getattr(app, "_her2viewer_gc", None) is None:
        from pyqtgraph.util.garbage_collector import GarbageCollector

        app._her2viewer_gc = GarbageCollector(interval=1.0)


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
