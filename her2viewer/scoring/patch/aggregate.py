"""Slide-level aggregation of per-class patch counts (IPD-Breast approach c): majority vote, random forest,
SVM (RBF, probabilities by Platt calibration: `CalibratedClassifierCV(SVC(), ensemble=False)`) or MLP
(scikit-learn).

Count vectors: the fraction of a slide's patches predicted as each patch class (counts / total), so the
vector does not depend on the slide's size; `count_vector` builds it.

Storage, without pickle: an aggregator file (`*.aggregator.json`, written atomically) stores the kind, its
hyper-parameters (with the random seed), the slide and patch class names, and the training count vectors
with their labels; loading RE-FITS the estimator from them. Fitting on a few hundred short vectors takes
well under a second, the seed makes it deterministic, and nothing executable is ever deserialised. The file
records the scikit-learn version; another version may give slightly different forests (a warning is logged).
The file's `sha256` is over the training data and parameters, so a result can name exactly what decided it.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...atomic import atomic_write_text
from ...jsonfile import JSONFileError, read_json
from ...models.calibration import apply_temperature, temperature_from
from ...models.checkpoint import CheckpointError

log = logging.getLogger(__name__)

AGGREGATOR_FORMAT = "her2viewer-patch-aggregator/1"
KINDS = ("vote", "rf", "svm", "mlp")
DEFAULT_PARAMS: dict[str, dict[str, Any]] = {
    "vote": {},
    "rf": {"n_estimators": 200, "max_depth": None, "random_state": 0},
    "svm": {"C": 1.0, "kernel": "rbf", "gamma": "scale", "calibration_folds": 5},
    "mlp": {"hidden_layer_sizes": [32], "alpha": 1e-3, "max_iter": 2000, "random_state": 0},
}


class AggregatorError(ValueError):
    """An aggregator file or its data cannot be used; the message names the file."""


#: allowed hyper-parameters per kind with their bounds (ints and floats inclusive; a set lists choices)
PARAM_LIMITS: dict[str, dict[str, Any]] = {
    "vote": {},
    "rf": {"n_estimators": (1, 2000), "max_depth": (1, 100), "random_state": (0, 2**32 - 1),
           "min_samples_leaf": (1, 10_000)},
    "svm": {"C": (1e-6, 1e6), "kernel": {"rbf", "linear", "poly", "sigmoid"}, "gamma": (1e-9, 1e9),
            "calibration_folds": (2, 20), "degree": (1, 10)},
    "mlp": {"hidden_layer_sizes": (1, 1024), "alpha": (0.0, 1e3), "max_iter": (1, 10_000),
            "random_state": (0, 2**32 - 1)},
}
#: training vectors stored in an aggregator file
MAX_TRAINING_ROWS = 100_000
_MAX_LAYERS = 5


def _bounded(kind: str, key: str, value: Any, limit: Any) -> None:
    """Raise AggregatorError unless `value` is None, a choice of `limit`, or a finite number inside it."""
    if value is None or (key == "gamma" and value in ("scale", "auto")):
        return
    if isinstance(limit, set):
        if value not in limit:
            raise AggregatorError(f"{kind} parameter {key}={value!r} is not one of {', '.join(sorted(limit))}")
        return
    lo, hi = limit
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
        raise AggregatorError(f"{kind} parameter {key}={value!r} is outside {lo}..{hi}")
    if isinstance(lo, int) and not isinstance(value, int):
        raise AggregatorError(f"{kind} parameter {key}={value!r} must be a whole number")


def check_params(kind: str, params: dict[str, Any]) -> None:
    """Refuse unknown or out-of-range hyper-parameters (a hostile `n_estimators` would hang the fit)."""
    limits = PARAM_LIMITS.get(kind, {})
    for key, value in params.items():
        if key not in limits:
            raise AggregatorError(f"unknown {kind} parameter {key!r}; allowed: {', '.join(limits) or 'none'}")
        if key == "hidden_layer_sizes":
            if not isinstance(value, (list, tuple)) or not 1 <= len(value) <= _MAX_LAYERS:
                raise AggregatorError(f"mlp hidden_layer_sizes must be a list of 1..{_MAX_LAYERS} layer sizes")
            for v in value:
                _bounded(kind, key, v, limits[key])
        else:
            _bounded(kind, key, value, limits[key])


def count_vector(patch_probs: np.ndarray, n_classes: int) -> np.ndarray:
    """Fractions of patches whose most probable class is each of n_classes ((n, C) -> (C,))."""
    if len(patch_probs) == 0:
        return np.zeros(n_classes)
    counts = np.bincount(np.argmax(patch_probs, axis=1), minlength=n_classes).astype(np.float64)
    return counts / counts.sum()


def majority_vote(counts: np.ndarray, patch_classes: Sequence[str], slide_classes: Sequence[str]) -> np.ndarray:
    """Vote probabilities over slide classes: each slide class's share of the patches predicted as it.

    Patch classes that are not slide classes (Tumour, Stroma, ...) do not vote; with no voting patch the
    first slide class (HER2 0: no tumour patch seen) gets probability 1.
    """
    votes = np.array([counts[list(patch_classes).index(c)] if c in patch_classes else 0.0 for c in slide_classes])
    if votes.sum() <= 0:
        out = np.zeros(len(slide_classes))
        out[0] = 1.0
        return out
    return votes / votes.sum()


def _estimator(kind: str, params: dict[str, Any]) -> Any:
    if kind == "rf":
        from sklearn.ensemble import RandomForestClassifier

        return RandomForestClassifier(**params)
    if kind == "svm":
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.svm import SVC

        p = dict(params)
        cv = int(p.pop("calibration_folds", 5))
        return CalibratedClassifierCV(SVC(**p), ensemble=False, cv=cv)
    if kind == "mlp":
        from sklearn.neural_network import MLPClassifier

        p = dict(params)
        p["hidden_layer_sizes"] = tuple(p.get("hidden_layer_sizes", (32,)))
        return MLPClassifier(**p)
    raise AggregatorError(f"unknown aggregator kind {kind!r}; use one of {', '.join(KINDS)}")


@dataclass
class CountAggregator:
    """A slide classifier on patch-count vectors: fit, predict_proba, save / load (JSON, re-fit on load)."""

    kind: str
    slide_classes: list[str]
    patch_classes: list[str]
    params: dict[str, Any] = field(default_factory=dict)
    X: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    y: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))
    #: temperature scaling of the probabilities on labelled real images ({"temperature": T, figures...}),
    #: as a network's card holds it; outside the digest, which names the training data and parameters
    calibration: dict[str, Any] | None = None
    _est: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise AggregatorError(f"unknown aggregator kind {self.kind!r}; use one of {', '.join(KINDS)}")
        if not isinstance(self.params, dict):
            raise AggregatorError("the aggregator parameters must be an object")
        self.params = {**DEFAULT_PARAMS[self.kind], **self.params}
        check_params(self.kind, self.params)

    def fit(self, X: np.ndarray, y: Sequence[int]) -> CountAggregator:
        """Fit on count vectors X (n, n_patch_classes) and slide class indices y."""
        if len(X) > MAX_TRAINING_ROWS:
            raise AggregatorError(f"{len(X)} training vectors, over the limit of {MAX_TRAINING_ROWS}")
        self.X = np.asarray(X, np.float64)
        self.y = np.asarray(y, int)
        if not np.isfinite(self.X).all():
            raise AggregatorError("the training count vectors hold non-finite numbers")
        if self.X.ndim != 2 or self.X.shape[1] != len(self.patch_classes) or len(self.X) != len(self.y):
            raise AggregatorError(f"count vectors must be (n, {len(self.patch_classes)}) with n labels, got "
                                  f"{self.X.shape} and {self.y.shape}")
        if self.kind != "vote":
            if len(np.unique(self.y)) < 2:
                raise AggregatorError("an aggregator needs slides of at least two classes to fit")
            params = dict(self.params)
            if self.kind == "svm":  # Platt calibration folds: at most the smallest class count
                smallest = int(np.bincount(self.y)[np.unique(self.y)].min())
                params["calibration_folds"] = max(2, min(int(params.get("calibration_folds", 5)), smallest))
            self._est = _estimator(self.kind, params).fit(self.X, self.y)
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """(n, n_patch_classes) count vectors -> (n, n_slide_classes) probabilities."""
        X = np.atleast_2d(np.asarray(X, np.float64))
        if self.kind == "vote":
            return np.stack([majority_vote(x, self.patch_classes, self.slide_classes) for x in X])
        if self._est is None:
            raise AggregatorError(f"the {self.kind} aggregator is not fitted")
        out = np.zeros((len(X), len(self.slide_classes)))
        out[:, self._est.classes_] = self._est.predict_proba(X)  # classes absent in training keep 0
        return out

    @property
    def temperature(self) -> float:
        """The calibration's temperature (1.0 without one)."""
        return temperature_from(self.calibration, "aggregator")

    def calibrated_proba(self, X: np.ndarray) -> np.ndarray:
        """`predict_proba` through the calibration's temperature: the probabilities a result shows."""
        return apply_temperature(self.predict_proba(X), self.temperature)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Most probable slide class index per count vector."""
        return np.argmax(self.predict_proba(X), axis=1)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: kind, params, classes, the training vectors and labels, versions and a digest."""
        import sklearn

        body = {"kind": self.kind, "params": self.params, "slide_classes": self.slide_classes,
                "patch_classes": self.patch_classes, "X": self.X.tolist(), "y": self.y.tolist()}
        digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        out = {"format": AGGREGATOR_FORMAT, **body, "sklearn_version": sklearn.__version__, "sha256": digest}
        if self.calibration is not None:
            out["calibration"] = self.calibration
        return out

    def save(self, path: str | Path) -> Path:
        """Write the aggregator file atomically."""
        p = Path(path)
        atomic_write_text(p, json.dumps(self.to_dict()) + "\n")
        return p

    @property
    def sha256(self) -> str:
        """Digest of kind, parameters, classes and training data."""
        return str(self.to_dict()["sha256"])

    @classmethod
    def load(cls, path: str | Path) -> CountAggregator:
        """Read an aggregator file and re-fit it; AggregatorError names the file on any problem."""
        import sklearn

        p = Path(path)
        try:
            d = read_json(p, "aggregator file", allow_nonfinite=True)
        except JSONFileError as e:
            raise AggregatorError(str(e)) from None
        if not isinstance(d, dict) or d.get("format") != AGGREGATOR_FORMAT:
            raise AggregatorError(f"{p}: not a {AGGREGATOR_FORMAT} file")
        for key, typ in (("kind", str), ("slide_classes", list), ("patch_classes", list), ("params", dict),
                         ("X", list), ("y", list)):
            if key in d and not isinstance(d[key], typ):
                raise AggregatorError(f"{p}: '{key}' must be {'an object' if typ is dict else f'a {typ.__name__}'}, "
                                      f"found a {type(d[key]).__name__}")
        try:
            agg = cls(d["kind"], list(d["slide_classes"]), list(d["patch_classes"]), dict(d.get("params", {})))
            X = np.asarray(d["X"], np.float64).reshape(-1, len(agg.patch_classes))
            agg.fit(X, d["y"])
        except AggregatorError as e:
            raise AggregatorError(f"{p}: {e}") from e
        except (KeyError, TypeError, ValueError, OverflowError) as e:
            raise AggregatorError(f"{p}: {type(e).__name__}: {e}") from e
        if "calibration" in d:
            try:
                temperature_from(d["calibration"], str(p))
            except CheckpointError as e:
                raise AggregatorError(str(e)) from None
            agg.calibration = dict(d["calibration"])
        if d.get("sklearn_version") != sklearn.__version__ and agg.kind != "vote":
            log.warning("%s was written with scikit-learn %s; re-fitted with %s (results may differ slightly)", p,
                        d.get("sklearn_version"), sklearn.__version__)
        if d.get("sha256") and d["sha256"] != agg.sha256:
            log.warning("%s: stored digest differs from its contents (edited by hand?)", p)
        return agg
