"""Opens slide files on a worker thread and reports the result (or a sentence for the user) by signal.

The slide's pixel size is resolved too (`her2viewer.qc.resolve_pixel_size`): a remembered user value or the
file's before the slide is shown; when there is neither, the slide is shown at once and the estimate from
the nuclei (else an assumed value) follows on the worker with `sigResolved`, so a slow estimate never
delays opening. `resolve` does it again later (e.g. after the user goes back from their own value).
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal

from her2viewer.slide.base import SlideOpenError

from ..common.inbox import Inbox

log = logging.getLogger(__name__)

#: a file that has not opened after this long is reported as failed (a damaged file, a pipe, a stalled drive)
OPEN_TIME_LIMIT_S = 60.0
#: how long closing waits for busy open / pixel-size workers
CLOSE_WAIT_S = 20.0


def open_error_message(path: str | Path, exc: BaseException) -> str:
    """The sentence the user reads when a file cannot be opened."""
    if isinstance(exc, SlideOpenError):
        return f"Cannot open {exc.path}: {exc.cause}"
    if isinstance(exc, FileNotFoundError):
        return f"Cannot open {path}: the file does not exist."
    if isinstance(exc, PermissionError):
        return f"Cannot open {path}: permission denied."
    return f"Cannot open {path}: {type(exc).__name__}: {exc}"


def resolve_quietly(source, user_mpp: float | None = None) -> None:
    """`resolve_pixel_size` for the viewer: a failure (a backend without `set_pixel_size`, an unreadable
    region, an implausible remembered value) leaves the file's pixel size, logged, and never stops opening."""
    from her2viewer.qc.pixel_size import resolve_pixel_size

    try:
        try:
            resolve_pixel_size(source, user_mpp)
        except ValueError:
            if user_mpp is None:
                raise
            log.warning("ignoring the remembered pixel size %r of %s", user_mpp, getattr(source, "path", ""))
            resolve_pixel_size(source, None)
    except Exception:  # noqa: BLE001 - the slide is still usable without
        log.exception("cannot resolve the pixel size of %s", getattr(source, "path", "the slide"))


def estimate_stains_quietly(source):
    """The slide's stain vectors for the stain views (None on failure: the views use the standard ones)."""
    from her2viewer.qc.stain_type import slide_stains

    try:
        return slide_stains(source)
    except Exception:  # noqa: BLE001 - the slide is still usable without
        log.exception("cannot estimate the stain vectors of %s", getattr(source, "path", "the slide"))
        return None


class SlideOpener(QObject):
    """`open(path)` reads the file's headers off the main thread; `sigOpened` or `sigFailed` follows.

    Each request runs on its own daemon thread, so one file that never opens (a looping IFD chain, a named
    pipe, a stalled network drive) neither blocks the others nor keeps the process alive after the window
    closes; after `time_limit_s` it is reported as failed, and a source that still arrives later is closed."""

    sigOpened = Signal(str, object)     # path, SlideSource (emitted on the main thread)
    sigFailed = Signal(str, str)        # path, message
    sigResolved = Signal(object)        # SlideSource whose pixel size `resolve` has (re)resolved

    def __init__(self, parent: QObject | None = None, time_limit_s: float = OPEN_TIME_LIMIT_S) -> None:
        super().__init__(parent)
        self.time_limit_s = time_limit_s
        self.pending = 0
        self._ids = itertools.count(1)
        self._waiting: dict[int, str] = {}     # request id -> path, until it opened, failed or timed out
        self._closed = False
        self._threads: list[threading.Thread] = []
        self._abandoned: set[str] = set()      # names of workers whose request timed out
        self._inbox = Inbox(self._on_done, self)

    def _start(self, name: str, work: Callable[[], None]) -> None:
        t = threading.Thread(target=work, name=name, daemon=True)
        self._threads = [old for old in self._threads if old.is_alive()] + [t]
        t.start()

    def open(self, path: str | Path, user_mpp: float | None = None) -> None:
        """Start opening `path` (with the pixel size the user set for it before, if any)."""
        from her2viewer.slide.open import open_slide

        path = str(path)
        rid = next(self._ids)
        self.pending += 1
        self._waiting[rid] = path

        def work() -> None:
            try:
                source = open_slide(path)
                source.dimensions  # noqa: B018 - touch the metadata here, not on the main thread
                if user_mpp is not None or source.mpp:
                    resolve_quietly(source, user_mpp)      # instant: no estimate needed
                source.stain_vectors = estimate_stains_quietly(source)
                self._inbox.post((rid, path, source, None))
            except Exception as exc:
                log.info("cannot open %s: %s", path, exc)
                self._inbox.post((rid, path, None, open_error_message(path, exc)))

        self._start(f"open-{rid}", work)
        QTimer.singleShot(int(self.time_limit_s * 1000), self, lambda: self._time_up(rid))

    def _time_up(self, rid: int) -> None:
        path = self._waiting.pop(rid, None)
        if path is None:
            return
        self._abandoned.add(f"open-{rid}")
        self.pending -= 1
        self.sigFailed.emit(path, f"Cannot open {path}: it did not open within {self.time_limit_s:g} s (the file "
                                  "may be damaged, not a regular file, or on a stalled drive).")

    def resolve(self, source) -> None:
        """Resolve an open slide's pixel size again (file, else estimate) on a worker; `sigResolved` follows."""
        self.pending += 1

        def work() -> None:
            resolve_quietly(source, None)
            self._inbox.post((0, "", source, "resolved"))

        self._start("resolve", work)

    def _on_done(self, item: tuple) -> None:
        rid, path, source, message = item
        if message == "resolved":
            self.pending -= 1
            if not self._closed:
                self.sigResolved.emit(source)
            return
        if self._waiting.pop(rid, None) is None or self._closed:   # timed out (already reported) or closed
            if source is not None:
                source.close()
            return
        self.pending -= 1
        if source is None:
            self.sigFailed.emit(path, message or f"Cannot open {path}.")
        else:
            self.sigOpened.emit(path, source)
            if getattr(source, "mpp_source", None) is None:
                self.resolve(source)    # the estimate follows, off the main thread

    def close(self, wait_s: float = CLOSE_WAIT_S) -> None:
        """Stop reporting: what is still opening is dropped (and closed when it arrives). Workers that are
        busy computing get up to `wait_s` to finish (a daemon thread cut off inside a C++ library at exit can
        abort the process); one stuck in a system call (a pipe, a stalled drive) is left behind."""
        self._closed = True
        self._waiting.clear()
        deadline = time.monotonic() + wait_s
        for t in self._threads:
            if t.name not in self._abandoned:
                t.join(max(0.0, deadline - time.monotonic()))
