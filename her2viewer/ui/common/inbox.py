"""Handing results from worker threads to the Qt main thread without Python objects in queued signals.

Workers `post(item)` into a locked deque and wake the main thread with an argument-less queued signal;
the main thread drains the deque and calls the handler for each item. (PySide6 signals carrying Python
objects across threads have shown reference-count crashes; an empty signal is safe and coalesces.)
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal, Slot


class Inbox(QObject):
    """A thread-safe mailbox whose `handler(item)` runs on the thread the inbox lives in (the main thread)."""

    _sigWake = Signal()

    def __init__(self, handler: Callable[[Any], None], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._handler = handler
        self._items: deque[Any] = deque()
        self._lock = threading.Lock()
        self._wake_pending = False
        self._sigWake.connect(self._drain, Qt.ConnectionType.QueuedConnection)

    def post(self, item: Any) -> None:
        """Queue an item from any thread."""
        with self._lock:
            self._items.append(item)
            if self._wake_pending:
                return
            self._wake_pending = True
        self._sigWake.emit()

    @Slot()
    def _drain(self) -> None:
        with self._lock:
            items = list(self._items)
            self._items.clear()
            self._wake_pending = False
        for item in items:
            self._handler(item)
