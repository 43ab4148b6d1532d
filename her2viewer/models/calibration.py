"""Temperature scaling of a model's class probabilities (Guo et al. 2017), as its model card states.

A card may carry `extra["calibration"] = {"temperature": T, "fitted_on": "...", "ece_before": ...,
"ece_after": ...}`; the scorers divide the model's logits by T (equivalently p_i ** (1/T), renormalised)
before anything is derived from them, so the "confidence" of a call is a calibrated probability. Without
the entry T = 1 (uncalibrated, and the card says nothing it cannot back). `training.calibration` fits T.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .checkpoint import CheckpointError

MIN_T, MAX_T = 0.05, 20.0


def temperature_of(card: Any, where: str = "model card") -> float:
    """The card's temperature (1.0 when it has none); CheckpointError naming `where` for a bad value."""
    cal = (getattr(card, "extra", None) or {}).get("calibration")
    if cal is None:
        return 1.0
    t = cal.get("temperature") if isinstance(cal, dict) else None
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t) or not MIN_T <= t <= MAX_T:
        raise CheckpointError(f"{where}: extra.calibration.temperature must be a number in {MIN_T}-{MAX_T}, "
                              f"got {t!r}")
    return float(t)


def apply_temperature(probs: np.ndarray, temperature: float) -> np.ndarray:
    """Probabilities (..., C) as if the logits had been divided by `temperature`."""
    p = np.asarray(probs, np.float64)
    if temperature == 1.0:
        return p
    logp = np.log(np.clip(p, 1e-12, 1.0)) / float(temperature)
    logp -= logp.max(axis=-1, keepdims=True)
    e = np.exp(logp)
    return e / e.sum(axis=-1, keepdims=True)
