"""Calibrations of a fine-tuned PSS model's confidence, each fitted in a nested 5-fold CV on the held-out
sample probabilities its card keeps (`metrics.finetune_cv.held_out.sample_probs`, written by
`training.finetune`). Prints, per variant, the accuracy of the calls, their mean confidence, the ECE of the
called images and the ECE a perfectly calibrated method with the same confidences would show at this n.

Usage: .venv/bin/python benchmarks/pss_calibration_variants.py resources/models/pss_default.json
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable

import numpy as np
from scipy.optimize import minimize_scalar
from sklearn.linear_model import LogisticRegression

from her2viewer.models.calibration import binned_gap
from her2viewer.scoring.pss.protocol import kcs_decision
from training.calibrate_cards import T_GRID, Scored, _subset, calls_at, fit_t
from training.calibration import ece, ece_if_calibrated


def _logit(x: np.ndarray) -> np.ndarray:
    x = np.clip(np.asarray(x, float), 1e-4, 1 - 1e-4)
    return np.log(x / (1 - x))


def _fit_shift(f: np.ndarray, right: np.ndarray) -> float:
    """The logit offset that maximises the likelihood of right / wrong."""
    def nll(b: float) -> float:
        q = np.clip(1 / (1 + np.exp(-(f + b))), 1e-9, 1 - 1e-9)
        return float(-np.mean(right * np.log(q) + (1 - right) * np.log(1 - q)))
    return float(minimize_scalar(nll, bounds=(-5, 5), method="bounded").x)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("card", help="a fine-tuned PSS model card (JSON) with held-out sample probabilities")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    card = json.loads(open(args.card).read())
    held = (card.get("metrics", {}).get("finetune_cv") or {}).get("held_out") or {}
    if "sample_probs" not in held:
        print(f"{args.card}: no held-out sample probabilities (fine-tune it again with this version)", file=sys.stderr)
        return 2
    classes = tuple(held["classes"])
    y = np.array([classes.index(v) for v in held["labels"]])
    samples = [np.asarray(s, float) for s in held["sample_probs"]]
    s = Scored(held["files"], classes, y, np.array([x.mean(0) for x in samples]), samples, 5)
    n = len(y)
    order = np.random.default_rng(args.seed).permutation(n)
    parts = np.array_split(order, max(2, min(args.folds, n)))
    rows = np.arange(n)

    def report(name: str, calls: np.ndarray, conf: np.ndarray) -> None:
        right = (calls == y).astype(float)
        print(f"{name:46s} acc {right.mean():.3f}  mean conf {conf.mean():.3f}  ECE {binned_gap(conf, right):.3f}"
              f"  if calibrated {ece_if_calibrated(conf):.3f}")

    def nested_t(pick: Callable[[Scored], float]) -> tuple[np.ndarray, np.ndarray]:
        calls, conf = np.zeros(n, int), np.zeros(n)
        for part in parts:
            t = pick(_subset(s, np.setdiff1d(order, part)))
            c, p = calls_at(_subset(s, part), t)
            calls[part], conf[part] = c, p[np.arange(len(c)), c]
        return calls, conf

    def on_call(x: np.ndarray, calls: np.ndarray, platt: bool) -> np.ndarray:
        f, right, out = _logit(x), (calls == y).astype(int), np.zeros(n)
        for part in parts:
            rest = np.setdiff1d(order, part)
            if platt:
                out[part] = LogisticRegression().fit(f[rest, None], right[rest]).predict_proba(f[part, None])[:, 1]
            else:
                out[part] = 1 / (1 + np.exp(-(f[part] + _fit_shift(f[rest], right[rest]))))
        return out

    c1, p1 = calls_at(s, 1.0)
    report("untempered", c1, p1[rows, c1])
    report("temperature by NLL (what the card ships)", *nested_t(lambda sub: fit_t(sub, np.arange(len(sub.labels)))))

    def by_ece(sub: Scored) -> float:
        def gap(t: float) -> float:
            c, p = calls_at(sub, t)
            return ece(p, sub.labels, calls=c)
        return float(min(T_GRID, key=lambda t: (round(gap(float(t)), 9), abs(np.log(t)))))
    report("temperature by ECE", *nested_t(by_ece))
    tc, tp = calls_at(s, float(held["temperature"]))
    report("Platt on the call's probability, untempered", c1, on_call(p1[rows, c1], c1, True))
    report("Platt on the call's probability, card T", tc, on_call(tp[rows, tc], tc, True))
    report("logit shift of the call's probability, card T", tc, on_call(tp[rows, tc], tc, False))
    precision = np.array([(((c1 == c1[i]) & (c1 == y)).sum() - (c1[i] == y[i]) + 1)
                          / ((c1 == c1[i]).sum() - 1 + 2) for i in range(n)])
    report("the call's leave-one-out precision", c1, precision)
    votes = np.array([np.mean(d.sample_index == d.score_index) for d in (kcs_decision(x, 5, classes) for x in samples)])
    report("Platt on the share of samples voting the call", c1, on_call(votes, c1, True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
