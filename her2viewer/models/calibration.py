"""Temperature scaling of a model's class probabilities (Guo et al. 2017), as its model card states.

A card may carry `extra["calibration"] = {"temperature": T, "fitted_on": "...", "ece_before": ...,
"ece_after": ...}`; the scorers divide the model's logits by T (equivalently p_i ** (1/T), renormalised)
before anything is derived from them, so the "confidence" of a call is a calibrated probability. Without
the entry T = 1 (uncalibrated, and the card says nothing it cannot back). `training.calibration` fits T.
`ece` measures how far the confidence of the calls is from how often they are right.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .checkpoint import CheckpointError

#: the range of temperatures a card may state; a random forest that puts 1.0 on one class needs ~100 to
#: come down to chance (its zeros only rise as (1e-12) ** (1 / T))
MIN_T, MAX_T = 0.05, 100.0
ECE_BINS = 10


def temperature_of(card: Any, where: str = "model card") -> float:
    """The card's temperature (1.0 when it has none); CheckpointError naming `where` for a bad value."""
    return temperature_from((getattr(card, "extra", None) or {}).get("calibration"), where, "extra.calibration")


def temperature_from(cal: Any, where: str, key: str = "calibration") -> float:
    """The temperature of a calibration entry (1.0 when there is none); CheckpointError naming `where`."""
    if cal is None:
        return 1.0
    t = cal.get("temperature") if isinstance(cal, dict) else None
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t) or not MIN_T <= t <= MAX_T:
        raise CheckpointError(f"{where}: {key}.temperature must be a number in {MIN_T}-{MAX_T}, got {t!r}")
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


def ece(probs: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS, calls: np.ndarray | None = None) -> float:
    """Expected calibration error of the confidence of each call (equal-width bins, weighted by count); the
    call is the top class unless `calls` gives it (PSS calls the highest score among its confident samples; -1
    is no call, which shows no confidence: left out)."""
    p = np.asarray(probs, np.float64)
    y = np.asarray(labels, int)
    if len(y) == 0:
        return 0.0
    c = p.argmax(1) if calls is None else np.asarray(calls, int)
    keep = c >= 0      # -1: no call, so no confidence shown: left out
    return binned_gap(p[np.arange(len(c)), np.clip(c, 0, None)][keep], (c == y)[keep].astype(np.float64), bins)


def binned_gap(conf: np.ndarray, correct: np.ndarray, bins: int = ECE_BINS) -> float:
    """The ECE of confidences against outcomes (1 right, 0 wrong): equal-width bins, weighted by count."""
    conf = np.asarray(conf, np.float64)
    correct = np.asarray(correct, np.float64)
    if len(conf) == 0:
        return 0.0
    edges = np.linspace(0.0, 1.0, bins + 1)
    idx = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            total += m.mean() * abs(conf[m].mean() - correct[m].mean())
    return float(total)
