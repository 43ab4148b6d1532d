"""Focus: how sharp the tissue is, measured at a fixed physical scale so that it means the same at 20x
and 40x.

Sharpness = the high-frequency share of the image's detail: mean |grey - blur(grey, 1 um)| divided by
mean |grey - blur(grey, 4 um)|, on tissue windows resampled to `WORK_MPP`. A sharp image has much of its
detail at the finest scale (nuclear chromatin, membranes: ~0.3-0.5 measured on real IHC); defocus removes
it first. The thresholds come from real IHC blurred on purpose (benchmarks/bench_qc.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

WORK_MPP = 1.0
WARN_SHARPNESS = 0.25
FAIL_SHARPNESS = 0.15


@dataclass(frozen=True)
class FocusCheck:
    """The measured sharpness (None when there was nothing to measure)."""

    sharpness: float | None

    def findings(self) -> list[tuple[str, str]]:
        if self.sharpness is None:
            return []
        if self.sharpness < FAIL_SHARPNESS:
            return [("not_assessable", f"the image is out of focus (sharpness {self.sharpness:.2f}, "
                     f"needs {FAIL_SHARPNESS:.2f}); membranes cannot be read")]
        if self.sharpness < WARN_SHARPNESS:
            return [("warning", f"the image looks blurred (sharpness {self.sharpness:.2f}; "
                     f"{WARN_SHARPNESS:.2f} or more is sharp)")]
        return []


def sharpness(rgb: np.ndarray, mpp: float) -> float | None:
    """Fine-to-coarse detail ratio of an RGB window at `mpp` um/px (None on a blank window); measured at
    WORK_MPP, or at the scan's own pixels when it is coarser."""
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    f = mpp / WORK_MPP
    if f < 1.0:
        grey = cv2.resize(grey, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
    fine = np.abs(grey - cv2.GaussianBlur(grey, (0, 0), 1.0))
    coarse = np.abs(grey - cv2.GaussianBlur(grey, (0, 0), 4.0))
    if float(coarse.mean()) < 0.5:
        return None
    return float(fine.mean() / coarse.mean())


def focus_check(windows: list[np.ndarray], mpp: float | None) -> FocusCheck:
    """Median sharpness of the windows."""
    vals = [v for v in (sharpness(w, mpp or 0.5) for w in windows) if v is not None]
    return FocusCheck(float(np.median(vals)) if vals else None)
