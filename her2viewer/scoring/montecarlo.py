"""The paper's Monte Carlo study of N (PSSs per core) and k (KCS size) from pools of PSS predictions.

Input: for each labelled core a pool of M PSS softmax rows (`her2viewer score --pool M`). For every N in
1..200 at k=5, and every k in 1..20, 30, 50, 100 at N=200, 10,000 draws: each draw picks N PSSs of every
core, applies the KCS / max rule and measures the 4-way accuracy over the cores; we report min / median /
max (and mean) over the draws, and the confusion matrix of the median draw.

Drawing (vectorised with numpy): per core, the pool is ranked by confidence (ties by pool index, as the
protocol breaks ties by sample index); a draw is a random permutation of the pool whose first N entries
are the N PSSs, so N <= M draws WITHOUT replacement. When N > M every pool entry is used once and the
remaining N - M are drawn WITH replacement (the pool is too small to do better; say so when M < 200). The
draws for different N share their prefixes, which does not change any single N's statistics. The KCS / max
rule on the drawn ranks is exact: the KCS is the k lowest ranks drawn (a duplicate has the same
confidence and class as its original, so which copy is kept does not matter).
"""

from __future__ import annotations

import csv
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..csvio import csv_rows_text
from ..jsonfile import JSONFileError, read_json
from .asco import SCORES4
from .pss.protocol import pss_confidence

log = logging.getLogger(__name__)

N_VALUES: tuple[int, ...] = tuple(range(1, 201))
K_VALUES: tuple[int, ...] = (*range(1, 21), 30, 50, 100)
DEFAULT_DRAWS = 10_000
#: per-draw scores of all cores are kept in memory up to this many (int8) values, else re-simulated
MAX_KEPT_SCORES = 256 * 2**20


class PoolError(ValueError):
    """A pool file cannot be used; the message names the file."""


@dataclass
class PoolCore:
    """One core's pool: M PSS probability rows and the true label."""

    slide: str
    id: str
    label: str
    probabilities: np.ndarray  # (M, 4)


