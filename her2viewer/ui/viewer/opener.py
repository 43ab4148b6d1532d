"""Opens slide files on a worker thread and reports the result (or a sentence for the user) by signal.

The slide's pixel size is resolved too (`her2viewer.qc.resolve_pixel_size`): a remembered user value or the
file's before the slide is shown; when there is neither, the slide is shown at once and the estimate from
the nuclei (else an assumed value) follows on the worker with `sigResolved`, so a slow estimate never
delays opening. `resolve` does it again later (e.g. after the user goes back from their own value).
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from her2viewer.slide.base import SlideOpenError

from ..common.inbox import Inbox

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
    """`open(path)` reads the file's headers off the main thread; `sigOpened` or `sigFailed` follows."""

    sigOpened = Signal(str, object)     # path, SlideSource (emitted on the main thread)
    sigFailed = Signal(str, str)        # path, message
    sigResolved = Signal(object)        # SlideSource whose pixel size `resolve` has (re)resolved

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="open")
        self.pending = 0
        self._inbox = Inbox(self._on_done, self)

    def open(self, path: str | Path, user_mpp: float | None = None) -> None:
        """Start opening `path` (with the pixel size the user set for it before, if any)."""
        from her2viewer.slide.open import open_slide

        path = str(path)
        self.pending += 1

        def work() -> None:
            try:
                source = open_slide(path)
                source.dimensions  # noqa: B018 - touch the metadata here, not on the main thread
                if user_mpp is not None or source.mpp:
                    resolve_quietly(source, user_mpp)      # instant: no estimate needed
                source.stain_vectors = estimate_stains_quietly(source)
                self._inbox.post((path, source, None))
            except Exception as exc:
                log.info("cannot open %s: %s", path, exc)
                self._inbox.post((path, None, open_error_message(path, exc)))

        self._pool.submit(work)

    def resolve(self, source) -> None:
        """Resolve an open slide's pixel size again (file, else estimate) on the worker; `sigResolved`
        follows."""
        self.pending += 1

        def work() -> None:
            resolve_quietly(source, None)
            self._inbox.post(("", source, "resolved"))

        self._pool.submit(work)

    def _on_done(self, item: tuple) -> None:
        path, source, message = item
        if message == "resolved":
            self.pending -= 1
            self.sigResolved.emit(source)
            return
        self.pending -= 1
        if source is None:
            self.sigFailed.emit(path, message or f"Cannot open {path}.")
        else:
            self.sigOpened.emit(path, source)
            if getattr(source, "mpp_source", None) is None:
                self.resolve(source)    # the estimate follows, off the main thread

    def close(self) -> None:
        """Stop the worker."""
        self._pool.shutdown(wait=False, cancel_futures=True)
