"""Work-around for a reference-count bug of the Qt binding, applied when `her2viewer.ui` is imported.

PySide6 6.12.0 returns `None` from void methods (`update()`, `processEvents()`, `QTimer.start()`, ...)
and `True` from `Signal.emit()` without taking a reference. On Python 3.12+ those objects are immortal and
nothing happens; on Python 3.11 every call lowers their reference count by one and after some thousands of
calls the interpreter aborts ("Fatal Python error: none_dealloc: deallocating None"). `None`, `True` and
`False` are static singletons that are never freed, so where the bug is present we give them a reference
count so large that no session can exhaust it (what Python 3.12 does for all of them).
"""

from __future__ import annotations

import ctypes
import logging
import sys

log = logging.getLogger(__name__)

#: added to the singletons' reference counts (2**40 calls before trouble)
PIN = 1 << 40
_checked = False


def binding_leaks_singletons() -> bool:
    """True when void Qt calls or `emit()` drop references to None / True (measured)."""
    from PySide6.QtCore import QObject, QTimer, Signal

    class Probe(QObject):
        sig = Signal()

    probe, timer = Probe(), QTimer()
    n = 64
    none0, true0 = sys.getrefcount(None), sys.getrefcount(True)
    for _ in range(n):
        timer.stop()
        probe.sig.emit()
    return none0 - sys.getrefcount(None) >= n // 2 or true0 - sys.getrefcount(True) >= n // 2


def protect_singletons() -> bool:
    """Apply the work-around if this binding needs it (once); returns whether it was applied."""
    global _checked
    if _checked or sys.version_info >= (3, 12):
        return False
    _checked = True
    if not binding_leaks_singletons():
        return False
    for obj in (None, True, False):
        ctypes.c_ssize_t.from_address(id(obj)).value += PIN
    log.debug("Qt binding drops references to None/True; pinned them")
    return True
