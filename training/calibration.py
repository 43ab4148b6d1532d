"""Reliability of predicted probabilities: expected calibration error, and the temperature that makes them
honest (Guo et al. 2017), fitted by negative log-likelihood and measured by cross-validation."""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar

from her2viewer.models.calibration import ECE_BINS, MAX_T, MIN_T, apply_temperature, binned_gap, ece

__all__ = ["ECE_BINS", "ece"]  # re-exported: training code and tests import them from here


def nll(probs: np.ndarray, labels: np.ndarray) -> float:
    """Mean negative log-likelihood of the true classes."""
    p = np.asarray(probs, np.float64)
    y = np.asarray(labels, int)
    return float(-np.mean(np.log(np.clip(p[np.arange(len(y)), y], 1e-12, 1.0))))


def fit_temperature(probs: np.ndarray, labels: np.ndarray) -> float:
    """The temperature minimising the NLL of `labels` (1.0 with fewer than 2 items)."""
    if len(labels) < 2:
        return 1.0
    res = minimize_scalar(lambda log_t: nll(apply_temperature(probs, float(np.exp(log_t))), labels),
                          bounds=(np.log(MIN_T), np.log(MAX_T)), method="bounded")
    return float(np.exp(res.x))


def cross_validated_calibration(probs: np.ndarray, labels: np.ndarray, folds: int = 5,
                                seed: int = 0) -> dict[str, float]:
    """ECE and NLL before and after temperature scaling, the temperature of each held-out fold fitted on the
    other folds; and the temperature fitted on everything (what a model card would ship)."""
    p = np.asarray(probs, np.float64)
    y = np.asarray(labels, int)
    order = np.random.default_rng(seed).permutation(len(y))
    parts = np.array_split(order, max(2, min(folds, len(y))))
    scaled = np.zeros_like(p)
    for part in parts:
        rest = np.setdiff1d(order, part)
        scaled[part] = apply_temperature(p[part], fit_temperature(p[rest], y[rest]))
    return {"ece_before": ece(p, y), "ece_after_cv": ece(scaled, y), "nll_before": nll(p, y),
            "nll_after_cv": nll(scaled, y), "temperature_all": fit_temperature(p, y), "n": int(len(y))}


def ece_if_calibrated(conf: np.ndarray, draws: int = 2000, seed: int = 0, bins: int = ECE_BINS) -> float:
    """The ECE a perfectly calibrated method with these confidences would show on average at this sample size
    (each call right with probability equal to its confidence): the noise floor to read a measured ECE against."""
    return float(np.mean(calibrated_eces(conf, draws, seed, bins)))


def share_of_calibrated_at_least(conf: np.ndarray, measured: float, draws: int = 2000, seed: int = 0,
                                 bins: int = ECE_BINS) -> float:
    """How often a perfectly calibrated method with these confidences shows an ECE of `measured` or more at
    this sample size (small: the measured ECE is more than chance)."""
    return share_at_least(calibrated_eces(conf, draws, seed, bins), measured)


def share_at_least(eces: np.ndarray, measured: float) -> float:
    """The share of `calibrated_eces` draws at `measured` or more."""
    return float(np.mean(np.asarray(eces) >= measured - 1e-12))


def calibrated_eces(conf: np.ndarray, draws: int = 2000, seed: int = 0, bins: int = ECE_BINS) -> np.ndarray:
    """The ECE of each of `draws` perfectly calibrated outcomes of these confidences (each call right with
    probability equal to its confidence)."""
    c = np.clip(np.asarray(conf, np.float64), 0.0, 1.0)
    if len(c) == 0:
        return np.zeros(1)
    hits = np.random.default_rng(seed).random((draws, len(c))) < c
    return np.array([binned_gap(c, h, bins) for h in hits])
