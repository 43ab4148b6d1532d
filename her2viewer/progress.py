"""Progress and cancellation for long work: plain callbacks that the Qt workers turn into signals."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

ProgressFn = Callable[[float, str], None]
CancelFn = Callable[[], bool]


class Cancelled(Exception):
    """Raised inside long work when the user asked to stop."""


def _no_progress(fraction: float, message: str) -> None:
    return None


def _never() -> bool:
    return False


@dataclass
class Task:
    """Progress reporting and cooperative cancellation handed to long-running functions."""

    progress: ProgressFn = _no_progress
    cancelled: CancelFn = _never
    started: float = field(default_factory=time.perf_counter)

    def report(self, fraction: float, message: str = "") -> None:
        """Report progress in [0, 1]; raises Cancelled when the user asked to stop."""
        self.check()
        self.progress(min(max(float(fraction), 0.0), 1.0), message)

    def check(self) -> None:
        """Raise Cancelled if cancellation was requested."""
        if self.cancelled():
            raise Cancelled("cancelled by the user")

    def sub(self, start: float, stop: float) -> Task:
        """A task whose [0, 1] progress maps onto [start, stop] of this one."""
        def progress(f: float, msg: str) -> None:
            self.progress(start + (stop - start) * f, msg)

        return Task(progress, self.cancelled, self.started)

    def eta_s(self, fraction: float) -> float | None:
        """Seconds left, estimated from the time spent for `fraction` done."""
        if fraction <= 0.0:
            return None
        spent = time.perf_counter() - self.started
        return spent * (1.0 - fraction) / fraction
