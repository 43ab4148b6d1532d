"""Opens slide files on a worker thread and reports the result (or a sentence for the user) by signal."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from her2viewer.slide.base import SlideOpenError

from .inbox import Inbox

log = logging.getLogger(__name__)


def open_error_message(path: str | Path, exc: BaseException) -> str:
    """The sentence the user reads when a file cannot be opened."""
    if isinstance(exc, SlideOpenError):
        return f"Cannot open {exc.path}: {exc.cause}"
    if isinstance(exc, FileNotFoundError):
        return f"Cannot open {path}: the file does not exist."
    if isinstance(exc, PermissionError):
        return f"Cannot open {path}: permission denied."
    return f"Cannot open {path}: {type(exc).__name__}: {exc}"


class SlideOpener(QObject):
    """`open(path)` reads the file's headers off the main thread; `sigOpened` or `sigFailed` follows."""

    sigOpened = Signal(str, object)     # path, SlideSource (emitted on the main thread)
    sigFailed = Signal(str, str)        # path, message

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="open")
        self.pending = 0
        self._inbox = Inbox(self._on_done, self)

    def open(self, path: str | Path) -> None:
        """Start opening `path`."""
        from her2viewer.slide.open import open_slide

        path = str(path)
        self.pending += 1

        def work() -> None:
            try:
                source = open_slide(path)
                source.dimensions  # noqa: B018 - touch the metadata here, not on the main thread
                self._inbox.post((path, source, None))
            except Exception as exc:
                log.info("cannot open %s: %s", path, exc)
                self._inbox.post((path, None, open_error_message(path, exc)))

        self._pool.submit(work)

    def _on_done(self, item: tuple) -> None:
        path, source, message = item
        self.pending -= 1
        if source is None:
            self.sigFailed.emit(path, message or f"Cannot open {path}.")
        else:
            self.sigOpened.emit(path, source)

    def close(self) -> None:
        """Stop the worker."""
        self._pool.shutdown(wait=False, cancel_futures=True)
