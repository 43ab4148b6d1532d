"""One long piece of work (patch export, report) on a worker thread with a cancellable progress dialog.

The worker runs plain Python `fn(task)`; progress and the result reach the main thread through an `Inbox`
and the handlers run there. The worker never touches widgets.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QProgressDialog, QWidget

from her2viewer.progress import Cancelled, Task

from .inbox import Inbox

log = logging.getLogger(__name__)

PROGRESS_INTERVAL_S = 0.05


class BackgroundJob(QObject):
    """Run `fn(task) -> result` off the main thread; then `on_done(result)` or `on_error(message)`."""

    sigFinished = Signal()   # after on_done / on_error / a cancel, on the main thread

    def __init__(self, title: str, fn: Callable[[Task], Any], on_done: Callable[[Any], None],
                 on_error: Callable[[str], None], parent: QWidget | None = None, *, dialog: bool = True) -> None:
        super().__init__(parent)
        self.title = title
        self.fn = fn
        self.on_done = on_done
        self.on_error = on_error
        self.state = "new"           # new | running | done | failed | cancelled
        self.message = ""
        self._cancel = threading.Event()
        self._last_post = 0.0
        self._inbox = Inbox(self._deliver, self)
        self.dialog: QProgressDialog | None = None
        if dialog:
            self.dialog = QProgressDialog(title, "Cancel", 0, 1000, parent)
            self.dialog.setWindowTitle(title)
            self.dialog.setWindowModality(Qt.WindowModality.WindowModal)
            self.dialog.setMinimumDuration(300)
            self.dialog.setAutoClose(False)
            self.dialog.setAutoReset(False)
            self.dialog.canceled.connect(self.cancel)
        self._thread: threading.Thread | None = None

    @property
    def finished(self) -> bool:
        return self.state in ("done", "failed", "cancelled")

    def start(self) -> BackgroundJob:
        """Start the work."""
        self.state = "running"
        if self.dialog is not None:
            self.dialog.setValue(0)
        self._thread = threading.Thread(target=self._work, name=f"job-{self.title}", daemon=True)
        self._thread.start()
        return self

    def cancel(self) -> None:
        """Ask the work to stop at its next progress report."""
        self._cancel.set()

    def _work(self) -> None:
        def progress(fraction: float, message: str) -> None:
            now = time.monotonic()
            if now - self._last_post >= PROGRESS_INTERVAL_S:
                self._last_post = now
                self._inbox.post(("progress", fraction, message))

        task = Task(progress, self._cancel.is_set)
        try:
            result = self.fn(task)
        except Cancelled:
            self._inbox.post(("cancelled", None, ""))
        except Exception as e:  # reported to the user as a sentence
            log.exception("%s failed", self.title)
            self._inbox.post(("failed", None, str(e) or type(e).__name__))
        else:
            self._inbox.post(("done", result, ""))

    def _deliver(self, item: tuple[str, Any, Any]) -> None:
        kind, payload, message = item
        if kind == "progress":
            if self.dialog is not None and not self.finished:
                self.dialog.setValue(int(payload * 1000))
                if message:
                    self.dialog.setLabelText(f"{self.title}: {message}")
            return
        self.state, self.message = kind, message
        if self.dialog is not None:
            self.dialog.reset()
            self.dialog.hide()
        if kind == "done":
            self.on_done(payload)
        elif kind == "failed":
            self.on_error(message)
        self.sigFinished.emit()
