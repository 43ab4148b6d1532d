"""Score All: the project's images scored by `her2viewer.batch` on a background thread (a process pool under
it), with progress, ETA and Cancel; results go to the project database as each arrives."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from her2viewer.batch import BatchSettings, run_batch
from her2viewer.progress import Cancelled, Task

log = logging.getLogger(__name__)


class ScoreAllJob(QObject):
    """One Score All run. Signals arrive on the GUI thread (queued): progress (fraction, message), each item
    (path, event), finished (summary text), failed (message)."""

    sigProgress = Signal(float, str)
    sigItem = Signal(str, str)
    sigFinished = Signal(str)
    sigFailed = Signal(str)

    def __init__(self, project_folder: Path, paths: list[str], settings: BatchSettings,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.project_folder, self.paths, self.settings = project_folder, paths, settings
        self._cancel = threading.Event()
        self._thread = threading.Thread(target=self._run, name="score-all", daemon=True)

    def start(self) -> None:
        """Start in the background."""
        self._thread.start()

    def cancel(self) -> None:
        """Stop after the images being scored now (their results are kept)."""
        self._cancel.set()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def wait(self, timeout_s: float | None = None) -> bool:
        """Wait for the run to end; whether it did."""
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    def _run(self) -> None:
        from her2viewer.project import Project, ProjectError

        task = Task(lambda f, m: self.sigProgress.emit(f, m), self._cancel.is_set)
        try:
            with Project.open(self.project_folder) as project:   # its own connection: this is another thread
                summary = run_batch(project, self.paths, self.settings, task,
                                    on_item=lambda p, ev: self.sigItem.emit(p, ev))
        except Cancelled:
            self.sigFinished.emit("Score All cancelled; the images scored so far are kept.")
            return
        except (ProjectError, ValueError, OSError) as e:
            self.sigFailed.emit(f"Score All failed: {e}")
            return
        except Exception as e:  # noqa: BLE001 - the window stays up and says what happened
            log.exception("Score All failed")
            self.sigFailed.emit(f"Score All failed: {type(e).__name__}: {e}")
            return
        text = (f"Score All: {summary.scored} scored, {summary.cached} already scored, "
                f"{len(summary.errors)} errors in {summary.elapsed_s:.0f} s")
        if summary.cancelled:
            text += " (cancelled)"
        self.sigFinished.emit(text)