def _labels_from_csv(path: Path) -> dict[str, str]:
    """file[,core],label rows -> {"name" or "name#core": label}."""
    out: dict[str, str] = {}
    try:
        with path.open(newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                name = Path(row.get("file") or row.get("slide") or "").name
                core = row.get("core") or row.get("core_id") or ""
                if name and row.get("label") in SCORES4:
                    out[f"{name}#{core}" if core else name] = row["label"]
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise PoolError(f"{path}: cannot read labels: {e}") from e
    return out


def load_pools(paths: list[str | Path], labels_csv: str | Path | None = None) -> list[PoolCore]:
    """Read pool JSON files; labels come from the pool or from a CSV (file[,core],label)."""
    labels = _labels_from_csv(Path(labels_csv)) if labels_csv else {}
    cores: list[PoolCore] = []
    for p in map(Path, paths):
        try:
            doc = read_json(p, "pool file", allow_nonfinite=True)
        except JSONFileError as e:
            raise PoolError(str(e)) from None
        if not isinstance(doc, dict) or not isinstance(doc.get("cores"), list):
            raise PoolError(f"{p}: not a PSS pool (no 'cores' list)")
        if list(doc.get("classes", SCORES4)) != list(SCORES4):
            raise PoolError(f"{p}: pool classes {doc.get('classes')} are not {list(SCORES4)}")
        for i, c in enumerate(doc["cores"]):
            name = Path(str(c.get("slide", ""))).name
            cid = str(c.get("id", i))
            label = c.get("label") or labels.get(f"{name}#{cid}") or labels.get(name)
            if label not in SCORES4:
                raise PoolError(f"{p}: core {cid} of {name or '?'} has no label (give --labels CSV)")
            probs = np.asarray(c.get("probabilities"), dtype=np.float64)
            if probs.ndim != 2 or probs.shape[1] != 4 or len(probs) == 0:
                raise PoolError(f"{p}: core {cid}: probabilities must be M rows of 4")
            cores.append(PoolCore(str(c.get("slide", "")), cid, label, probs))
    if not cores:
        raise PoolError("the pools hold no cores")
    return cores


@dataclass
class StudyCurve:
    """Accuracy over draws for each value of the varied parameter."""

    name: str  # "N" or "k"
    values: list[int]
    fixed: dict[str, int]
    acc_min: np.ndarray
    acc_median: np.ndarray
    acc_max: np.ndarray
    acc_mean: np.ndarray
    confusion: list[np.ndarray] = field(default_factory=list)  # (4, 4) true x predicted at the median draw


def _ranked(core: PoolCore) -> np.ndarray:
    """Class index of each pool entry, ordered by decreasing confidence (ties: lower pool index first),
    plus a sentinel -1 at the end."""
    conf = pss_confidence(core.probabilities)
    order = np.argsort(-conf, kind="stable")
    return np.append(core.probabilities.argmax(axis=1)[order], -1).astype(np.int8)


def _draw_ranks(m: int, n_max: int, draws: int, rng: np.random.Generator) -> np.ndarray:
    """(draws, n_max) pool ranks: a random permutation prefix; beyond m, draws with replacement."""
    perm = np.argsort(rng.random((draws, m)), axis=1)[:, :min(n_max, m)]
    if n_max > m:
        perm = np.concatenate([perm, rng.integers(0, m, size=(draws, n_max - m))], axis=1)
    return perm.astype(np.int32)


def _core_scores(class_by_rank: np.ndarray, ranks: np.ndarray, n_values: list[int], k: int, k_values: list[int],
                 n_for_k: int) -> tuple[np.ndarray, np.ndarray]:
    """Scores of one core for every draw: (len(n_values), D) at k, and (len(k_values), D) at n_for_k."""
    D = ranks.shape[0]
    sentinel = len(class_by_rank) - 1
    best = np.full((D, k), sentinel, np.int32)
    by_n = np.empty((len(n_values), D), np.int8)
    want = {n: i for i, n in enumerate(n_values)}
    for n in range(1, max(n_values) + 1):
        best = np.sort(np.concatenate([best, ranks[:, n - 1:n]], axis=1), axis=1)[:, :k]
        if n in want:
            by_n[want[n]] = class_by_rank[best].max(axis=1)
    cum = np.maximum.accumulate(class_by_rank[np.sort(ranks[:, :n_for_k], axis=1)], axis=1)
    by_k = np.stack([cum[:, min(kk, n_for_k) - 1] for kk in k_values]).astype(np.int8)
    return by_n, by_k


def run_study(cores: list[PoolCore], *, n_values: list[int] | tuple[int, ...] = N_VALUES, k: int = 5,
              k_values: list[int] | tuple[int, ...] = K_VALUES, n_for_k: int = 200, draws: int = DEFAULT_DRAWS,
              seed: int = 0) -> tuple[StudyCurve, StudyCurve]:
    """The N study (k fixed) and the k study (N fixed) over `draws` random draws."""
    n_values, k_values = list(n_values), list(k_values)
    labels = np.array([SCORES4.index(c.label) for c in cores])
    n_max = max(max(n_values), n_for_k)
    correct_n = np.zeros((len(n_values), draws), np.int32)
    correct_k = np.zeros((len(k_values), draws), np.int32)
    seeds = np.random.SeedSequence(seed).spawn(len(cores))
    small = [c for c in cores if len(c.probabilities) < n_max]
    if small:
        log.warning("%d core(s) have pools smaller than N=%d: the rest is drawn with replacement", len(small), n_max)

    def simulate(i: int) -> tuple[np.ndarray, np.ndarray]:
        c = cores[i]
        ranks = _draw_ranks(len(c.probabilities), n_max, draws, np.random.default_rng(seeds[i]))
        return _core_scores(_ranked(c), ranks, n_values, k, k_values, n_for_k)

    # keep every core's per-draw scores when they fit in memory; otherwise re-simulate (same seeds) later
    keep = len(cores) * (len(n_values) + len(k_values)) * draws <= MAX_KEPT_SCORES
    per_core: list[tuple[np.ndarray, np.ndarray]] = []
    for i, y in enumerate(labels):
        by_n, by_k = simulate(i)
        correct_n += by_n == y
        correct_k += by_k == y
        if keep:
            per_core.append((by_n, by_k))
    medians = []
    for correct in (correct_n, correct_k):
        medians.append(np.argsort(correct, axis=1, kind="stable")[:, draws // 2])
    pred_at_median = [np.zeros((len(n_values), len(cores)), np.int8), np.zeros((len(k_values), len(cores)), np.int8)]
    for i in range(len(cores)):
        scores = per_core[i] if keep else simulate(i)
        for j in (0, 1):
            pred_at_median[j][:, i] = scores[j][np.arange(len(medians[j])), medians[j]]
    curves = []
    for name, values, correct, idx, fixed in (("N", n_values, correct_n, 0, {"k": k}),
                                              ("k", k_values, correct_k, 1, {"N": n_for_k})):
        acc = correct / len(cores)
        confusion = []
        for v in range(len(values)):
            m = np.zeros((4, 4), np.int64)
            np.add.at(m, (labels, pred_at_median[idx][v].astype(np.intp)), 1)
            confusion.append(m)
        curves.append(StudyCurve(name, values, fixed, acc.min(1), np.median(acc, axis=1), acc.max(1), acc.mean(1),
                                 confusion))
    return curves[0], curves[1]


def curve_csv(curve: StudyCurve) -> str:
    """The curve as CSV: value, min, median, max, mean accuracy (percent)."""
    rows: list[list[Any]] = [[curve.name, *curve.fixed, "acc_min", "acc_median", "acc_max", "acc_mean"]]
    for i, v in enumerate(curve.values):
        rows.append([v, *curve.fixed.values(), *(f"{100 * a[i]:.3f}" for a in
                                                 (curve.acc_min, curve.acc_median, curve.acc_max, curve.acc_mean))])
    return csv_rows_text(rows)


def confusion_csv(curves: list[StudyCurve]) -> str:
    """Confusion matrices at the median draw, long format: study, N, k, true, predicted, count."""
    rows: list[list[Any]] = [["study", "N", "k", "true", "predicted", "count"]]
    for c in curves:
        for i, v in enumerate(c.values):
            n = v if c.name == "N" else c.fixed["N"]
            k = v if c.name == "k" else c.fixed["k"]
            for t in range(4):
                for p in range(4):
                    rows.append([c.name, n, k, SCORES4[t], SCORES4[p], int(c.confusion[i][t, p])])
    return csv_rows_text(rows)


def write_study(out_dir: str | Path, cores: list[PoolCore], *, draws: int = DEFAULT_DRAWS, seed: int = 0,
                n_values: list[int] | tuple[int, ...] = N_VALUES,
                k_values: list[int] | tuple[int, ...] = K_VALUES, k: int = 5, n_for_k: int = 200
                ) -> dict[str, Any]:
    """Run the study and write CSVs, PNG plots and summary.json into out_dir; returns the summary."""
    from ..atomic import atomic_write_bytes, atomic_write_text
    from .montecarlo_plot import accuracy_plot_png

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cn, ck = run_study(cores, n_values=n_values, k=k, k_values=k_values, n_for_k=n_for_k, draws=draws, seed=seed)
    atomic_write_text(out / "accuracy_vs_N.csv", curve_csv(cn))
    atomic_write_text(out / "accuracy_vs_k.csv", curve_csv(ck))
    atomic_write_text(out / "confusion_at_median.csv", confusion_csv([cn, ck]))
    for c, fname, title in ((cn, "accuracy_vs_N.png", f"4-way accuracy vs N (k = {k})"),
                            (ck, "accuracy_vs_k.png", f"4-way accuracy vs k (N = {n_for_k})")):
        atomic_write_bytes(out / fname, accuracy_plot_png(c.values, c.acc_min, c.acc_median, c.acc_max, title,
                                                          c.name, log_x=c.name == "k"))
    summary: dict[str, Any] = {"n_cores": len(cores), "draws": draws, "seed": seed,
                               "pool_sizes": sorted({len(c.probabilities) for c in cores}),
                               "labels": {s: sum(c.label == s for c in cores) for s in SCORES4}}
    if 20 in cn.values:
        i = cn.values.index(20)
        summary["N20_k5" if k == 5 else f"N20_k{k}"] = {
            "acc_min": float(cn.acc_min[i]), "acc_median": float(cn.acc_median[i]),
            "acc_max": float(cn.acc_max[i]), "confusion_at_median": cn.confusion[i].tolist()}
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=1) + "\n")
    return summary
